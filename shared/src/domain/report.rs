//! A report a charger sends in parts after a report request (OCPP 2.0.1 GetBaseReport, GetReport
//! answered `Accepted`, then NotifyReport CALLs numbered by `seqNo`, the last with `tbc` false),
//! gathered for the request's result: each part kept once, whatever order they come in, the result
//! itself holding only a summary (`ReportSummary`) so results stay small to list. What one report
//! keeps is bounded, in data and in parts, and for how long (`REPORT_KEPT_DAYS`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The most report data one result keeps, as JSON text (read back a page at a time): what a
/// report costs to write and store is bounded by it (docs/data-model.md, "Report storage"). A part
/// past it is kept without its data, and counted.
pub const MAX_REPORT_BYTES: u64 = 4 * 1024 * 1024;
/// How long a report's parts are kept after they come (on DynamoDB, the table's TTL deletes them);
/// the result keeps its summary as long as the run.
pub const REPORT_KEPT_DAYS: i64 = 30;
/// The most parts one report keeps, with their data or without: a part past it is not kept.
pub const MAX_REPORT_PARTS: u32 = 1_000;
/// The most data one part keeps: a part is one DynamoDB item, at most 400 KB. A charger's part is
/// one WebSocket message (at most 128 KB), so only a store's own limit is at stake.
pub const MAX_PART_BYTES: u64 = 300 * 1024;

/// One NotifyReport part, as its payload (which passed its schema) gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportPart {
    pub request_id: i64,
    pub seq_no: u32,
    /// "To be continued": more parts follow.
    pub tbc: bool,
    /// Its `reportData` entries (none when the charger sent none).
    pub data: Vec<Value>,
}

impl ReportPart {
    pub fn from_payload(payload: &Value) -> Option<ReportPart> {
        Some(ReportPart {
            request_id: payload.get("requestId")?.as_i64()?,
            seq_no: u32::try_from(payload.get("seqNo")?.as_u64()?).ok()?,
            tbc: payload.get("tbc").and_then(Value::as_bool).unwrap_or(false),
            data: payload.get("reportData").and_then(Value::as_array).cloned().unwrap_or_default(),
        })
    }

    /// Its data as stored: JSON text.
    pub fn data_text(&self) -> String {
        serde_json::to_string(&self.data).unwrap_or_else(|_| "[]".to_owned())
    }
}

/// A part as kept, read back in `seqNo` order: its data, or `None` when it was kept without it.
pub type KeptPart = Option<Vec<Value>>;

/// What a result shows of its report, kept on the result beside its answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSummary {
    pub request_id: i64,
    /// Parts kept, with their data or without.
    pub parts: u32,
    /// Of those, the ones kept without their data.
    pub dropped: u32,
    /// The `seqNo` of the part that said no more follow.
    pub last: Option<u32>,
    /// The data kept, as JSON text.
    pub bytes: u64,
}

/// How a part is kept, given the report so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    WithData,
    WithoutData,
    Refused,
}

/// A report's first parts whose summary its result shows as they come (`ReportSummary::shown_on_result`).
pub const SHOWN_FIRST_PARTS: u32 = 3;

impl ReportSummary {
    /// Whether the result item shows this summary, a copy of the report's own: while the report is
    /// in its first parts (so a result shows it has a report) and once it is complete, not at every
    /// part between. A results partition is shared by up to 5,000 results: written at every part, a
    /// report of 20 parts from each would take that partition's throughput for minutes
    /// (docs/data-model.md, "What AWS enforces": report parts). The report route reads the report's
    /// own summary, as it stands.
    pub fn shown_on_result(&self) -> bool {
        self.parts <= SHOWN_FIRST_PARTS || self.complete()
    }

    /// Whether every part up to the last came (parts are kept once each, by `seqNo`).
    pub fn complete(&self) -> bool {
        self.last.is_some_and(|last| self.parts > last)
    }

    /// How a part of `bytes` of data is kept: with it while the report has room, without it after.
    pub fn admit(&self, bytes: u64) -> Admission {
        if self.parts >= MAX_REPORT_PARTS {
            Admission::Refused
        } else if bytes <= MAX_PART_BYTES && self.bytes + bytes <= MAX_REPORT_BYTES {
            Admission::WithData
        } else {
            Admission::WithoutData
        }
    }

    /// Counts `part`, admitted as `admission` (not `Refused`).
    pub fn count(&mut self, part: &ReportPart, bytes: u64, admission: Admission) {
        self.request_id = part.request_id;
        self.parts += 1;
        match admission {
            Admission::WithData => self.bytes += bytes,
            _ => self.dropped += 1,
        }
        if !part.tbc {
            self.last = Some(part.seq_no);
        }
    }

    /// What a result shows: the report's state, its size, and where its data is read (`position`:
    /// the result's position, in `GET …/bulk/{run}/reports/{position}`).
    pub fn view(&self, position: u64) -> Value {
        let mut view = self.state(position);
        view["bytes"] = self.bytes.into();
        view
    }

    /// The report whole: its state, and every kept part's data in `seqNo` order.
    pub fn with_data(&self, position: u64, parts: &[KeptPart]) -> Value {
        let mut view = self.state(position);
        view["data"] = Value::Array(parts.iter().flatten().flatten().cloned().collect());
        view
    }

    fn state(&self, position: u64) -> Value {
        let mut state = json!({
            "request_id": self.request_id, "parts": self.parts, "complete": self.complete(), "position": position,
        });
        if self.dropped > 0 {
            state["dropped_parts"] = self.dropped.into();
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(seq_no: u32, tbc: bool) -> ReportPart {
        ReportPart { request_id: 7, seq_no, tbc, data: vec![json!({"component": {"name": seq_no.to_string()}})] }
    }

    #[test]
    fn a_report_is_complete_once_every_part_to_the_last_came() {
        let mut summary = ReportSummary::default();
        summary.count(&part(1, false), 10, Admission::WithData);
        assert!(!summary.complete());
        summary.count(&part(0, true), 10, Admission::WithData);
        assert!(summary.complete());
        assert_eq!(summary.view(4)["position"], 4);
        let whole = summary.with_data(4, &[Some(part(0, true).data), None]);
        assert_eq!(whole["data"], json!([{"component": {"name": "0"}}]));
        assert_eq!((whole["position"].clone(), whole.get("bytes")), (json!(4), None));
    }

    #[test]
    fn room_and_parts_are_bounded() {
        let mut summary = ReportSummary { bytes: MAX_REPORT_BYTES - 10, ..ReportSummary::default() };
        assert_eq!(summary.admit(10), Admission::WithData);
        assert_eq!(summary.admit(11), Admission::WithoutData);
        assert_eq!(ReportSummary::default().admit(MAX_PART_BYTES + 1), Admission::WithoutData);
        summary.count(&part(0, true), 11, Admission::WithoutData);
        assert_eq!(summary.view(0)["dropped_parts"], 1);
        summary.parts = MAX_REPORT_PARTS;
        assert_eq!(summary.admit(0), Admission::Refused);
    }

    #[test]
    fn a_payload_gives_its_part() {
        let payload = json!({"requestId": 3, "generatedAt": "2026-12-03T10:00:00Z", "seqNo": 2, "tbc": true,
            "reportData": [{"component": {"name": "EVSE"}}]});
        let part = ReportPart::from_payload(&payload).unwrap();
        assert_eq!((part.request_id, part.seq_no, part.tbc, part.data.len()), (3, 2, true, 1));
    }
}
