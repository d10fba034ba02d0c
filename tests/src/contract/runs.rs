//! Runs and results: creation, reads, conditional CALLs and ends, completion.

use chrono::{Duration, Utc};
use futures::StreamExt;
use serde_json::json;
use shared::domain::{ChargerRef, Counters, Expect, Outcome, ResultRecord, ResultStatus, Run};
use shared::ports::RunKey;
use uuid::Uuid;

use super::{called, new_run, Ports};

pub async fn runs_and_results_round_trip(ports: &Ports) {
    let (run, results) = new_run(ports, "alice", 7, 3).await;
    let stored = ports.runs.run(run.id).await.unwrap().expect("run");
    assert_eq!(stored.id, run.id);
    assert_eq!(stored.total_count, 10);
    assert_eq!(stored.counters.skipped, 3);
    assert_eq!(stored.data, run.data);
    assert!(ports.runs.run(Uuid::new_v4()).await.unwrap().is_none());

    let all = ports.runs.results(run.id, None, None, 100).await.unwrap();
    assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    assert_eq!(all[0].charger, results[0].charger);
    let page = ports.runs.results(run.id, None, Some(3), 4).await.unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![4, 5, 6, 7]);
    let skipped = ports.runs.results(run.id, Some(ResultStatus::SkippedForbidden), None, 100).await.unwrap();
    assert_eq!(skipped.len(), 3);
    let pending_after = ports.runs.results(run.id, Some(ResultStatus::Pending), Some(5), 100).await.unwrap();
    assert_eq!(pending_after.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![6]);
    let one = ports.runs.result(run.id, results[2].seq).await.unwrap().expect("result");
    assert_eq!(one, results[2]);
    assert!(ports.runs.result(run.id, 999).await.unwrap().is_none());
}

pub async fn mark_called_is_conditional(ports: &Ports) {
    let (run, results) = new_run(ports, "alice", 1, 0).await;
    let key = results[0].seq;
    let now = Utc::now();
    assert!(ports.runs.mark_called(run.id, key, &called("call-1"), now).await.unwrap());
    assert!(
        !ports.runs.mark_called(run.id, key, &called("call-2"), now).await.unwrap(),
        "a second CALL for one result"
    );
    let stored = ports.runs.result(run.id, key).await.unwrap().unwrap();
    assert_eq!(stored.call_id.as_deref(), Some("call-1"));
    assert!(stored.executed_at.is_some());
    assert!(!ports.runs.mark_called(Uuid::new_v4(), key, &called("call-3"), now).await.unwrap());
}

pub async fn finish_counts_once_and_completes(ports: &Ports) {
    let (run, results) = new_run(ports, "alice", 3, 1).await;
    let [a, b, c] = [0u64, 1, 2];
    let now = Utc::now();
    // b is called; an offline verdict that expects no CALL cannot touch it.
    assert!(ports.runs.mark_called(run.id, b, &called("call-b"), now).await.unwrap());
    assert!(!ports
        .runs
        .finish(run.id, b, &Expect::Uncalled, Outcome::offline("no live connection", now))
        .await
        .unwrap());
    // The wrong CALL id changes nothing; the right one does, once.
    let sent = Outcome::sent(serde_json::json!({"status": "Accepted"}));
    assert!(!ports.runs.finish(run.id, b, &Expect::Call("call-x".into()), sent.clone()).await.unwrap());
    assert!(ports.runs.finish(run.id, b, &Expect::Call("call-b".into()), sent.clone()).await.unwrap());
    assert!(
        !ports.runs.finish(run.id, b, &Expect::Call("call-b".into()), sent.clone()).await.unwrap(),
        "a duplicate answer"
    );
    assert!(
        !ports.runs.finish(run.id, b, &Expect::Call("call-b".into()), Outcome::error("timeout")).await.unwrap(),
        "a late timeout"
    );
    let stored = ports.runs.result(run.id, b).await.unwrap().unwrap();
    assert_eq!(stored.status, ResultStatus::Sent);
    assert_eq!(stored.message.as_deref(), Some("Accepted"));
    assert_eq!(stored.response, Some(serde_json::json!({"status": "Accepted"})));

    assert!(ports
        .runs
        .finish(run.id, a, &Expect::Uncalled, Outcome::offline("no live connection", now))
        .await
        .unwrap());
    let mid = ports.runs.run(run.id).await.unwrap().unwrap();
    assert_eq!((mid.counters.sent, mid.counters.offline, mid.counters.skipped), (1, 1, 1));
    assert!(mid.completed_at.is_none());
    // The skipped result never leaves its state.
    assert!(!ports.runs.finish(run.id, results[3].seq, &Expect::Uncalled, Outcome::error("x")).await.unwrap());

    assert!(ports.runs.finish(run.id, c, &Expect::Uncalled, Outcome::error("dispatch failed")).await.unwrap());
    let done = ports.runs.run(run.id).await.unwrap().unwrap();
    assert_eq!(done.counters, Counters { sent: 1, offline: 1, error: 1, skipped: 1, ..Counters::default() });
    assert!(done.completed_at.is_some(), "complete when every result is terminal");
    let stored = ports.runs.result(run.id, a).await.unwrap().unwrap();
    assert!(stored.executed_at.is_some(), "offline records when it was decided");
}

