//! Rollouts: a run sent in waves, each opened only when the one before it finished (its results
//! and outcomes ended), its success share held to a threshold, after a soak time; stopped for good
//! when the run's failures cross the abort threshold; paused and resumed; started at a given time;
//! kept to a daily window. The definition (`Rollout`) never changes after creation; where the run
//! stands (`RolloutState`) is kept beside it, each change conditional on its revision.
//!
//! Positions: the rollout order is the run's positions in request order, or a shuffle of them by
//! a seed (the same seed always gives the same order); wave `k` is the next `size_k` positions of
//! that order. Skipped results (forbidden ids) hold their place and end at once.

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::run::Counters;

/// How big a wave is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaveSize {
    /// This many positions.
    Count(u64),
    /// This share of the run, rounded up.
    Percent(f64),
    /// Whatever is left (the last wave only).
    Rest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Order {
    /// The order of the request.
    Request,
    /// A shuffle by `seed`.
    Shuffle { seed: u64 },
}

/// What counts as a failure for the abort threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A CALLERROR, an invalid answer, a failed dispatch (timeouts aside).
    Error,
    /// No answer in time.
    Timeout,
    /// No live connection.
    Offline,
    /// An outcome after the answer that failed.
    Failed,
    /// An outcome after the answer that never came.
    Stalled,
}

impl FailureKind {
    pub const ALL: [FailureKind; 5] =
        [FailureKind::Error, FailureKind::Timeout, FailureKind::Offline, FailureKind::Failed, FailureKind::Stalled];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Error => "error",
            FailureKind::Timeout => "timeout",
            FailureKind::Offline => "offline",
            FailureKind::Failed => "failed",
            FailureKind::Stalled => "stalled",
        }
    }

    pub fn parse(text: &str) -> Option<FailureKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    fn count(self, counters: &Counters) -> u64 {
        match self {
            FailureKind::Error => counters.error.saturating_sub(counters.timeout),
            FailureKind::Timeout => counters.timeout,
            FailureKind::Offline => counters.offline,
            FailureKind::Failed => counters.failed,
            FailureKind::Stalled => counters.stalled,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbortRule {
    pub on: Vec<FailureKind>,
    /// The failure share, in percent, past which the run stops.
    pub percent: f64,
    /// How many must have finished before the share counts.
    pub min_finished: u64,
}

/// A daily window for new CALLs: from `from` to `to` local time in `time_zone` (past midnight when
/// `to` is earlier than `from`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: NaiveTime,
    pub to: NaiveTime,
    /// An IANA name (`Europe/Berlin`), checked when the run is created.
    pub time_zone: String,
}

impl Window {
    /// Whether `name` is an IANA time zone this build knows.
    pub fn knows_zone(name: &str) -> bool {
        name.parse::<chrono_tz::Tz>().is_ok()
    }

    /// `None` while the window is open at `now`; else when it opens next.
    pub fn opens_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let zone: chrono_tz::Tz = self.time_zone.parse().ok()?;
        let local = now.with_timezone(&zone);
        let time = local.time();
        let open = if self.from <= self.to {
            time >= self.from && time < self.to
        } else {
            time >= self.from || time < self.to
        };
        if open {
            return None;
        }
        // The next `from`, today or tomorrow (a time a DST change skips opens an hour on).
        let today = local.date_naive();
        let day = if time < self.from { today } else { today.succ_opt()? };
        let at = day.and_time(self.from);
        let opening = zone
            .from_local_datetime(&at)
            .earliest()
            .or_else(|| zone.from_local_datetime(&(at + chrono::Duration::hours(1))).earliest())?;
        Some(opening.with_timezone(&Utc))
    }
}

