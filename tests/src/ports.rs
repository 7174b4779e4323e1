//! Loopback ports for servers that take a port number rather than a listening socket
//! (Envoy's public listener, Chroma, Redis).
//!
//! Binding port 0 and releasing it hands out a port from the kernel's ephemeral range,
//! where the kernel keeps handing out ports (to other tests' port-0 binds and to outgoing
//! connections' source ports) until the server binds it: CI once lost a gateway to
//! `Address already in use` that way. These ports come from below the ephemeral range
//! instead, which the kernel never assigns by itself, walked by a per-process counter so
//! two tests of one process never get the same one.

use std::sync::atomic::{AtomicU32, Ordering};

/// Lowest port handed out.
const FIRST: u32 = 20_000;
/// Ports in the walk (all below Linux's default ephemeral range, 32768-60999).
const SPAN: u32 = 12_000;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A loopback port that is free now and that the kernel does not assign on its own.
pub fn unassigned_port() -> Result<u16, String> {
    // Processes start at different places, so concurrent test binaries rarely meet.
    let offset = std::process::id().wrapping_mul(7_919) % SPAN;
    for _ in 0..SPAN {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (offset + step) % SPAN;
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no free loopback port below the ephemeral range".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_below_the_ephemeral_range() {
        let a = unassigned_port().unwrap();
        let b = unassigned_port().unwrap();
        assert_ne!(a, b);
        for p in [a, b] {
            assert!((20_000..32_000).contains(&p), "{p}");
        }
    }
}
