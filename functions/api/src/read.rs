//! Reading runs: one run with its first results, its results paged, the caller's runs paged.
//! A run belongs to its creator: for anyone else it does not exist (404).

use std::collections::HashMap;

use chrono::DateTime;
use serde_json::Value;
use shared::domain::{Cursor, Identity, ResultStatus, Run};
use shared::ports::RunKey;
use shared::{Error, Result};
use uuid::Uuid;

use crate::request::json_bytes;
use crate::views::{self, Page, EMBEDDED_RESULTS};
use crate::ApiContext;

pub const DEFAULT_PER_PAGE: usize = 25;
pub const MAX_PER_PAGE: usize = 1000;

pub async fn owned_run(ctx: &ApiContext, caller: &Identity, id: &str) -> Result<Run> {
    let id = Uuid::try_parse(id).map_err(|_| Error::NotFound)?;
    owned(caller, ctx.runs.run(id).await?)
}

/// `owned_run` for what needs only what a run was created as (`RunStore::definition`: META alone,
/// not its counters summed).
pub async fn owned_definition(ctx: &ApiContext, caller: &Identity, id: &str) -> Result<Run> {
    let id = Uuid::try_parse(id).map_err(|_| Error::NotFound)?;
    owned(caller, ctx.runs.definition(id).await?)
}

fn owned(caller: &Identity, run: Option<Run>) -> Result<Run> {
    run.filter(|run| run.owner == caller.user).ok_or(Error::NotFound)
}

pub async fn show(ctx: &ApiContext, run: &Run, embedded: usize) -> Result<Value> {
    let results = match embedded {
        0 => Vec::new(),
        n => ctx.runs.results(run.id, None, None, n).await?,
    };
    Ok(views::run(run, Some(&results)))
}

/// `results` of a run's query: how many of its first results its view embeds, 0 to
/// `EMBEDDED_RESULTS` (the default). A client that polls the figures asks for none, and no result
/// is read.
pub fn embedded(query: &HashMap<String, String>) -> Result<usize> {
    bounded(query, "results", "results", 0..=EMBEDDED_RESULTS, EMBEDDED_RESULTS)
}

/// The query's `field`: an integer within `range`, `default` when absent; anything else a 422
/// naming it as `name` says it.
fn bounded(
    query: &HashMap<String, String>,
    field: &str,
    name: &str,
    range: std::ops::RangeInclusive<usize>,
    default: usize,
) -> Result<usize> {
    let Some(text) = query.get(field) else {
        return Ok(default);
    };
    match text.parse::<usize>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(Error::invalid(
            field,
            format!("The {name} field must be an integer between {} and {}.", range.start(), range.end()),
        )),
    }
}

/// The report gathered for the result at `position` (its place in the run, which the result's
/// `report.position` names), a page at a time: its state, and as many of its data entries (every
/// kept part's, in `seqNo` order) as fit one Lambda response as it carries them, escaped (4 MiB of
/// report JSON may take twice that there); `next_cursor` goes on from the last. A position the run
/// does not have, or a result without a report, is a 404.
pub async fn report(
    ctx: &ApiContext,
    run: &Run,
    position: &str,
    query: &HashMap<String, String>,
    path: String,
) -> Result<Value> {
    let seq = position.parse::<u64>().ok().filter(|seq| *seq < run.total_count).ok_or(Error::NotFound)?;
    let scope = format!("report:{}:{seq}", run.id);
    let (summary, parts) = ctx.runs.report(run.id, seq).await?.ok_or(Error::NotFound)?;
    // A cursor names an entry of the report as it stood (`{entry}:{parts kept}`): a part that came
    // since may sit before that entry, so a cursor of a report that grew is refused, not followed
    // past entries it would skip or repeat.
    let after = match query.get("cursor") {
        None => 0,
        Some(text) => {
            let cursor = Cursor::decode(text, &scope, &ctx.cursor_key)?;
            let (entry, kept) = cursor.after.split_once(':').unwrap_or_default();
            let invalid = || Error::invalid("cursor", "The cursor is invalid.");
            if kept.parse::<u32>().map_err(|_| invalid())? != summary.parts {
                return Err(Error::invalid(
                    "cursor",
                    "The report has grown since this cursor: read it again from its first page.",
                ));
            }
            entry.parse::<usize>().map_err(|_| invalid())?
        }
    };
    let mut view = summary.with_data(seq, &parts);
    let mut entries: Vec<Value> = match view["data"].take() {
        Value::Array(entries) => entries.into_iter().skip(after).collect(),
        _ => Vec::new(),
    };
    let (page, cut) = views::fit_page(&mut entries, json_bytes(&view, true), Value::clone);
    let next = after + page.len();
    let next_cursor = cut.then(|| Cursor { scope, after: format!("{next}:{}", summary.parts) }.encode(&ctx.cursor_key));
    view["data"] = Value::Array(page);
    let next_link = next_cursor.as_ref().map(|cursor| views::page_link(&path, &[], cursor));
    Ok(serde_json::json!({
        "data": view,
        "links": {"next": next_link},
        "meta": {"path": path, "next_cursor": next_cursor},
    }))
}

