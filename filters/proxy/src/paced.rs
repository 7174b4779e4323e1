//! Judging a large body in slices across event-loop turns, so one body cannot stall a
//! worker.
//!
//! Envoy runs all streams of a worker on one thread and a Wasm callback runs to its end: a
//! 1 MiB body judged in one callback held every other stream of the worker for the whole
//! scan, twice for a request that needs two turns of the event loop. The core scanners
//! suspend at checkpoints of a [`Pace`] ([`meshguard_core::pace`]), every [`CHECKPOINT_WORK`]
//! bytes of work; a slice polls the judgement from checkpoint to checkpoint until
//! [`SLICE_TIME`] has passed. [`judge`] runs the first slice inside the body callback and,
//! if the judgement is not done, parks the stream (`Action::Pause`) and lets the filter's
//! root context go on with it from a 1 ms tick: each tick is one slice shared round robin
//! by the parked streams (one that finishes early leaves the rest of the slice to the
//! next). When a judgement completes its
//! stream is made the effective context, the filter enforces the decision as it would have
//! inline, and a stream that goes on is resumed. Small bodies finish in the first slice and
//! never wait for a tick.
//!
//! A filter that uses this forwards its root's `on_tick` to [`on_tick`], its
//! `on_queue_ready` to [`on_queue_ready`] and its stream's `on_done` to [`cancel`], so the
//! judgement of a stream the client abandoned is dropped.

use meshguard_core::pace::{poll_once, Pace};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

/// Work between checkpoints: bytes handed to scanner passes (see [`Pace`]); well under a
/// millisecond of the detector's work. A single pass over a large text (normalising it,
/// the literal pass, the n-gram model) has no checkpoint inside: about 5 ms per MiB.
pub const CHECKPOINT_WORK: usize = 256 << 10;

/// How long one slice may run (it ends at the first checkpoint after this). A tiny request
/// on the same worker waits about two slices (one per event-loop turn it needs) instead of
/// two whole scans; a slice after the first also waits for a tick, during which the worker
/// serves other streams (it idles only when every stream is parked).
pub const SLICE_TIME: Duration = Duration::from_millis(4);

/// Largest body judged in slices. A parked stream's body waits in Envoy's buffer, and
/// Envoy answers a plain 413 (requests) or 500 (responses) when a stopped filter's buffer
/// grows past the connection's buffer limit, 1 MiB by default (also the filters' default
/// `body.max_bytes`). A larger body, possible only when an operator raised `max_bytes`, is
/// judged in one go as before.
pub const MAX_SLICED_BYTES: usize = 1 << 20;

/// How often parked judgements get a slice.
pub const TICK: Duration = Duration::from_millis(1);

/// Which half of the stream a judgement holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

/// The current effective context: what a decision is enforced on, whether it completes in
/// the body callback (the stream itself) or in the root's tick or `on_queue_ready` (after
/// `set_effective_context`).
struct Current;

impl Context for Current {}
impl HttpContext for Current {}

/// A parked judgement.
struct Parked {
    /// The filter's stats prefix.
    filter: &'static str,
    context_id: u32,
    direction: Direction,
    /// Decided, waiting only to be written from outside the stream's callback (see
    /// [`INLINE_WRITE_MAX`]): served on the next turn of the event loop ([`on_queue_ready`]),
    /// not on the next tick.
    ready: bool,
    /// Polls the judgement until it completes or the slice that began at the given time
    /// (the host clock; `None`: now) is spent; `Some` with the enforced action when it
    /// completed.
    step: Box<dyn FnMut(Option<Duration>) -> Option<Action>>,
}

thread_local! {
    /// This VM's parked judgements (one VM per worker thread).
    static PARKED: RefCell<VecDeque<Parked>> = const { RefCell::new(VecDeque::new()) };
}

/// A pace for one judgement: a checkpoint every [`CHECKPOINT_WORK`].
pub fn pace() -> Pace {
    Pace::new(CHECKPOINT_WORK)
}

/// The stream a judgement is for.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    pub context_id: u32,
    pub direction: Direction,
    /// Bytes of the body being judged (see [`MAX_SLICED_BYTES`]).
    pub bytes: usize,
}

