//! meshguard-approval: the approval service behind meshguard's approval gate (HITL).
//!
//! The gateway's `approval_gate` filter posts an approval request here when an agent calls a
//! write/delete/admin tool ([`meshguard_core::approval_gate::ApprovalRequest`]: user, session,
//! tool, class, argument hash and a scrubbed preview). The service keeps it pending, emits a
//! Slack-style Block Kit message (logged, and posted to an incoming-webhook URL when one is
//! configured), and shows it on a web page where a person clicks Approve or Deny. An
//! approval mints a short-lived ES256 approval token bound to the user, session, tool,
//! server and argument hash, naming the approver; the agent polls for it and retries the
//! call carrying it. The gate verifies it against this service's JWKS and then redeems it
//! here (`POST /v1/redeem`): one atomic consume in the shared store, so an approval is used
//! once across every gateway replica and survives no restart as usable again.
//!
//! The approver is verified ([`auth`]): an OIDC token from the users' IdP, the approver role
//! required, and never the requester (separation of duties). Approvals live in a real store
//! ([`store`]): a SQLite file by default, PostgreSQL for several replicas.
//!
//! Endpoints: `POST /v1/approvals` (webhook), `GET /v1/approvals/{id}` (poll),
//! `POST /v1/approvals/{id}/approve|deny` (bearer token of the approver),
//! `POST /v1/redeem` (the gate), `GET /` (the page), `GET /.well-known/jwks.json`.

pub mod auth;
pub mod page;
pub mod slack;
pub mod store;
pub mod testing;
pub mod web;

use jwt_simple::prelude::ES256KeyPair;
use meshguard_core::jwt::{Algorithm, MintError, Minter, SigningKey};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

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
    /// Who may approve, and how they are verified.
    pub approvers: auth::ApproverPolicy,
    /// Where approvals are kept.
    pub store: store::StoreConfig,
}

/// A configuration error: the environment variable at fault and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable (`APPROVAL_...`).
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// An error naming `field`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// Settings from environment variables read through `var` (see main.rs for the list).
    /// Unknown values of known variables are errors naming the variable; nothing is guessed.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let d = Settings::default();
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match var(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| ConfigError::new(name, format!("not a number: {v:?}"))),
            }
        };
        let text = |name: &str, default: String| var(name).unwrap_or(default);
        let sod = match var("APPROVAL_SEPARATION_OF_DUTIES").as_deref() {
            None | Some("true") | Some("1") | Some("on") => true,
            Some("false") | Some("0") | Some("off") => false,
            Some(other) => {
                return Err(ConfigError::new(
                    "APPROVAL_SEPARATION_OF_DUTIES",
                    format!("must be true or false, not {other:?}"),
                ))
            }
        };
        let da = d.approvers.clone();
        let settings = Settings {
            issuer: text("APPROVAL_ISSUER", d.issuer),
            audience: text("APPROVAL_AUDIENCE", d.audience),
            token_ttl_seconds: number("APPROVAL_TOKEN_TTL_SECONDS", d.token_ttl_seconds)?,
            pending_ttl_seconds: number("APPROVAL_PENDING_TTL_SECONDS", d.pending_ttl_seconds)?,
            public_url: var("APPROVAL_PUBLIC_URL").unwrap_or_default(),
            slack_webhook_url: var("APPROVAL_SLACK_WEBHOOK_URL"),
            approvers: auth::ApproverPolicy {
                issuer: text("APPROVAL_OIDC_ISSUER", da.issuer),
                jwks_uri: text("APPROVAL_OIDC_JWKS_URI", da.jwks_uri),
                audience: text("APPROVAL_OIDC_AUDIENCE", da.audience),
                approver_claim: text("APPROVAL_APPROVER_CLAIM", da.approver_claim),
                role_claim: text("APPROVAL_ROLE_CLAIM", da.role_claim),
                required_role: text("APPROVAL_REQUIRED_ROLE", da.required_role),
                separation_of_duties: sod,
            },
            store: match (var("APPROVAL_STORE"), var("APPROVAL_STORE_FILE")) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::new(
                        "APPROVAL_STORE_FILE",
                        "set APPROVAL_STORE or APPROVAL_STORE_FILE, not both",
                    ))
                }
                (Some(v), None) => store::StoreConfig::parse(v.trim())?,
                (None, Some(path)) => {
                    let v = std::fs::read_to_string(path.trim()).map_err(|e| {
                        ConfigError::new("APPROVAL_STORE_FILE", format!("unreadable: {e}"))
                    })?;
                    store::StoreConfig::parse(v.trim())
                        .map_err(|e| ConfigError::new("APPROVAL_STORE_FILE", e.reason))?
                }
                (None, None) => d.store,
            },
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Check the settings; the error names the environment variable at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.approvers.validate()?;
        if !(10..=3600).contains(&self.token_ttl_seconds) {
            return Err(ConfigError::new(
                "APPROVAL_TOKEN_TTL_SECONDS",
                "must be 10 to 3600",
            ));
        }
        if !(10..=86400).contains(&self.pending_ttl_seconds) {
            return Err(ConfigError::new(
                "APPROVAL_PENDING_TTL_SECONDS",
                "must be 10 to 86400",
            ));
        }
        if self.issuer.trim().is_empty() {
            return Err(ConfigError::new("APPROVAL_ISSUER", "required"));
        }
        if self.audience.trim().is_empty() {
            return Err(ConfigError::new("APPROVAL_AUDIENCE", "required"));
        }
        Ok(())
    }
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
            approvers: auth::ApproverPolicy::default(),
            store: store::StoreConfig::default(),
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
    let kid = format!(
        "approval-{}",
        meshguard_core::approval_gate::args::hex(&kid)
    );
    let key = SigningKey::from_pem(&kid, Algorithm::ES256, &pem)?;
    Minter::new(issuer, vec![key], &kid)
}

/// Shared state of a running service.
pub struct App {
    pub settings: Settings,
    pub minter: Minter,
    pub store: store::Store,
    pub auth: auth::Authenticator,
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
/// from the bound address. Invalid settings or a store that cannot be opened refuse to
/// start (the error names the setting).
pub async fn start(
    mut settings: Settings,
    minter: Minter,
    listener: tokio::net::TcpListener,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    if settings.public_url.is_empty() {
        settings.public_url = format!("http://{addr}");
    }
    settings.validate().map_err(std::io::Error::other)?;
    let store = store::Store::open(&settings.store)
        .await
        .map_err(|e| std::io::Error::other(format!("APPROVAL_STORE: {e}")))?;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(std::io::Error::other)?;
    let app = Arc::new(App {
        auth: auth::Authenticator::new(settings.approvers.clone(), http.clone()),
        settings,
        minter,
        store,
        http,
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
    format!(
        "{prefix}{}",
        meshguard_core::approval_gate::args::hex(&bytes)
    )
}
