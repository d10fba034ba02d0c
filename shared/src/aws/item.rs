//! Reading and writing DynamoDB items: small typed accessors, so a missing or mistyped attribute
//! is an error value naming the attribute, never a panic.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::Error;

use super::errors::{applied, sdk_error};

pub type Item = HashMap<String, AttributeValue>;

/// A string attribute (`S`).
pub fn string(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute (`N`).
pub fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn missing(name: &str) -> Error {
    Error::internal("dynamodb", format!("item attribute {name} is missing or of the wrong type"))
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, Error> {
    opt_s(item, name).ok_or_else(|| missing(name))
}

pub fn opt_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, Error> {
    opt_n(item, name).ok_or_else(|| missing(name))
}

pub fn opt_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|text| text.parse().ok())
}

pub fn get_list_s(item: &Item, name: &str) -> Vec<String> {
    item.get(name)
        .and_then(|v| v.as_l().ok())
        .map(|values| values.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
        .unwrap_or_default()
}

pub fn parse_time(item: &Item, name: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, Error> {
    opt_s(item, name).map(|text| text.parse().map_err(|_| missing(name))).transpose()
}

pub fn parse_json(item: &Item, name: &str) -> Result<Option<serde_json::Value>, Error> {
    opt_s(item, name).map(|text| serde_json::from_str(text).map_err(|_| missing(name))).transpose()
}

/// GetItem: the item under `key`, if any (`consistent`: a strongly consistent read).
pub async fn get_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: Item,
    consistent: bool,
) -> Result<Option<Item>, Error> {
    let output = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(consistent)
        .send()
        .await
        .map_err(|e| sdk_error("dynamodb", e))?;
    Ok(output.item)
}

/// The items of `query`, page after page from each page's LastEvaluatedKey (a page stops at 1 MB,
/// or at the query's Limit), until at least `enough` are found or the pages end.
pub async fn query_pages(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    enough: usize,
) -> Result<Vec<Item>, Error> {
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let output = query.clone().set_exclusive_start_key(start).send().await.map_err(|e| sdk_error("dynamodb", e))?;
        found.extend(output.items.unwrap_or_default());
        start = output.last_evaluated_key;
        if found.len() >= enough || start.is_none() {
            return Ok(found);
        }
    }
}

/// GetItem of one attribute only, eventually consistent: the cheapest read there is.
pub async fn get_item_projected(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: Item,
    attribute: &str,
) -> Result<Option<Item>, Error> {
    let output = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .projection_expression("#attribute")
        .expression_attribute_names("#attribute", attribute)
        .send()
        .await
        .map_err(|e| sdk_error("dynamodb", e))?;
    Ok(output.item)
}

/// PutItem of `item` only where no item has its key: `true` when it was put, `false` when one was
/// there already (a first write's kept, a retry's refused).
pub async fn put_new(client: &aws_sdk_dynamodb::Client, table: &str, item: Item) -> Result<bool, Error> {
    let put = client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    applied(put)
}
