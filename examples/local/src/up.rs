//! `make up` and `make down`: the local mesh as a background process a person uses with
//! their own MCP client, one at a time, and nothing left behind when it stops.
//!
//! - One mesh per directory: `up.pid` is created exclusively; a live `meshguard-up` holding it
//!   refuses a second start (a stale file from a killed run is replaced).
//! - Every file the mesh writes (sockets, SVIDs and their keys, Envoy configurations with the
//!   gateway's signing key, the approvals database, Redis and Chroma data) is under `tmp/` in
//!   the mesh directory: the process's `TMPDIR`.
//! - `down` sends SIGTERM (the mesh stops its processes and removes its files, also while it
//!   is still starting), waits, then SIGKILLs any process of the mesh still alive (collected
//!   from `/proc` while the mesh runs) and removes `tmp/`.

use meshguard_e2e::approval::{APPROVER_AUDIENCE, APPROVER_ROLE};
use meshguard_e2e::mesh::{
    Agent, LocalMesh, MeshOptions, GATEWAY_AUDIENCE, SECURITY_AGENT, SRE_AGENT,
};
use meshguard_e2e::mesh_memory::MeshMemory;
use meshguard_e2e::oidc::{payload, PUBLIC_CLIENT_ID};
use meshguard_e2e::UserClaims;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Lifetime of the user tokens `make up` prints.
pub const USER_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// How long `down` waits for a SIGTERMed mesh before killing what is left.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// The directory one mesh owns.
pub struct MeshDir {
    path: PathBuf,
}

