//! Cooperative slicing of long scans, so one large body cannot stall a proxy worker.
//!
//! Envoy runs every stream of a worker on one thread, and a Wasm callback runs to its end:
//! a 1 MiB body scanned in one callback made every other stream of that worker wait for the
//! whole scan (twice for a request that needs two event-loop turns). The scanners are
//! therefore written as `async fn`s that pass a [`Pace`] and call [`Pace::checkpoint`]
//! between their passes (normalisation, the literal pass, each rule, the n-gram model, each
//! JSON string). With [`Pace::unbounded`] a checkpoint never suspends and [`finish`] runs
//! the scan to its end in one call, exactly as a plain function would; the proxy pipeline
//! gives large bodies a bounded pace and polls the scan again from a timer, one slice per
//! event-loop turn. No runtime is involved: a scan is polled with a no-op waker, and what
//! wakes it is the pipeline's tick.

use std::cell::Cell;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

/// How much work a scan may do before it offers to suspend.
///
/// Work is counted in bytes handed to a pass (a pass over 1 MiB counts 1 MiB), the unit the
/// detector's own `Scan::work` uses, so the figure is independent of the machine.
#[derive(Debug)]
pub struct Pace {
    quantum: usize,
    since: Cell<usize>,
    suspensions: Cell<usize>,
}

impl Pace {
    /// A pace that never suspends: the scan runs to its end in one poll.
    pub const fn unbounded() -> Self {
        Self::new(usize::MAX)
    }

    /// Suspend at the first checkpoint after `quantum` bytes of work.
    pub const fn new(quantum: usize) -> Self {
        Self {
            quantum,
            since: Cell::new(0),
            suspensions: Cell::new(0),
        }
    }

    /// Count `work` bytes just done; suspend once (the caller is polled again later) when the
    /// slice's quantum is spent.
    pub async fn checkpoint(&self, work: usize) {
        let since = self.since.get().saturating_add(work);
        if since < self.quantum {
            self.since.set(since);
            return;
        }
        self.since.set(0);
        self.suspensions.set(self.suspensions.get() + 1);
        Suspend(false).await;
    }

    /// How often a scan run at this pace has suspended (the slices it took, minus one).
    pub fn suspensions(&self) -> usize {
        self.suspensions.get()
    }
}

/// A future that is pending once, then ready.
struct Suspend(bool);

impl Future for Suspend {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

/// Poll `future` once: its output, or `None` when it suspended at a checkpoint.
pub fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Option<F::Output> {
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// Run a scan to its end in this call, whatever its pace (the synchronous entry points).
pub fn finish<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    loop {
        if let Some(out) = poll_once(future.as_mut()) {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn three_passes(pace: &Pace) -> usize {
        let mut done = 0;
        for _ in 0..3 {
            done += 1;
            pace.checkpoint(100).await;
        }
        done
    }

    #[test]
    fn unbounded_pace_finishes_in_one_poll() {
        let pace = Pace::unbounded();
        let mut scan = Box::pin(three_passes(&pace));
        assert_eq!(poll_once(scan.as_mut()), Some(3));
        assert_eq!(pace.suspensions(), 0);
    }

    #[test]
    fn bounded_pace_suspends_once_per_spent_quantum() {
        let pace = Pace::new(150);
        let mut scan = Box::pin(three_passes(&pace));
        // 100: under the quantum; 200: suspend.
        assert_eq!(poll_once(scan.as_mut()), None);
        // The count restarts: the third pass's 100 is under the quantum again.
        assert_eq!(poll_once(scan.as_mut()), Some(3));
        assert_eq!(pace.suspensions(), 1);
    }

    #[test]
    fn finish_runs_a_sliced_scan_to_its_end() {
        let pace = Pace::new(1);
        assert_eq!(finish(three_passes(&pace)), 3);
        assert_eq!(pace.suspensions(), 3);
    }
}
