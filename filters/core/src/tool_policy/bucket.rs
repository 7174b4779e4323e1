//! Token buckets as pure functions over a serialisable state, so the arithmetic is tested
//! natively and the filter only moves text in and out of Envoy shared data (with CAS).
//!
//! Amounts are milli-tokens and times milliseconds, integers only: two workers computing
//! from the same state always agree. Many buckets share one shared-data slot (a text table
//! of `<id> <milli-tokens> <updated-ms> <full-at-ms>` lines); a bucket that has refilled is
//! dropped from its table, since a missing bucket is a full one.

use super::config::RateLimit;

/// Live buckets one shared-data slot holds before refusing new ones (fail closed).
pub const SLOT_CAPACITY: usize = 256;

/// One bucket's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Tokens left, in thousandths.
    pub milli: u64,
    /// When `milli` was computed (ms).
    pub at_ms: u64,
}

/// Why a request may not take a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeError {
    /// The bucket is empty; a token is back after this many seconds (at least 1).
    Limited { retry_after: u64 },
    /// The slot is full of live buckets.
    SlotFull,
}

impl RateLimit {
    fn capacity_milli(&self) -> u128 {
        u128::from(self.requests) * 1000
    }

    fn window_ms(&self) -> u128 {
        u128::from(self.window_seconds) * 1000
    }

    /// The bucket refilled up to `now_ms` (a missing bucket is full).
    pub fn refill(&self, bucket: Option<Bucket>, now_ms: u64) -> Bucket {
        let cap = self.capacity_milli();
        let Some(b) = bucket else {
            return Bucket {
                milli: cap as u64,
                at_ms: now_ms,
            };
        };
        let elapsed = u128::from(now_ms.saturating_sub(b.at_ms));
        let gained = elapsed * cap / self.window_ms();
        let milli = u128::from(b.milli) + gained;
        if milli >= cap {
            return Bucket {
                milli: cap as u64,
                at_ms: now_ms.max(b.at_ms),
            };
        }
        // Advance the clock only by the time the credited milli-tokens took, so the
        // fraction lost to integer division is credited later rather than lost.
        let credited_ms = gained * self.window_ms() / cap;
        Bucket {
            milli: milli as u64,
            at_ms: b.at_ms.saturating_add(credited_ms as u64),
        }
    }

    /// Take one token at `now_ms`: the new state, or when to retry.
    pub fn take(&self, bucket: Option<Bucket>, now_ms: u64) -> Result<Bucket, TakeError> {
        let mut b = self.refill(bucket, now_ms);
        if b.milli >= 1000 {
            b.milli -= 1000;
            return Ok(b);
        }
        let missing = 1000 - u128::from(b.milli);
        let ready_at =
            u128::from(b.at_ms) + (missing * self.window_ms()).div_ceil(self.capacity_milli());
        let wait_ms = ready_at.saturating_sub(u128::from(now_ms));
        let retry_after = (wait_ms.div_ceil(1000) as u64).max(1);
        Err(TakeError::Limited { retry_after })
    }

    /// When `b` will be full again (ms); the table forgets it then.
    pub fn full_at(&self, b: Bucket) -> u64 {
        let missing = self.capacity_milli() - u128::from(b.milli).min(self.capacity_milli());
        let ms = (missing * self.window_ms()).div_ceil(self.capacity_milli());
        b.at_ms.saturating_add(ms as u64)
    }
}

/// Take one token for bucket `id` of slot `table`: the slot's new text, or why not.
pub fn take_in_table(
    table: &str,
    id: &str,
    limit: &RateLimit,
    now_ms: u64,
) -> Result<String, TakeError> {
    let mut kept: Vec<&str> = Vec::new();
    let mut current = None;
    for line in table.lines() {
        let mut parts = line.split(' ');
        let (Some(lid), Some(milli), Some(at), Some(full)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (Ok(milli), Ok(at_ms), Ok(full_at)) =
            (milli.parse::<u64>(), at.parse::<u64>(), full.parse::<u64>())
        else {
            continue;
        };
        if lid == id {
            current = Some(Bucket { milli, at_ms });
        } else if full_at > now_ms {
            kept.push(line);
        }
    }
    let b = limit.take(current, now_ms)?;
    if kept.len() >= SLOT_CAPACITY {
        return Err(TakeError::SlotFull);
    }
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&format!(
        "{id} {} {} {}",
        b.milli,
        b.at_ms,
        limit.full_at(b)
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_policy::config::{PrincipalKind, ToolClass};

    fn limit(requests: u64, window_seconds: u64) -> RateLimit {
        RateLimit {
            class: ToolClass::Delete,
            per: PrincipalKind::User,
            requests,
            window_seconds,
        }
    }

    #[test]
    fn one_delete_per_ten_minutes() {
        let l = limit(1, 600);
        let b = l.take(None, 0).unwrap();
        assert_eq!(b.milli, 0);
        assert_eq!(
            l.take(Some(b), 1_000),
            Err(TakeError::Limited { retry_after: 599 })
        );
        assert_eq!(
            l.take(Some(b), 599_500),
            Err(TakeError::Limited { retry_after: 1 })
        );
        assert!(l.take(Some(b), 600_000).is_ok());
    }

    #[test]
    fn burst_then_steady_refill() {
        let l = limit(100, 60);
        let mut b = None;
        for _ in 0..100 {
            b = Some(l.take(b, 0).unwrap());
        }
        assert!(matches!(l.take(b, 0), Err(TakeError::Limited { .. })));
        // 100 per minute = one per 600 ms.
        assert!(matches!(l.take(b, 599), Err(TakeError::Limited { .. })));
        let b = l.take(b, 600).unwrap();
        assert_eq!(b.milli, 0);
        // Refill never exceeds the capacity, whatever the idle time.
        assert_eq!(l.refill(Some(b), u64::MAX).milli, 100_000);
    }

    #[test]
    fn clock_going_backwards_gains_nothing() {
        let l = limit(1, 10);
        let b = l.take(None, 10_000).unwrap();
        assert!(matches!(
            l.take(Some(b), 5_000),
            Err(TakeError::Limited { .. })
        ));
    }

    #[test]
    fn table_keeps_other_buckets_and_forgets_full_ones() {
        let l = limit(2, 10);
        let t = take_in_table("", "a", &l, 0).unwrap();
        let t = take_in_table(&t, "b", &l, 1_000).unwrap();
        let t = take_in_table(&t, "a", &l, 1_000).unwrap();
        assert_eq!(t.lines().count(), 2);
        // a has 0.2 tokens: refused; 0.8 more take 4 s at 2 per 10 s.
        assert!(matches!(
            take_in_table(&t, "a", &l, 1_000),
            Err(TakeError::Limited { retry_after: 4 })
        ));
        // After 10 s both are full again and dropped; only the new take remains.
        let t = take_in_table(&t, "c", &l, 20_000).unwrap();
        assert_eq!(t.lines().count(), 1);
        assert!(t.starts_with("c "));
    }

    #[test]
    fn garbage_lines_are_ignored_and_full_slots_fail_closed() {
        let l = limit(1, 3600);
        assert!(take_in_table("junk\n1 2\nx y z w", "a", &l, 0).is_ok());
        let mut t = String::new();
        for i in 0..SLOT_CAPACITY {
            t = take_in_table(&t, &format!("id{i}"), &l, 0).unwrap();
        }
        assert_eq!(take_in_table(&t, "new", &l, 0), Err(TakeError::SlotFull));
    }
}