/// How a run is rolled out (`Run::rollout`): fixed at creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    /// Empty: one wave of everything.
    pub waves: Vec<WaveSize>,
    pub order: Order,
    /// How long to wait after a wave finished before the next opens.
    pub soak_seconds: u32,
    /// A wave's success share (in percent of its finished results) the next wave needs; below it,
    /// the rollout waits for a resume.
    pub success_percent: Option<f64>,
    /// Wait for a resume after every wave (hawkBit's "pause after the group").
    pub pause_after_wave: bool,
    pub abort: Option<AbortRule>,
    /// Nothing is sent before it (the run is `scheduled`).
    pub start_at: Option<DateTime<Utc>>,
    pub window: Option<Window>,
}

/// Where a rollout stands (or a run paused without one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RolloutState {
    /// Bumped by every change: what the store's conditional write compares.
    pub rev: u32,
    /// The wave opened last (1-based; 0: none yet).
    pub wave: u32,
    /// Positions of the rollout order released so far (queued to dispatch, or found ended).
    pub released: u64,
    /// Of those, the skipped ones (they ended at creation).
    pub released_skipped: u64,
    /// The run's counters as the wave opened last opened: its own counts are the difference.
    #[serde(default)]
    pub mark: Counters,
    /// When the wave opened last finished (its soak runs from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave_done_at: Option<DateTime<Utc>>,
    /// It waits for a resume, saying why (a wave below its success threshold, a pause after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_reason: Option<String>,
    /// Its window was closed when last looked at: at its opening, what was held back is sent.
    #[serde(default)]
    pub outside_window: bool,
}

impl RolloutState {
    /// A copy to change, at the next revision.
    pub fn next(&self) -> RolloutState {
        RolloutState { rev: self.rev.saturating_add(1), ..self.clone() }
    }

    /// Whether the run shows as paused (by hand, or held after a wave until a resume).
    pub fn is_paused(&self) -> bool {
        self.paused_at.is_some() || self.held.is_some()
    }

    /// Whether CALLs already queued wait (paused by hand, or outside the window): what the gate a
    /// dispatch reads says (`RunStore::set_held`). Held after a wave, nothing new was queued.
    pub fn holds_calls(&self) -> bool {
        self.paused_at.is_some() || self.outside_window
    }
}

impl Rollout {
    /// Where each wave ends in the rollout order (cumulative positions), for a run of `total`.
    pub fn wave_ends(&self, total: u64) -> Vec<u64> {
        if self.waves.is_empty() {
            return vec![total];
        }
        let mut ends = Vec::with_capacity(self.waves.len());
        let mut end = 0u64;
        for size in &self.waves {
            let size = match *size {
                WaveSize::Count(n) => n,
                WaveSize::Percent(p) => share_of(total, p),
                WaveSize::Rest => total,
            };
            end = end.saturating_add(size).min(total);
            ends.push(end);
        }
        ends
    }

    /// Why the waves cannot cover a run of `total` (each non-empty, together exactly `total`).
    pub fn waves_refused(&self, total: u64) -> Option<String> {
        if self.waves.is_empty() {
            return None;
        }
        let mut end = 0u64;
        for (i, size) in self.waves.iter().enumerate() {
            let size = match *size {
                WaveSize::Count(n) => n,
                WaveSize::Percent(p) => share_of(total, p),
                WaveSize::Rest => total.saturating_sub(end),
            };
            if size == 0 || end.checked_add(size).is_none_or(|after| after > total) {
                return Some(format!(
                    "Wave {} of {size} does not fit: the waves before it take {end} of the run's {total} chargers.",
                    i + 1
                ));
            }
            end += size;
        }
        (end != total).then(|| {
            format!(
                "The waves add up to {end} of the run's {total} chargers: end them with \"rest\", or make them add up."
            )
        })
    }

