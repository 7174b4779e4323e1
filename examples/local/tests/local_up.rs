//! `make up` / `make down` with the real `meshguard-up` binary: a stop request while the mesh
//! is still starting leaves no process and no key file; a running mesh prints entry points
//! and working tokens for alice (SRE) and a security-team user with their lifetimes and a
//! working way to get new ones; a second start is refused while one runs; every file the
//! mesh writes (keys included) is inside the mesh directory, and `down` removes it and every
//! process the mesh started.

use meshguard_local::up::{alive, descendants};
use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_meshguard-up");

/// `meshguard-up <args>` for the mesh in `dir`, output to `dir/../<name>.out|err`.
fn spawn(dir: &Path, args: &[&str], name: &str) -> Child {
    let logs = dir.parent().expect("parent").to_path_buf();
    Command::new(BIN)
        .args(args)
        .env("MESHGUARD_MESH_DIR", dir)
        .stdin(Stdio::null())
        .stdout(File::create(logs.join(format!("{name}.out"))).expect("log"))
        .stderr(File::create(logs.join(format!("{name}.err"))).expect("log"))
        .spawn()
        .expect("meshguard-up")
}

fn output(dir: &Path, name: &str, ext: &str) -> String {
    let logs = dir.parent().expect("parent");
    std::fs::read_to_string(logs.join(format!("{name}.{ext}"))).unwrap_or_default()
}

/// Every `*.key` file under `dir`.
fn key_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "key") {
                out.push(path);
            }
        }
    }
    out
}

/// Absolute paths a process was started with (its arguments after the program).
fn path_args(pid: u32) -> Vec<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    cmdline
        .split(|b| *b == 0)
        .skip(1)
        .map(|a| String::from_utf8_lossy(a).to_string())
        .filter(|a| a.starts_with('/'))
        .collect()
}

/// Run `meshguard-up down` for `dir`, collecting the mesh's processes (from `/proc`) until
/// it returns; returns every process seen.
fn down(dir: &Path, up_pid: u32, mut seen: BTreeSet<u32>) -> BTreeSet<u32> {
    let mut stop = spawn(dir, &["down"], "down");
    let started = Instant::now();
    loop {
        seen.extend(descendants(up_pid));
        if let Some(status) = stop.try_wait().expect("wait down") {
            assert!(
                status.success(),
                "down failed: {}",
                output(dir, "down", "err")
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(40), "down hangs");
        std::thread::sleep(Duration::from_millis(20));
    }
    seen
}

fn assert_nothing_left(dir: &Path, up: &mut Child, seen: &BTreeSet<u32>) {
    let status = up.wait().expect("meshguard-up exits");
    let left: Vec<u32> = seen.iter().copied().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "processes left running: {left:?}");
    let keys = key_files(dir);
    assert!(keys.is_empty(), "key files left: {keys:?}");
    assert!(
        !dir.join("tmp").exists(),
        "the mesh's files were not removed"
    );
    assert!(!dir.join("up.pid").exists(), "pid file left");
    let _ = status;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_during_start_and_a_second_up_leave_nothing_behind() {
    let root = tempfile::tempdir().expect("tempdir");

    // `down` while the mesh is starting: as soon as it has started processes.
    let dir = root.path().join("starting");
    let mut up = spawn(&dir, &[], "starting");
    let pid = up.id();
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 2 && Instant::now() < deadline {
        seen.extend(descendants(pid));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !output(&dir, "starting", "out").contains("is up"),
        "the mesh came up before the stop request: the test proves nothing"
    );
    assert!(seen.len() >= 2, "the mesh started no processes");
    let seen = down(&dir, pid, seen);
    assert_nothing_left(&dir, &mut up, &seen);

    // A mesh that comes up.
    let dir = root.path().join("running");
    let mut up = spawn(&dir, &[], "up");
    let pid = up.id();
    let deadline = Instant::now() + Duration::from_secs(150);
    while !output(&dir, "up", "out").contains("is up") {
        assert!(
            up.try_wait().expect("wait").is_none(),
            "meshguard-up exited:\n{}\n{}",
            output(&dir, "up", "out"),
            output(&dir, "up", "err")
        );
        assert!(Instant::now() < deadline, "the mesh did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = output(&dir, "up", "out");
    for expected in [
        "alice (team sre, role operator) with sre-agent",
        "erin (team security, role operator) with security-agent",
        "/agents/sre-agent/mcp",
        "/agents/security-agent/mcp",
        "user token           valid 60 min",
        "agent token          valid 15 min",
        "grant_type=refresh_token",
        "memory (Chroma)      http://",
        "2 gateway replicas",
    ] {
        assert!(text.contains(expected), "{expected:?} not printed:\n{text}");
    }

    // The printed way to a new user token works, and the new token is one the gateway takes.
    let refresh_line = text
        .lines()
        .find(|l| l.contains("grant_type=refresh_token"))
        .expect("refresh line");
    let words: Vec<&str> = refresh_line.split_whitespace().collect();
    let url = words
        .iter()
        .find(|w| w.starts_with("http"))
        .expect("token endpoint");
    let form: Vec<&str> = words
        .windows(2)
        .filter(|w| w[0] == "-d")
        .map(|w| w[1])
        .collect();
    let http = reqwest::Client::new();
    let answer: serde_json::Value = http
        .post(*url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.join("&"))
        .send()
        .await
        .expect("token endpoint")
        .json()
        .await
        .expect("json");
    let access = answer["access_token"].as_str().expect("access token");
    assert_eq!(answer["expires_in"], 900, "{answer}");
    assert!(answer["refresh_token"].is_string(), "{answer}");
    let gateway = text
        .lines()
        .find_map(|l| l.strip_prefix("  gateway (users)      "))
        .expect("gateway line");
    let session = http
        .post(format!("{}meshguard/session", gateway.trim()))
        .bearer_auth(access)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("session");
    assert_eq!(
        session.status(),
        200,
        "refreshed token refused by the gateway"
    );

    // A second mesh from the same directory is refused; the first keeps running.
    let mut second = spawn(&dir, &[], "second");
    let status = second.wait().expect("second exits");
    assert_eq!(status.code(), Some(3), "{}", output(&dir, "second", "err"));
    assert!(output(&dir, "second", "err").contains("already running"));
    assert!(alive(pid), "the first mesh died");

    // Everything the mesh started keeps its files (keys, configs, data) inside the mesh dir.
    let family: BTreeSet<u32> = descendants(pid).into_iter().collect();
    assert!(family.len() >= 10, "too few processes: {family:?}");
    let dir_text = dir.display().to_string();
    for p in &family {
        for arg in path_args(*p) {
            assert!(arg.starts_with(&dir_text), "process {p} uses {arg}");
        }
    }
    assert!(!key_files(&dir).is_empty(), "no SVID keys in the mesh dir");

    let seen = down(&dir, pid, family);
    assert_nothing_left(&dir, &mut up, &seen);
}
