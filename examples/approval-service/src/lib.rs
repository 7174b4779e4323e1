//! meshguard-approval: the approval service behind meshguard's approval gate (HITL).
//!
//! The gateway's `approval_gate` filter posts an approval request here when an agent calls a
//! write/delete/admin tool ([`meshguard_core::approval::ApprovalRequest`]: user, session,
//! tool, class, argument hash and a scrubbed preview). The service keeps it pending, emits a
//! Slack-style Block Kit message (logged, and posted to an incoming-webhook URL when one is
//! configured), and shows it on a web page where a person clicks Approve or Deny. An
//! approval mints a short-lived ES256 approval token bound to the user, session, tool,
//! server and argument hash, naming the approver; the agent polls for it and retries the
//! call carrying it. The gate verifies it against this service's JWKS and accepts it once.
//!
//! Endpoints: `POST /v1/approvals` (webhook), `GET /v1/approvals/{id}` (poll),
//! `POST /v1/approvals/{id}/approve|deny`, `GET /` (the page), `GET /.well-known/jwks.json`.

pub mod page;
pub mod slack;
pub mod store;
pub mod web;

use jwt_simple::prelude::ES256KeyPair;
use meshguard_core::jwt::{Algorithm, MintError, Minter, SigningKey};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{oneshot, Mutex};

/// How the service signs and where it says to poll.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `iss` of approval tokens (the gate pins it).
    pub issuer: String,
    /// `aud` of approval tokens (the gate's id).
    pub audience: String,
    /// Lifetime of an approval token, seconds (short: the agent retries at once).
    pub token_ttl_seconds: u64,
    /// How long a request stays pending before it expires, seconds.
    pub pending_ttl_seconds: u64,
    /// Base URL agents and people reach this service at (poll URLs and message links).
    pub public_url: String,
    /// Slack incoming-webhook URL the message is posted to, if any.
    pub slack_webhook_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            issuer: "meshguard-approval".into(),
            audience: "meshguard-gateway".into(),
            token_ttl_seconds: 120,
            pending_ttl_seconds: 900,
            public_url: "http://127.0.0.1:8080".into(),
            slack_webhook_url: None,
        }
    }
}

/// A signing key from the environment value (core `Minter::from_env_json` format), or a
/// fresh ES256 key when none is given (approvals then die with the process, which is fine
/// for a demo and for tests).
pub fn minter(issuer: &str, keys_json: Option<&str>) -> Result<Minter, MintError> {
    if let Some(json) = keys_json {
        return Minter::from_env_json(issuer, json);
    }
    let pem = ES256KeyPair::generate()
        .to_pem()
        .map_err(|_| MintError::SigningFailed)?;
    let mut kid = [0u8; 6];
    getrandom::getrandom(&mut kid).map_err(|_| MintError::SigningFailed)?;
    let kid = format!("approval-{}", meshguard_core::approval::args::hex(&kid));
    let key = SigningKey::from_pem(&kid, Algorithm::ES256, &pem)?;
    Minter::new(issuer, vec![key], &kid)
}

/// Shared state of a running service.
pub struct App {
    pub settings: Settings,
    pub minter: Minter,
    pub store: Mutex<store::Store>,
    pub http: reqwest::Client,
}

/// A service running on a local port; stopped on drop.
pub struct Running {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
}

impl Running {
    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The public JWKS the gate verifies approval tokens with.
    pub fn jwks(&self) -> String {
        self.app.minter.public_jwks()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serve on `listener` until the returned handle is dropped. `public_url` empty = derived
/// from the bound address.
pub async fn start(
    mut settings: Settings,
    minter: Minter,
    listener: tokio::net::TcpListener,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    if settings.public_url.is_empty() {
        settings.public_url = format!("http://{addr}");
    }
    let app = Arc::new(App {
        settings,
        minter,
        store: Mutex::new(store::Store::default()),
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(std::io::Error::other)?,
    });
    let router = web::router(app.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(Running {
        addr,
        app,
        stop: Some(stop),
    })
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// 16 random bytes as base64url-ish hex (approval ids, token ids).
pub fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No randomness: ids would be guessable; refuse to produce one.
        return String::new();
    }
    format!("{prefix}{}", meshguard_core::approval::args::hex(&bytes))
}