pub async fn racing_finishes_make_one_transition(ports: &Ports) {
    let (run, results) = new_run(ports, "alice", 1, 0).await;
    let key = results[0].seq;
    assert!(ports.runs.mark_called(run.id, key, &called("call-r"), Utc::now()).await.unwrap());
    let attempts = (0..16).map(|i| {
        let runs = ports.runs.clone();
        tokio::spawn(async move {
            let outcome = if i % 2 == 0 {
                Outcome::sent(serde_json::json!({"status": "Accepted"}))
            } else {
                Outcome::error("timeout")
            };
            runs.finish(run.id, key, &Expect::Call("call-r".into()), outcome).await.unwrap()
        })
    });
    let won = futures::future::join_all(attempts).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(won, 1);
    let done = ports.runs.run(run.id).await.unwrap().unwrap();
    assert_eq!(done.counters.terminal(), 1);
    assert!(done.completed_at.is_some());
}

pub async fn racing_dispatches_mark_one_call(ports: &Ports) {
    let (run, results) = new_run(ports, "alice", 1, 0).await;
    let key = results[0].seq;
    let attempts = (0..16).map(|i| {
        let runs = ports.runs.clone();
        tokio::spawn(
            async move { runs.mark_called(run.id, key, &called(&format!("call-{i}")), Utc::now()).await.unwrap() },
        )
    });
    let won = futures::future::join_all(attempts).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(won, 1, "exactly one worker may post the CALL");
}

pub async fn big_run_completes_exactly(ports: &Ports) {
    let (run, results) = new_run(ports, "alice", 2000, 50).await;
    let now = Utc::now();
    let finishes = results.iter().filter(|r| r.status == ResultStatus::Pending).map(|r| {
        let runs = ports.runs.clone();
        let key = r.seq;
        let seq = r.seq;
        async move {
            let outcome = match seq % 3 {
                0 => Outcome::sent(serde_json::json!({"status": "Accepted"})),
                1 => Outcome::offline("no live connection", now),
                _ => Outcome::error("InternalError: x"),
            };
            // Every transition is attempted twice, as a duplicated delivery would.
            let first = runs.finish(run.id, key, &Expect::Uncalled, outcome.clone()).await.unwrap();
            let second = runs.finish(run.id, key, &Expect::Uncalled, outcome).await.unwrap();
            assert!(first && !second);
        }
    });
    futures::stream::iter(finishes).buffer_unordered(64).collect::<Vec<()>>().await;
    let done = ports.runs.run(run.id).await.unwrap().unwrap();
    assert_eq!(done.counters.sent + done.counters.offline + done.counters.error + done.counters.skipped, 2050);
    assert_eq!(done.counters, Counters { sent: 667, offline: 667, error: 666, skipped: 50, ..Counters::default() });
    assert!(done.completed_at.is_some());
    let mut after = None;
    let mut seen = 0;
    loop {
        let page = ports.runs.results(run.id, None, after, 1000).await.unwrap();
        seen += page.len();
        assert!(page.iter().all(|r| r.status.is_terminal()));
        match page.last() {
            Some(last) if page.len() == 1000 => after = Some(last.seq),
            _ => break,
        }
    }
    assert_eq!(seen, 2050);
}

pub async fn runs_listed_newest_first(ports: &Ports) {
    let owner = format!("lister-{}", Uuid::new_v4().simple());
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(new_run(ports, &owner, 1, 0).await.0.id);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    ids.reverse();
    let first = ports.runs.runs_of(&owner, None, 3).await.unwrap();
    assert_eq!(first.iter().map(|r| r.id).collect::<Vec<_>>(), ids[..3]);
    let last = first.last().unwrap();
    let key = RunKey { created_at: last.created_at, id: last.id };
    let rest = ports.runs.runs_of(&owner, Some(&key), 3).await.unwrap();
    assert_eq!(rest.iter().map(|r| r.id).collect::<Vec<_>>(), ids[3..]);
    assert!(ports.runs.runs_of("nobody-at-all", None, 3).await.unwrap().is_empty());
}

pub async fn cancelling_is_recorded_once(ports: &Ports) {
    let (run, _) = new_run(ports, "alice", 2, 0).await;
    let at = Utc::now();
    assert!(ports.runs.cancel(run.id, at, None).await.unwrap());
    assert!(!ports.runs.cancel(run.id, at + Duration::seconds(5), None).await.unwrap(), "once");
    let stored = ports.runs.run(run.id).await.unwrap().unwrap();
    assert_eq!(stored.cancelled_at.map(|t| t.timestamp_millis()), Some(at.timestamp_millis()));
    assert!(stored.completed_at.is_none(), "cancelling ends no result by itself");
    let read = ports.runs.cancelled_at(run.id).await.unwrap();
    assert_eq!(read.map(|t| t.timestamp_millis()), Some(at.timestamp_millis()));
    let (other, _) = new_run(ports, "alice", 1, 0).await;
    assert_eq!(ports.runs.cancelled_at(other.id).await.unwrap(), None);
    assert!(!ports.runs.cancel(Uuid::new_v4(), at, None).await.unwrap(), "an unknown run");
}

