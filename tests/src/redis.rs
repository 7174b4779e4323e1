//! A real Redis server (Debian's `redis-server`, installed by `make redis`) on a free loopback
//! port with a temporary working directory and no persistence, for the global rate limit
//! tests.
//!
//! Like Chroma, a missing install skips (with a message) unless `MESHGUARD_REQUIRE_TOOLS` is
//! set (CI), where it fails.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Redis; killed (and its directory removed) on drop.
pub struct Redis {
    /// Its loopback address.
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

fn binary() -> Option<&'static str> {
    let ok = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some("redis-server");
    }
    if std::env::var_os("MESHGUARD_REQUIRE_TOOLS").is_some() {
        panic!("redis-server is missing and MESHGUARD_REQUIRE_TOOLS is set: run `make redis`");
    }
    eprintln!(
        "SKIPPED: redis-server is missing (run `make redis`; set MESHGUARD_REQUIRE_TOOLS to make this a failure)"
    );
    None
}

impl Redis {
    /// Start Redis and wait until it answers `PING`; `None` when it is not installed and the
    /// test may skip.
    pub fn start() -> Option<Redis> {
        let bin = binary()?;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let port = crate::ports::unassigned_port().unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new(bin)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(dir.path().join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server: {e}"));
        let redis = Redis {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if redis.ping() {
                return Some(redis);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not answer PING on {}", redis.addr);
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Whether it answers `PING` with `+PONG`.
    pub fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