    /// The rollout order: the position sent `i`th.
    pub fn order(&self, total: u64) -> Vec<u64> {
        let mut order: Vec<u64> = (0..total).collect();
        if let Order::Shuffle { seed } = self.order {
            let mut state = seed;
            for i in (1..order.len()).rev() {
                let j = (splitmix64(&mut state) % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
        }
        order
    }
}

/// `percent` of `total`, rounded up (a share written with decimals, 14.3 % of 1,000, is 143: the
/// float's error is not rounded up with it).
fn share_of(total: u64, percent: f64) -> u64 {
    ((total as f64) * percent / 100.0 - 1e-9).ceil().max(0.0) as u64
}

/// SplitMix64: a fixed generator, so a stored seed gives the same order in every version.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What a run has finished, and how much of it succeeded: results ended other than skipped, and
/// of those the successes (for a run that follows outcomes: ended outcomes, and succeeded ones;
/// else answered results).
pub fn finished_and_succeeded(counters: &Counters, follows: bool) -> (u64, u64) {
    let answered = if follows { counters.outcomes_final() } else { counters.sent };
    let succeeded = if follows { counters.succeeded } else { counters.sent };
    (answered + counters.offline + counters.error, succeeded)
}

impl AbortRule {
    /// Why the run stops, when its failures (of the kinds named) are past the share, with at least
    /// `min_finished` finished.
    pub fn verdict(&self, counters: &Counters, follows: bool) -> Option<String> {
        let (finished, _) = finished_and_succeeded(counters, follows);
        let failed: u64 = self.on.iter().map(|kind| kind.count(counters)).sum();
        if finished == 0 || finished < self.min_finished {
            return None;
        }
        let share = failed as f64 * 100.0 / finished as f64;
        (share > self.percent).then(|| {
            format!(
                "aborted: {failed} of {finished} finished failed, {} % > {} %",
                percent(share),
                percent(self.percent)
            )
        })
    }
}

/// A share as people write it: at most one decimal, none when whole.
pub fn percent(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// Why a wave that finished with `counters` (since `mark`, as it opened) does not let the next
/// open: below the success share, or every wave waits for a resume.
pub fn wave_hold(rollout: &Rollout, wave: u32, mark: &Counters, counters: &Counters, follows: bool) -> Option<String> {
    let (finished_before, succeeded_before) = finished_and_succeeded(mark, follows);
    let (finished_now, succeeded_now) = finished_and_succeeded(counters, follows);
    let finished = finished_now.saturating_sub(finished_before);
    let succeeded = succeeded_now.saturating_sub(succeeded_before);
    if let Some(threshold) = rollout.success_percent {
        let share = if finished == 0 { 100.0 } else { succeeded as f64 * 100.0 / finished as f64 };
        if share < threshold {
            return Some(format!(
                "wave {wave}: {succeeded} of {finished} succeeded, {} % < {} %; resume to go on",
                percent(share),
                percent(threshold)
            ));
        }
    }
    rollout.pause_after_wave.then(|| format!("wave {wave} finished; resume to open the next"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(waves: Vec<WaveSize>) -> Rollout {
        Rollout {
            waves,
            order: Order::Request,
            soak_seconds: 0,
            success_percent: None,
            pause_after_wave: false,
            abort: None,
            start_at: None,
            window: None,
        }
    }

    #[test]
    fn waves_cover_the_run_exactly() {
        let r = rollout(vec![WaveSize::Count(50), WaveSize::Percent(10.0), WaveSize::Rest]);
        assert_eq!(r.wave_ends(1000), vec![50, 150, 1000]);
        assert_eq!(r.waves_refused(1000), None);
        assert!(r.waves_refused(40).unwrap().contains("Wave 1 of 50 does not fit"));
        let short = rollout(vec![WaveSize::Count(10), WaveSize::Count(20)]);
        assert!(short.waves_refused(100).unwrap().contains("add up to 30 of the run's 100"));
        assert_eq!(short.waves_refused(30), None);
        assert_eq!(rollout(vec![]).wave_ends(7), vec![7]);
        let rest_twice = rollout(vec![WaveSize::Rest, WaveSize::Rest]);
        assert!(rest_twice.waves_refused(10).is_some());
        let huge = rollout(vec![WaveSize::Count(5), WaveSize::Count(u64::MAX), WaveSize::Rest]);
        assert!(huge.waves_refused(10).unwrap().contains("Wave 2"), "no overflow past the run");
        let decimals = rollout(vec![WaveSize::Percent(14.3), WaveSize::Percent(85.7)]);
        assert_eq!(decimals.wave_ends(1000), vec![143, 1000]);
        assert_eq!(decimals.waves_refused(1000), None);
    }

    #[test]
    fn a_seed_gives_one_order_of_every_position() {
        let mut r = rollout(vec![]);
        r.order = Order::Shuffle { seed: 7 };
        let order = r.order(1000);
        assert_eq!(order, r.order(1000), "the same seed, the same order");
        assert_ne!(order, (0..1000).collect::<Vec<_>>());
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        // Pinned: a stored seed must give the same order in every later version.
        assert_eq!(&r.order(10)[..], &[8, 1, 5, 9, 0, 4, 3, 2, 6, 7][..]);
    }

    #[test]
    fn the_abort_threshold_counts_the_kinds_named_once_enough_finished() {
        let rule = AbortRule { on: vec![FailureKind::Failed, FailureKind::Timeout], percent: 5.0, min_finished: 40 };
        let mut counters =
            Counters { sent: 36, error: 4, timeout: 3, failed: 4, succeeded: 30, stalled: 2, ..Counters::default() };
        assert_eq!(rule.verdict(&counters, true), Some("aborted: 7 of 40 finished failed, 17.5 % > 5 %".into()));
        counters.error = 1;
        counters.timeout = 0;
        counters.failed = 0;
        assert_eq!(rule.verdict(&counters, true), None, "under 40 finished: 37");
        let plain = AbortRule { on: vec![FailureKind::Offline], percent: 50.0, min_finished: 1 };
        let offline = Counters { sent: 1, offline: 1, ..Counters::default() };
        assert_eq!(plain.verdict(&offline, false), None, "50 % is not past 50 %");
    }

    #[test]
    fn a_wave_below_its_share_or_paused_after_waits_for_a_resume() {
        let mut r = rollout(vec![WaveSize::Count(10), WaveSize::Rest]);
        r.success_percent = Some(90.0);
        let mark = Counters { sent: 10, succeeded: 10, ..Counters::default() };
        let now = Counters { sent: 20, succeeded: 18, failed: 2, ..Counters::default() };
        assert_eq!(
            wave_hold(&r, 2, &mark, &now, true).unwrap(),
            "wave 2: 8 of 10 succeeded, 80 % < 90 %; resume to go on"
        );
        let fine = Counters { sent: 20, succeeded: 19, failed: 1, ..Counters::default() };
        assert_eq!(wave_hold(&r, 2, &mark, &fine, true), None);
        r.pause_after_wave = true;
        assert!(wave_hold(&r, 2, &mark, &fine, true).unwrap().contains("resume to open the next"));
    }

    #[test]
    fn a_window_opens_daily_in_its_time_zone() {
        let night = Window {
            from: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            to: NaiveTime::from_hms_opt(5, 0, 0).unwrap(),
            time_zone: "Europe/Berlin".into(),
        };
        // 2026-12-07 12:00 UTC is 13:00 in Berlin: closed until 22:00 Berlin, 21:00 UTC.
        let noon: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().unwrap();
        assert_eq!(night.opens_at(noon), Some("2026-12-07T21:00:00Z".parse().unwrap()));
        assert_eq!(night.opens_at("2026-12-07T23:30:00Z".parse().unwrap()), None, "00:30 in Berlin");
        assert_eq!(night.opens_at("2026-12-07T03:59:00Z".parse().unwrap()), None, "04:59 in Berlin");
        let day = Window {
            from: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            to: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            time_zone: "UTC".into(),
        };
        assert_eq!(
            day.opens_at("2026-12-07T18:00:00Z".parse().unwrap()),
            Some("2026-12-08T09:00:00Z".parse().unwrap())
        );
        assert_eq!(
            day.opens_at("2026-12-07T08:00:00Z".parse().unwrap()),
            Some("2026-12-07T09:00:00Z".parse().unwrap())
        );
    }
}
