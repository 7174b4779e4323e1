//! Read-modify-write of Envoy shared data (seen by every worker of a proxy) with
//! compare-and-swap: read a key with its CAS token, compute the new value, write it back
//! only if nobody wrote in between, else retry. So two workers never both take the last
//! token of a bucket or both accept a replayed token.
//!
//! Envoy has no conditional create: a write to a missing key always succeeds. Keys are
//! therefore created empty with [`ensure`] at configuration time, before traffic; a key
//! found missing later is created empty, then updated with CAS like any other.

use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;

/// Attempts before a contended update gives up (the caller fails closed).
const MAX_ATTEMPTS: usize = 16;

/// Why an update did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateError<E> {
    /// The update function refused (its reason).
    Refused(E),
    /// Other workers kept winning the race, or the host refused the write.
    Unavailable,
}

/// The value of a created but empty key: Envoy refuses to store a zero-length value, and
/// every table format here skips blank lines.
const EMPTY: &[u8] = b"\n";

/// Create `key` empty if it does not exist yet (call from `on_configure`).
pub fn ensure(key: &str) {
    if let Ok((None, None)) = hostcalls::get_shared_data(key) {
        if let Err(e) = hostcalls::set_shared_data(key, Some(EMPTY), None) {
            crate::log::warn("shared", &format!("cannot create {key}: {e:?}"));
        }
    }
}

/// The host could not read a shared-data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable;

/// The current text of `key` (empty when missing); `Err` when the host cannot read it, so
/// the caller fails closed instead of judging against a table it never saw.
pub fn read(key: &str) -> Result<String, Unreadable> {
    match hostcalls::get_shared_data(key) {
        Ok((Some(bytes), _)) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Ok((None, _)) => Ok(String::new()),
        Err(e) => {
            crate::log::warn("shared", &format!("get {key}: {e:?}"));
            Err(Unreadable)
        }
    }
}

/// Replace the text of `key` by `f(current)`: `Ok(Some(new))` writes it, `Ok(None)` leaves
/// the key as it is, `Err` refuses. Retried on CAS mismatch.
pub fn update<E>(
    key: &str,
    mut f: impl FnMut(&str) -> Result<Option<String>, E>,
) -> Result<(), UpdateError<E>> {
    for _ in 0..MAX_ATTEMPTS {
        let (value, cas) = match hostcalls::get_shared_data(key) {
            Ok((value, Some(cas))) => (value.unwrap_or_default(), cas),
            // Missing (an empty value comes back as no bytes with a CAS token).
            Ok((_, None)) => {
                ensure(key);
                continue;
            }
            Err(e) => {
                crate::log::warn("shared", &format!("get {key}: {e:?}"));
                return Err(UpdateError::Unavailable);
            }
        };
        let current = String::from_utf8_lossy(&value);
        let Some(new) = f(&current).map_err(UpdateError::Refused)? else {
            return Ok(());
        };
        match hostcalls::set_shared_data(key, Some(new.as_bytes()), Some(cas)) {
            Ok(()) => return Ok(()),
            Err(Status::CasMismatch) => continue,
            Err(e) => {
                crate::log::warn("shared", &format!("set {key}: {e:?}"));
                return Err(UpdateError::Unavailable);
            }
        }
    }
    Err(UpdateError::Unavailable)
}