/// `per_page` of a listing's query: 1 to `MAX_PER_PAGE`, `DEFAULT_PER_PAGE` when absent.
pub fn per_page(query: &HashMap<String, String>) -> Result<usize> {
    bounded(query, "per_page", "per page", 1..=MAX_PER_PAGE, DEFAULT_PER_PAGE)
}

pub async fn results_page(ctx: &ApiContext, run: &Run, query: &HashMap<String, String>, path: String) -> Result<Value> {
    let per_page = per_page(query)?;
    let status = match query.get("status") {
        None => None,
        Some(text) => Some(ResultStatus::parse(text).ok_or_else(|| {
            Error::invalid(
                "status",
                "The selected status is invalid: use pending, sent, offline, error or skipped_forbidden.",
            )
        })?),
    };
    let scope = format!("results:{}:{}", run.id, status.map_or("all", ResultStatus::as_str));
    let after = match query.get("cursor") {
        None => None,
        Some(text) => {
            let cursor = Cursor::decode(text, &scope, &ctx.cursor_key)?;
            Some(cursor.after.parse::<u64>().map_err(|_| Error::invalid("cursor", "The cursor is invalid."))?)
        }
    };
    let mut results = ctx.runs.results(run.id, status, after, per_page + 1).await?;
    let more = results.len() > per_page;
    results.truncate(per_page);
    // A page of answers that would not fit in a Lambda response ends early: at most
    // `MAX_RESPONSE_BYTES` as the response carries it (answers may hold up to 128 KB each).
    let (data, cut) = views::fit_page(&mut results, 0, views::result);
    let more = more || cut;
    let next_cursor = match (more, results.last()) {
        (true, Some(last)) => Some(Cursor { scope, after: last.seq.to_string() }.encode(&ctx.cursor_key)),
        _ => None,
    };
    let mut kept = Vec::new();
    if let Some(status) = status {
        kept.push(("status".to_owned(), status.as_str().to_owned()));
    }
    Ok(Page { data, path, per_page, next_cursor, prev_cursor: None, query: kept }.to_json())
}

pub async fn list(ctx: &ApiContext, caller: &Identity, query: &HashMap<String, String>, path: String) -> Result<Value> {
    let per_page = per_page(query)?;
    let scope = format!("runs:{}", caller.user);
    let before = match query.get("cursor") {
        None => None,
        Some(text) => Some(run_key(&Cursor::decode(text, &scope, &ctx.cursor_key)?.after)?),
    };
    let mut runs = ctx.runs.runs_of(&caller.user, before.as_ref(), per_page + 1).await?;
    let more = runs.len() > per_page;
    runs.truncate(per_page);
    // A run carries its command's data (up to 240 KB): a page ends before a Lambda response would.
    let (data, cut) = views::fit_page(&mut runs, 0, |run| views::run(run, None));
    let more = more || cut;
    let next_cursor = match (more, runs.last()) {
        (true, Some(last)) => Some(
            Cursor { scope, after: format!("{}:{}", last.created_at.timestamp_micros(), last.id) }
                .encode(&ctx.cursor_key),
        ),
        _ => None,
    };
    Ok(Page { data, path, per_page, next_cursor, prev_cursor: None, query: Vec::new() }.to_json())
}

fn run_key(text: &str) -> Result<RunKey> {
    let invalid = || Error::invalid("cursor", "The cursor is invalid.");
    let (micros, id) = text.split_once(':').ok_or_else(invalid)?;
    let created_at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| invalid())?).ok_or_else(invalid)?;
    Ok(RunKey { created_at, id: Uuid::try_parse(id).map_err(|_| invalid())? })
}