/// The most bytes a stream's own callback writes into its held body. Envoy answers a
/// stopped stream whose buffer outgrows the listener's `per_connection_buffer_limit_bytes`
/// with a local reply made *during* the write; made inside the stream's callback, that
/// reply calls the stream's `proxy_on_log` while the SDK's dispatcher still holds the
/// stream (the SDK panics, "RefCell already borrowed", and Envoy 1.40 then crashed). A
/// larger write is made from the root's context instead (its `on_queue_ready` on the next
/// turn of the event loop, or its tick), where the nested call is harmless and Envoy's
/// 413/500 stands: safe for any buffer limit of at least this.
pub const INLINE_WRITE_MAX: usize = 16 << 10;

/// Judge a complete body with `judgement` (built with a [`pace()`]) and enforce its
/// outcome with `enforce`, which returns what the stream does next (`Continue`, or
/// `Pause` after it sent a denial). `writes` tells how many bytes enforcing an outcome
/// writes into the held body: above [`INLINE_WRITE_MAX`] it is enforced from the root's
/// context on the next turn of the event loop ([`on_queue_ready`]).
/// Returns the action for the current body callback: `enforce`'s when the judgement
/// completes in its first slice, `Pause` while it is parked.
pub fn judge<T: 'static>(
    filter: &'static str,
    held: Held,
    judgement: impl Future<Output = T> + 'static,
    writes: impl Fn(&T) -> usize + 'static,
    enforce: impl FnOnce(&dyn HttpContext, T) -> Action + 'static,
) -> Action {
    let mut judgement = Box::pin(judgement);
    let mut enforce = Some(enforce);
    let whole = held.bytes > MAX_SLICED_BYTES;
    let mut inline = true;
    let mut decided: Option<T> = None;
    let deferred = std::rc::Rc::new(std::cell::Cell::new(false));
    let deferring = deferred.clone();
    let mut step = move |slice_start: Option<Duration>| {
        let in_callback = std::mem::replace(&mut inline, false);
        let started = slice_start.or_else(now);
        loop {
            if let Some(outcome) = decided.take().or_else(|| poll_once(judgement.as_mut())) {
                if in_callback && writes(&outcome) > INLINE_WRITE_MAX {
                    deferring.set(true);
                    decided = Some(outcome);
                    return None;
                }
                return enforce.take().map(|e| e(&Current, outcome));
            }
            if !within_slice(started) && !whole {
                return None;
            }
        }
    };
    if let Some(action) = step(None) {
        return action;
    }
    let parked_for = if deferred.get() {
        "deferred_write"
    } else {
        "sliced"
    };
    crate::stats::increment(filter, parked_for);
    park(filter, held, deferred.get(), Box::new(step));
    Action::Pause
}

/// Write `f`'s large body into the stream's held body from the root's context on the next
/// turn of the event loop, not from the stream's callback (see [`INLINE_WRITE_MAX`]); the
/// stream waits (`Pause`) until then.
pub fn write_later(
    filter: &'static str,
    held: Held,
    f: impl FnOnce(&dyn HttpContext) -> Action + 'static,
) -> Action {
    crate::stats::increment(filter, "deferred_write");
    let mut f = Some(f);
    park(
        filter,
        held,
        true,
        Box::new(move |_| f.take().map(|f| f(&Current))),
    );
    Action::Pause
}

fn park(
    filter: &'static str,
    held: Held,
    ready: bool,
    step: Box<dyn FnMut(Option<Duration>) -> Option<Action>>,
) {
    PARKED.with(|p| {
        let mut parked = p.borrow_mut();
        if parked.is_empty() {
            let _ = hostcalls::set_tick_period(TICK);
        }
        parked.push_back(Parked {
            filter,
            context_id: held.context_id,
            direction: held.direction,
            ready,
            step,
        });
    });
    if ready {
        wake_soon();
    }
}

