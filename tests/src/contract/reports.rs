//! OCPP 2.0.1 reports: which result a charger's report is for, and its parts kept for that result
//! once each, in any order, within what a report and one item may hold.

use serde_json::{json, Value};
use shared::domain::report::{ReportPart, MAX_PART_BYTES};
use shared::messages::ReportExpected;
use uuid::Uuid;

use super::{new_run, Ports};

fn part(request_id: i64, seq_no: u32, tbc: bool, data: Vec<Value>) -> ReportPart {
    ReportPart { request_id, seq_no, tbc, data }
}

pub async fn report_parts_are_kept_once_within_the_item_limit(ports: &Ports) {
    let (run, results) = new_run(ports, "reporter", 2, 0).await;
    let identity = results[0].charger.as_ref().expect("charger").identity.clone();
    let now = chrono::Utc::now();

    // Which result a report goes to, by the charger and the request's id: two requests live side by
    // side, and a newer request with the same id replaces the older.
    assert_eq!(ports.inflight.report_expected(&identity, 5).await.unwrap(), None);
    let older = ReportExpected { run: Uuid::new_v4(), seq: 9, request_id: 5 };
    ports.inflight.expect_report(&identity, &older, now).await.unwrap();
    let expected = ReportExpected { run: run.id, seq: 0, request_id: 5 };
    let other = ReportExpected { run: run.id, seq: 1, request_id: 6 };
    ports.inflight.expect_report(&identity, &expected, now).await.unwrap();
    ports.inflight.expect_report(&identity, &other, now).await.unwrap();
    assert_eq!(ports.inflight.report_expected(&identity, 5).await.unwrap(), Some(expected));
    assert_eq!(ports.inflight.report_expected(&identity, 6).await.unwrap(), Some(other));
    assert_eq!(ports.inflight.report_expected("someone else", 5).await.unwrap(), None);

    // Parts out of order and twice: each kept once, read back in seqNo order; the result shows a summary.
    let entry = |name: &str| json!({"component": {"name": name}, "variable": {"name": "Available"}});
    assert!(ports.runs.add_report_part(run.id, 0, &part(5, 1, false, vec![entry("b")])).await.unwrap());
    let summary = ports.runs.result(run.id, 0).await.unwrap().and_then(|r| r.report).expect("a summary");
    assert_eq!((summary.parts, summary.complete()), (1, false));
    assert!(ports.runs.add_report_part(run.id, 0, &part(5, 0, true, vec![entry("a")])).await.unwrap());
    assert!(!ports.runs.add_report_part(run.id, 0, &part(5, 0, true, vec![entry("again")])).await.unwrap());
    let (summary, parts) = ports.runs.report(run.id, 0).await.unwrap().expect("a report");
    assert_eq!((summary.request_id, summary.parts, summary.dropped, summary.complete()), (5, 2, 0, true));
    assert_eq!(summary.with_data(0, &parts)["data"], json!([entry("a"), entry("b")]));
    assert_eq!(ports.runs.report(run.id, 1).await.unwrap(), None, "the other result has none yet");

    // A part too big for one item is kept without its data, and counted.
    let blob = vec![json!({"blob": "x".repeat(usize::try_from(MAX_PART_BYTES).unwrap())})];
    assert!(ports.runs.add_report_part(run.id, 1, &part(6, 0, false, blob)).await.unwrap());
    let (summary, parts) = ports.runs.report(run.id, 1).await.unwrap().expect("a report");
    assert_eq!((summary.parts, summary.dropped, summary.bytes, summary.complete()), (1, 1, 0, true));
    assert_eq!(parts, [None]);

    // A result shows its report's summary as the first parts come and once it is complete, not at
    // every part between: its results partition is shared (the report's own summary is exact).
    let (run, _) = new_run(ports, "reporter", 1, 0).await;
    for seq_no in 1..=5 {
        let tbc = seq_no < 5;
        assert!(ports.runs.add_report_part(run.id, 0, &part(7, seq_no, tbc, vec![entry("x")])).await.unwrap());
    }
    let shown = ports.runs.result(run.id, 0).await.unwrap().and_then(|r| r.report).expect("a summary");
    assert_eq!((shown.parts, shown.complete()), (shared::domain::report::SHOWN_FIRST_PARTS, false));
    let (own, _) = ports.runs.report(run.id, 0).await.unwrap().expect("a report");
    assert_eq!((own.parts, own.complete()), (5, false), "the report's own summary counts every part");
    assert!(ports.runs.add_report_part(run.id, 0, &part(7, 0, true, vec![entry("x")])).await.unwrap());
    let shown = ports.runs.result(run.id, 0).await.unwrap().and_then(|r| r.report).expect("a summary");
    assert_eq!((shown.parts, shown.complete(), shown.bytes), (6, true, own.bytes / 5 * 6), "complete: shown whole");

    // No result, no part.
    assert!(!ports.runs.add_report_part(run.id, 7, &part(5, 0, false, vec![])).await.unwrap());
    assert!(!ports.runs.add_report_part(Uuid::new_v4(), 0, &part(5, 0, false, vec![])).await.unwrap());
}
