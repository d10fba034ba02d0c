//! The JSON shapes of `docs/openapi.yaml`: Run, Result, and Laravel's cursor paginator.

use serde_json::{json, Map, Value};
use shared::clock::rfc3339;
use shared::domain::{ResultRecord, Run};

/// Results embedded in a run; the results endpoint pages the rest.
pub const EMBEDDED_RESULTS: usize = 100;

pub fn run(run: &Run, results: Option<&[ResultRecord]>) -> Value {
    let mut view = shared::views::run(run);
    if let (Some(results), Value::Object(map)) = (results, &mut view) {
        map.insert("results".to_owned(), results.iter().map(result).collect());
    }
    view
}

pub fn result(result: &ResultRecord) -> Value {
    let mut view = Map::new();
    view.insert("charger_uuid".into(), json!(result.charger_uuid));
    view.insert("status".into(), json!(result.status.as_str()));
    view.insert("message".into(), json!(result.message));
    view.insert("executed_at".into(), json!(result.executed_at.map(rfc3339)));
    view.insert("response".into(), result.response.clone().unwrap_or(Value::Null));
    if let Some(charger) = &result.charger {
        view.insert(
            "charger".into(),
            json!({"uuid": charger.uuid, "identity": charger.identity, "reference": charger.reference}),
        );
    }
    Value::Object(view)
}

/// Laravel's cursor paginator. `query` holds the other query parameters to keep in links.
pub struct Page {
    pub data: Vec<Value>,
    pub path: String,
    pub per_page: usize,
    pub next_cursor: Option<String>,
    pub prev_cursor: Option<String>,
    pub query: Vec<(String, String)>,
}

impl Page {
    pub fn to_json(&self) -> Value {
        let link = |cursor: &Option<String>| {
            cursor.as_ref().map(|c| {
                let mut query = form_urlencoded::Serializer::new(String::new());
                for (k, v) in &self.query {
                    query.append_pair(k, v);
                }
                query.append_pair("per_page", &self.per_page.to_string());
                query.append_pair("cursor", c);
                format!("{}?{}", self.path, query.finish())
            })
        };
        json!({
            "data": self.data,
            "links": {"first": null, "last": null, "prev": link(&self.prev_cursor), "next": link(&self.next_cursor)},
            "meta": {"path": self.path, "per_page": self.per_page,
                     "next_cursor": self.next_cursor, "prev_cursor": self.prev_cursor},
        })
    }
}