thread_local! {
    /// This VM's wake-up queue, once registered (`None` inside: the host refused it, and
    /// the tick serves everything).
    static WAKE_QUEUE: std::cell::OnceCell<Option<u32>> = const { std::cell::OnceCell::new() };
    /// A wake-up is queued and not yet delivered.
    static WAKE_PENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Have [`on_queue_ready`] called on the next turn of this worker's event loop: an item on
/// the VM's own shared queue makes Envoy post the call to the worker that registered it.
/// A decided stream then waits microseconds for its write instead of up to a tick (1 ms:
/// 64 KB bodies through the scrubber went at 47 MB/s against 63 at 1 MB). Only decided
/// streams ask for it, once per turn, so nothing re-arms itself and the event loop still
/// reads sockets between slices.
fn wake_soon() {
    if WAKE_PENDING.with(|w| w.get()) {
        return;
    }
    let Some(queue) = wake_queue() else {
        return; // the tick serves it
    };
    if hostcalls::enqueue_shared_queue(queue, None).is_ok() {
        WAKE_PENDING.with(|w| w.set(true));
    }
}

/// The VM's wake-up queue, registered on first use under a name of its own: a queue
/// belongs to every VM of the same `vm_id` (one per worker) and its wake-ups go to the
/// worker that registered it last, so each VM's name carries a random part.
fn wake_queue() -> Option<u32> {
    use std::hash::{BuildHasher, Hasher};
    WAKE_QUEUE.with(|q| {
        *q.get_or_init(|| {
            let salt = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            hostcalls::register_shared_queue(&format!("meshguard.paced.{salt:016x}")).ok()
        })
    })
}

/// The root's `on_queue_ready`: write every decided stream's body and resume it (a queue
/// that is not the wake-up queue is not ours, and is left alone).
pub fn on_queue_ready(queue_id: u32) {
    if WAKE_QUEUE.with(|q| q.get().copied().flatten()) != Some(queue_id) {
        return;
    }
    WAKE_PENDING.with(|w| w.set(false));
    while let Ok(Some(_)) = hostcalls::dequeue_shared_queue(queue_id) {}
    let ready = PARKED.with(|p| {
        let mut parked = p.borrow_mut();
        let (ready, waiting): (VecDeque<Parked>, _) = parked.drain(..).partition(|j| j.ready);
        *parked = waiting;
        ready
    });
    for mut next in ready {
        if hostcalls::set_effective_context(next.context_id).is_ok() {
            crate::stats::increment(next.filter, "woken");
            match (next.step)(now()) {
                Some(Action::Continue) => resume(next.direction),
                Some(_) => {}
                None => PARKED.with(|p| p.borrow_mut().push_back(next)),
            }
        }
    }
    if PARKED.with(|p| p.borrow().is_empty()) {
        let _ = hostcalls::set_tick_period(Duration::ZERO);
    }
}

/// Give the parked judgements one slice of [`SLICE_TIME`] between them, round robin from
/// the first: each runs until it completes (its stream is then resumed if it goes on) or
/// the slice is spent. A deferred write or the last checkpoints of a judgement take
/// microseconds, and one tick serving only one of them left the worker idle until the
/// next tick while others waited (64 KB bodies through the scrubber: 16 MB/s, against
/// 49 MB/s for 1 MB bodies). The tick stops when nothing is parked.
pub fn on_tick() {
    let started = now();
    let mut turns = PARKED.with(|p| p.borrow().len());
    while turns > 0 {
        turns -= 1;
        let Some(mut next) = PARKED.with(|p| p.borrow_mut().pop_front()) else {
            break;
        };
        // A stream that is gone cannot be made effective: its judgement is dropped.
        if hostcalls::set_effective_context(next.context_id).is_ok() {
            match (next.step)(started) {
                Some(Action::Continue) => resume(next.direction),
                Some(_) => {}
                None => PARKED.with(|p| p.borrow_mut().push_back(next)),
            }
        }
        if !within_slice(started) {
            break;
        }
    }
    if PARKED.with(|p| p.borrow().is_empty()) {
        let _ = hostcalls::set_tick_period(Duration::ZERO);
    }
}

/// Whether the slice that began at `start` has time left (no clock: it has not).
fn within_slice(start: Option<Duration>) -> bool {
    start
        .zip(now())
        .is_some_and(|(start, t)| t.saturating_sub(start) < SLICE_TIME)
}

/// The host's clock (a slice that cannot read it ends at its first checkpoint).
fn now() -> Option<Duration> {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
}

fn resume(direction: Direction) {
    let _ = match direction {
        Direction::Request => hostcalls::resume_http_request(),
        Direction::Response => hostcalls::resume_http_response(),
    };
}

/// Drop the parked judgement of a stream that ended (its `on_done`), counted as
/// `abandoned`: the client reset the stream before the judgement was done.
pub fn cancel(filter: &str, context_id: u32) {
    let before = parked();
    PARKED.with(|p| p.borrow_mut().retain(|j| j.context_id != context_id));
    if parked() < before {
        crate::stats::increment(filter, "abandoned");
    }
}

/// Parked judgements on this worker (for tests and stats).
pub fn parked() -> usize {
    PARKED.with(|p| p.borrow().len())
}
