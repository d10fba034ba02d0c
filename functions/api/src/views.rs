//! The JSON shapes of `docs/openapi.yaml`: Run, Result, and Laravel's cursor paginator.

use serde_json::{json, Map, Value};
use shared::clock::rfc3339;
use shared::domain::{ResultRecord, Run};

use crate::request::{json_bytes, MAX_RESPONSE_BYTES};

/// Results embedded in a run; the results endpoint pages the rest.
pub const EMBEDDED_RESULTS: usize = 100;

pub fn run(run: &Run, results: Option<&[ResultRecord]>) -> Value {
    let mut view = shared::views::run(run);
    // The first results, as many as fit a Lambda response beside the run itself: answers may be
    // large (a GetConfiguration's), and the rest are a page away. A listing's runs carry none.
    if let Some(results) = results {
        let room = MAX_RESPONSE_BYTES.saturating_sub(PAGE_ENVELOPE_BYTES).saturating_sub(json_bytes(&view, true));
        if let Value::Object(map) = &mut view {
            map.insert("results".to_owned(), fitting(results.iter().map(result), room).collect());
        }
    }
    view
}

/// What a page holds beside its results (links, meta, cursors), at most.
pub const PAGE_ENVELOPE_BYTES: usize = 16 * 1024;

/// The views of `items` that fit one Lambda response beside a page's envelope and `beside` bytes more
/// (`fitting`); `items` is cut to those it kept, and `true` says some were left for the next page.
pub fn fit_page<T>(items: &mut Vec<T>, beside: usize, view: impl Fn(&T) -> Value) -> (Vec<Value>, bool) {
    let budget = MAX_RESPONSE_BYTES.saturating_sub(PAGE_ENVELOPE_BYTES).saturating_sub(beside);
    let data: Vec<Value> = fitting(items.iter().map(view), budget).collect();
    let cut = data.len() < items.len();
    items.truncate(data.len());
    (data, cut)
}

/// The link to the page at `cursor`: `path` with the `query` pairs and the cursor.
pub fn page_link(path: &str, query: &[(&str, &str)], cursor: &str) -> String {
    let mut pairs = form_urlencoded::Serializer::new(String::new());
    for (k, v) in query {
        pairs.append_pair(k, v);
    }
    pairs.append_pair("cursor", cursor);
    format!("{path}?{}", pairs.finish())
}

/// The leading `views` whose size in a Lambda response (`json_bytes`) stays within `budget`; the
/// first is always taken, so a page is never empty while results remain.
pub fn fitting(views: impl Iterator<Item = Value>, budget: usize) -> impl Iterator<Item = Value> {
    let mut used = 0usize;
    views
        .enumerate()
        .take_while(move |(i, view)| {
            used += json_bytes(view, true) + 1;
            *i == 0 || used <= budget
        })
        .map(|(_, view)| view)
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
    if let Some(report) = &result.report {
        view.insert("report".into(), report.view(result.seq));
    }
    if let Some(follow) = &result.follow_up {
        view.insert("outcome".into(), shared::views::follow_up(follow));
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
        let per_page = self.per_page.to_string();
        let mut query: Vec<(&str, &str)> = self.query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        query.push(("per_page", &per_page));
        let link = |cursor: &Option<String>| cursor.as_ref().map(|c| page_link(&self.path, &query, c));
        json!({
            "data": self.data,
            "links": {"first": null, "last": null, "prev": link(&self.prev_cursor), "next": link(&self.next_cursor)},
            "meta": {"path": self.path, "per_page": self.per_page,
                     "next_cursor": self.next_cursor, "prev_cursor": self.prev_cursor},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_stops_before_the_lambda_response_limit() {
        let answer = serde_json::json!({"status": "Accepted", "blob": "\"".repeat(64 * 1024)});
        let views = || (0..1000).map(|seq| serde_json::json!({"seq": seq, "answer": answer}));
        let each = json_bytes(&views().next().unwrap(), true);
        assert_eq!(each, crate::request::event_bytes(views().next().unwrap().to_string().as_bytes(), true));
        assert!(each > 128 * 1024, "a quote counts twice in the response: {each}");
        let kept = fitting(views(), MAX_RESPONSE_BYTES - PAGE_ENVELOPE_BYTES).count();
        assert_eq!(kept, (MAX_RESPONSE_BYTES - PAGE_ENVELOPE_BYTES) / (each + 1));
        assert!(kept < 1000 && kept > 0);
        // One result larger than the whole budget still makes a page of one.
        assert_eq!(fitting(views(), 10).count(), 1);
        assert_eq!(fitting(std::iter::empty(), 10).count(), 0);
    }
}
