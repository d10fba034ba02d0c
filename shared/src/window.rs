//! Counts per key within fixed windows (a minute's index, say), in this process, bounded in keys:
//! when full, keys of past windows are dropped; a new key that still finds no room is not counted.
//! Behind the embedded rate limiter, the API's block list of sources and the log budgets.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::sync::locked;

#[derive(Debug)]
pub struct WindowCounts {
    counts: Mutex<HashMap<String, (i64, u64)>>,
    capacity: usize,
}

/// Room for 100,000 keys a window.
impl Default for WindowCounts {
    fn default() -> Self {
        WindowCounts::new(100_000)
    }
}

impl WindowCounts {
    pub fn new(capacity: usize) -> Self {
        WindowCounts { counts: Mutex::default(), capacity }
    }

    /// Counts one more for `key` in `window`: the count so far, or `None` when no room is left.
    pub fn hit(&self, key: &str, window: i64) -> Option<u64> {
        self.with_count(key, window, |count| {
            *count = count.saturating_add(1);
            *count
        })
    }

    /// Counts up to `wanted` more for `key` in `window`, never past `limit`: how many were counted
    /// (0 when no room is left).
    pub fn take(&self, key: &str, window: i64, wanted: u64, limit: u64) -> u64 {
        self.with_count(key, window, |count| {
            let taken = wanted.min(limit.saturating_sub(*count));
            *count += taken;
            taken
        })
        .unwrap_or(0)
    }

    /// `change` on `key`'s count in `window` (0 in a window it has not counted yet); `None` when no
    /// room is left for the key.
    fn with_count<T>(&self, key: &str, window: i64, change: impl FnOnce(&mut u64) -> T) -> Option<T> {
        let mut counts = locked(&self.counts);
        if counts.len() >= self.capacity && !counts.contains_key(key) {
            counts.retain(|_, (at, _)| *at >= window);
            if counts.len() >= self.capacity {
                return None;
            }
        }
        let (at, count) = counts.entry(key.to_owned()).or_insert((window, 0));
        if *at != window {
            (*at, *count) = (window, 0);
        }
        Some(change(count))
    }

    /// `key`'s count in `window`, without counting.
    pub fn count(&self, key: &str, window: i64) -> u64 {
        locked(&self.counts).get(key).filter(|(at, _)| *at == window).map_or(0, |(_, count)| *count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_take_counts_what_the_limit_leaves_and_resets_with_the_window() {
        let counts = WindowCounts::new(1);
        assert_eq!((counts.take("k", 1, 3, 5), counts.take("k", 1, 3, 5), counts.take("k", 1, 1, 5)), (3, 2, 0));
        assert_eq!(counts.take("k", 2, 9, 5), 5, "a new window, never past the limit");
        assert_eq!(counts.take("other", 2, 1, 5), 0, "no room for another key");
    }

    #[test]
    fn counts_reset_with_the_window_and_stay_bounded() {
        let counts = WindowCounts::new(2);
        assert_eq!((counts.hit("a", 1), counts.hit("a", 1), counts.hit("b", 1)), (Some(1), Some(2), Some(1)));
        assert_eq!(counts.hit("c", 1), None, "full of this window's keys");
        assert_eq!(counts.hit("c", 2), Some(1), "past windows make room");
        assert_eq!((counts.count("a", 2), counts.count("c", 2)), (0, 1));
        assert_eq!(counts.hit("a", 2), Some(1), "a new window counts afresh");
    }
}