impl MeshDir {
    /// `MESHGUARD_MESH_DIR`, else `.mesh` in the current directory (absolute).
    pub fn from_env() -> Result<MeshDir, String> {
        let dir = std::env::var_os("MESHGUARD_MESH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".mesh"));
        let dir = match dir.is_absolute() {
            true => dir,
            false => std::env::current_dir()
                .map_err(|e| format!("current directory: {e}"))?
                .join(dir),
        };
        Ok(MeshDir { path: dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn pid_file(&self) -> PathBuf {
        self.path.join("up.pid")
    }

    /// The mesh process's `TMPDIR`: every file the mesh writes.
    pub fn tmp(&self) -> PathBuf {
        self.path.join("tmp")
    }

    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The pid of the `meshguard-up` running from this directory, if one is alive.
    pub fn running(&self) -> Option<u32> {
        self.pid()
            .filter(|pid| alive(*pid) && is_meshguard_up(*pid))
    }

    /// Create the pid file for this process, or name the live mesh that holds it.
    fn claim(&self) -> Result<(), Claim> {
        std::fs::create_dir_all(&self.path).map_err(|e| Claim::Io(e.to_string()))?;
        for _ in 0..3 {
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(self.pid_file());
            match created {
                Ok(mut f) => {
                    use std::io::Write;
                    return write!(f, "{}", std::process::id())
                        .map_err(|e| Claim::Io(e.to_string()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if let Some(pid) = self.running() {
                        return Err(Claim::Running(pid));
                    }
                    // A pid file left by a killed run.
                    let _ = std::fs::remove_file(self.pid_file());
                }
                Err(e) => return Err(Claim::Io(e.to_string())),
            }
        }
        Err(Claim::Io("the pid file keeps reappearing".into()))
    }

    /// Remove the pid file if it is this process's.
    fn release(&self) {
        if self.pid() == Some(std::process::id()) {
            let _ = std::fs::remove_file(self.pid_file());
        }
    }
}

enum Claim {
    Running(u32),
    Io(String),
}

/// `meshguard-up`: claim the directory, start the mesh with every file under `tmp/`, print
/// how to use it, run until SIGTERM/SIGINT.
pub fn run(dir: &MeshDir) -> ExitCode {
    match dir.claim() {
        Ok(()) => {}
        Err(Claim::Running(pid)) => {
            eprintln!(
                "a local mesh is already running (pid {pid}, started from {}): its entry points and \
                 tokens are in {}/up.log. Stop it with `make down` before starting another.",
                dir.path().display(),
                dir.path().display()
            );
            return ExitCode::from(3);
        }
        Err(Claim::Io(e)) => {
            eprintln!(
                "meshguard-up: cannot create {}: {e}",
                dir.pid_file().display()
            );
            return ExitCode::from(2);
        }
    }
    // Files of an earlier run that was killed before it could clean up.
    let tmp = dir.tmp();
    let _ = std::fs::remove_dir_all(&tmp);
    if let Err(e) = std::fs::create_dir_all(&tmp) {
        eprintln!("meshguard-up: cannot create {}: {e}", tmp.display());
        dir.release();
        return ExitCode::from(2);
    }
    // Before any thread exists: every temporary file of the mesh goes under tmp/.
    std::env::set_var("TMPDIR", &tmp);
    let code = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => {
            let code = rt.block_on(serve());
            rt.shutdown_timeout(Duration::from_secs(2));
            code
        }
        Err(e) => {
            eprintln!("meshguard-up: tokio runtime: {e}");
            ExitCode::from(2)
        }
    };
    let _ = std::fs::remove_dir_all(&tmp);
    dir.release();
    code
}

async fn serve() -> ExitCode {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("meshguard-up: cannot listen for signals");
        return ExitCode::from(2);
    };
    println!("starting the local mesh (stop it with `make down` at any time)");
    // A stop request during the start drops the half-started mesh: every process started
    // so far is killed and its files are removed.
    let started = tokio::select! {
        started = start() => started,
        _ = term.recv() => return stopped(),
        _ = int.recv() => return stopped(),
    };
    let (mesh, memory) = match started {
        Ok(started) => started,
        Err(e) => {
            eprintln!("mesh could not start: {e}");
            return ExitCode::from(2);
        }
    };
    match describe(&mesh, memory.as_ref()).await {
        Ok(text) => println!("{text}"),
        Err(e) => {
            eprintln!("mesh started but is not usable: {e}");
            return ExitCode::from(2);
        }
    }
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    drop(memory);
    drop(mesh);
    stopped()
}

fn stopped() -> ExitCode {
    println!("meshguard local mesh stopped");
    ExitCode::SUCCESS
}

async fn start() -> Result<(LocalMesh, Option<MeshMemory>), String> {
    let mesh = LocalMesh::start_with(MeshOptions::replicated()).await?;
    let memory = MeshMemory::start(&mesh, &[SRE_AGENT, SECURITY_AGENT]).await?;
    Ok((mesh, memory))
}

/// Seconds since the epoch.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How long `token` is valid from now, e.g. `valid 60 min (until 06:31:02 UTC)`.
pub fn lifetime(token: &str) -> String {
    let exp = payload(token)["exp"].as_u64().unwrap_or(0);
    let left = exp.saturating_sub(now());
    let t = exp % 86_400;
    format!(
        "valid {} min (until {:02}:{:02}:{:02} UTC)",
        left.div_ceil(60),
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// The people `make up` prints tokens for: alice (SRE) and erin (security team).
pub fn people() -> [(UserClaims, Agent); 2] {
    [
        (
            UserClaims::new("alice", "sre", "operator", GATEWAY_AUDIENCE).ttl(USER_TOKEN_TTL),
            SRE_AGENT,
        ),
        (
            UserClaims::new("erin", "security", "operator", GATEWAY_AUDIENCE).ttl(USER_TOKEN_TTL),
            SECURITY_AGENT,
        ),
    ]
}

/// What `make up` prints: entry points, and for each person fresh tokens, their lifetimes
/// and how to get new ones.
async fn describe(mesh: &LocalMesh, memory: Option<&MeshMemory>) -> Result<String, String> {
    let mut out = Vec::new();
    let mut line = |s: String| out.push(s);
    let token_endpoint = mesh.idp.token_endpoint();
    line(format!(
        "meshguard local mesh is up: {} gateway replicas behind a round-robin load balancer",
        mesh.replicas()
    ));
    line(format!("  gateway (users)      {}", mesh.gateway_url("/")));
    line(format!("  OIDC issuer          {}", mesh.idp.issuer()));
    line(format!("  token endpoint       {token_endpoint}"));
    if let Some(approval) = mesh.approval_service() {
        line(format!("  approvals (HITL)     {}", approval.url("/")));
    }
    if let (Some(rls), Some(redis)) = (mesh.rate_limit_service(), mesh.redis_url()) {
        line(format!(
            "  rate limit service   {rls} (gRPC), counting in {redis}"
        ));
    }
    match memory {
        Some(m) => line(format!(
            "  memory (Chroma)      {} (direct, unguarded: the operator's view)",
            m.chroma.url("/")
        )),
        None => line("  memory (Chroma)      not installed: run `make chroma`".into()),
    }
    for i in 0..mesh.replicas() {
        if let Some(g) = mesh.gateway(i) {
            line(format!(
                "  gateway replica {i}    admin http://{}",
                g.admin()
            ));
        }
    }
    for (user, agent) in people() {
        let user_token = mesh.idp.token(&user);
        let refresh = mesh
            .idp
            .refresh_token_for(&user, Some(&mesh.gateway_url("")));
        let (agent_token, sid) = mesh
            .agent_token(agent.id, &user)
            .await
            .map_err(|r| format!("flow 1 for {}: {}", user.sub, r.text()))?;
        let agent_url = mesh.gateway_url(&format!("/agents/{}/mcp", agent.id));
        let echo_url = mesh.gateway_url(&format!("/agents/{}/echo", agent.id));
        line(String::new());
        line(format!(
            "{} (team {}, role {}) with {}",
            user.sub, user.team, user.role, agent.id
        ));
        line(format!("  talk to the agent    POST {agent_url}"));
        line("                       headers: authorization: Bearer <user token>, x-chat-session: <chat session>".into());
        line(format!("  user token           {}", lifetime(&user_token)));
        line(format!("    {user_token}"));
        line(format!("  chat session         {sid}"));
        line(format!(
            "  agent token          {} (minted by the gateway for {})",
            lifetime(&agent_token),
            agent.id
        ));
        line(format!("    {agent_token}"));
        line(format!(
            "  agent's tool calls   {} (the agent's sidecar outbound, with the agent token)",
            mesh.agent_outbound_url(&agent, "/tools/mcp-github/mcp")
        ));
        if let Some(url) = memory.and_then(|m| m.client_url(&agent, "/")) {
            line(format!(
                "  agent's memory       {url} (its memory client sidecar)"
            ));
        }
        line(format!(
            "  new user token       curl -s {token_endpoint} -d grant_type=refresh_token -d client_id={PUBLIC_CLIENT_ID} -d refresh_token={refresh}"
        ));
        line(format!(
            "                       answers access_token (valid {} min) and the next refresh_token: each refresh token works once, for 24 h",
            mesh.idp.oauth_token_ttl().as_secs() / 60
        ));
        line(format!(
            "  new agent token      curl -s {echo_url} -H 'authorization: Bearer <user token>' -H 'x-chat-session: <chat session>' -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}}'"
        ));
        line(
            "                       the agent token is .headers.authorization of the answer".into(),
        );
    }
    let carol = mesh.idp.token(
        &UserClaims::new("carol", "sre", APPROVER_ROLE, APPROVER_AUDIENCE)
            .exact_audience()
            .ttl(USER_TOKEN_TTL),
    );
    line(String::new());
    line(format!(
        "carol (role {APPROVER_ROLE}) approves held calls on the approval service, {}:",
        lifetime(&carol)
    ));
    if let Some(approval) = mesh.approval_service() {
        line(format!(
            "  curl -s -X POST {} -H 'authorization: Bearer {carol}'",
            approval.url("/v1/approvals/<approval id>/approve")
        ));
    }
    Ok(out.join("\n"))
}

/// `meshguard-up down`: stop the mesh running from `dir` and remove its files.
pub fn down(dir: &MeshDir) -> ExitCode {
    let Some(pid) = dir.running() else {
        // Nothing runs; still remove what a killed run may have left.
        let _ = std::fs::remove_dir_all(dir.tmp());
        let _ = std::fs::remove_file(dir.pid_file());
        println!("no local mesh is running");
        return ExitCode::SUCCESS;
    };
    let mut family: BTreeSet<u32> = descendants(pid).into_iter().collect();
    signal(pid, "TERM");
    let deadline = Instant::now() + STOP_GRACE;
    while alive(pid) && Instant::now() < deadline {
        family.extend(descendants(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut killed = 0;
    if alive(pid) {
        family.extend(descendants(pid));
        signal(pid, "KILL");
        killed += 1;
    }
    for child in &family {
        if alive(*child) {
            signal(*child, "KILL");
            killed += 1;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while family.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir_all(dir.tmp());
    let _ = std::fs::remove_file(dir.pid_file());
    match killed {
        0 => println!("mesh stopped"),
        n => println!("mesh stopped ({n} processes did not stop on SIGTERM and were killed)"),
    }
    ExitCode::SUCCESS
}

fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// `(state, ppid)` from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether `pid` is a live process (not a zombie).
pub fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

fn is_meshguard_up(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("meshguard-up"))
        .unwrap_or(false)
}

/// Every live descendant of `pid` (children, their children, ...).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(p) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some((_, ppid)) = stat(p) {
                children.entry(ppid).or_default().push(p);
            }
        }
    }
    let mut out = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        for c in children.get(&p).cloned().unwrap_or_default() {
            if alive(c) {
                out.push(c);
            }
            queue.push(c);
        }
    }
    out
}