/// A chunk of a run created in chunks is written once: of two deliveries racing, one writes (the
/// other is told it was written, or to come back while it is being written), and a repeat after
/// its results moved on writes nothing, so a dispatched result never goes back to `pending`; its
/// skips count once, and the run completes when the rest end.
pub async fn a_chunk_is_written_once(ports: &Ports) {
    let mut run = Run::new(Uuid::new_v4(), "alice".into(), "Reset".into(), json!({"type": "Soft"}), 4, Utc::now(), 30);
    run.counters = Counters::default();
    ports.runs.create_run_shell(&run).await.expect("the run's shell");
    let charger =
        || ChargerRef { uuid: Uuid::new_v4(), identity: format!("X{}", Uuid::new_v4().simple()), reference: None };
    let chunk: Vec<ResultRecord> = vec![
        ResultRecord::pending(0, charger()),
        ResultRecord::pending(1, charger()),
        ResultRecord::skipped(2, "not-a-uuid".into()),
        ResultRecord::skipped(3, "not-a-uuid-either".into()),
    ];
    let racing = (0..2).map(|_| {
        let (runs, chunk) = (ports.runs.clone(), chunk.clone());
        tokio::spawn(async move { runs.write_results(run.id, 0, chunk).await })
    });
    let outcomes: Vec<_> = futures::future::join_all(racing).await.into_iter().map(|r| r.expect("joined")).collect();
    assert_eq!(outcomes.iter().filter(|o| matches!(o, Ok(true))).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| o.as_ref().map_or_else(|e| e.is_retryable(), |_| true)), "{outcomes:?}");

    assert!(ports.runs.mark_called(run.id, 0, &called("call-0"), Utc::now()).await.unwrap());
    assert!(!ports.runs.write_results(run.id, 0, chunk.clone()).await.unwrap(), "written before: nothing again");
    let first = ports.runs.result(run.id, 0).await.unwrap().expect("result 0");
    assert_eq!(first.call_id.as_deref(), Some("call-0"), "a dispatched result stays dispatched");

    let counted = ports.runs.run(run.id).await.unwrap().unwrap();
    assert_eq!(counted.counters.skipped, 2, "the chunk's skips, once");
    assert!(counted.completed_at.is_none());
    for seq in [0, 1] {
        let expect = if seq == 0 { Expect::Call("call-0".into()) } else { Expect::Uncalled };
        assert!(ports.runs.finish(run.id, seq, &expect, Outcome::offline("gone", Utc::now())).await.unwrap());
    }
    let done = ports.runs.run(run.id).await.unwrap().unwrap();
    assert_eq!(done.counters, Counters { sent: 0, offline: 2, error: 0, skipped: 2, ..Counters::default() });
    assert!(done.completed_at.is_some(), "complete once its last result ended");
}

/// An answer of up to 16 KB (a GetConfiguration) reads back whole from every read of its result,
/// and a duplicate answer changes none of it: the AWS store keeps a long answer in an item of its
/// own, written in its result's transaction or not at all.
pub async fn a_long_answer_reads_back_whole(ports: &Ports) {
    let (run, _) = new_run(ports, "alice", 3, 0).await;
    let long = |value: &str| json!({"configurationKey": [{"key": "Sim.Setting", "readonly": false, "value": value.repeat(15_000)}]});
    for seq in [0, 2] {
        assert!(ports.runs.mark_called(run.id, seq, &called(&format!("call-{seq}")), Utc::now()).await.unwrap());
    }
    let answer = long("v");
    let expect = Expect::Call("call-2".into());
    assert!(ports.runs.finish(run.id, 2, &expect, Outcome::sent(answer.clone())).await.unwrap());
    assert!(!ports.runs.finish(run.id, 2, &expect, Outcome::sent(long("w"))).await.unwrap(), "a duplicate answer");
    let short = json!({"configurationKey": []});
    assert!(ports.runs.finish(run.id, 0, &Expect::Call("call-0".into()), Outcome::sent(short.clone())).await.unwrap());

    assert_eq!(ports.runs.result(run.id, 2).await.unwrap().expect("result").response, Some(answer.clone()));
    let page = ports.runs.results(run.id, None, None, 10).await.unwrap();
    let responses: Vec<_> = page.iter().map(|r| r.response.clone()).collect();
    assert_eq!(responses, vec![Some(short), None, Some(answer.clone())]);
    let at = ports.runs.results_at(&[(run.id, 2), (run.id, 1)]).await.unwrap();
    let two = at.iter().find(|(_, r)| r.seq == 2).expect("position 2");
    assert_eq!(two.1.response, Some(answer));
}
