//! `meshguard-approval`: run the approval service.
//!
//! Environment: `APPROVAL_LISTEN` (default `0.0.0.0:8080`), `APPROVAL_PUBLIC_URL` (default
//! derived from the bound address), `APPROVAL_ISSUER` (`meshguard-approval`),
//! `APPROVAL_AUDIENCE` (`meshguard-gateway`), `APPROVAL_TOKEN_TTL_SECONDS` (120),
//! `APPROVAL_PENDING_TTL_SECONDS` (900), `APPROVAL_SLACK_WEBHOOK_URL` (unset: message only
//! logged), `MESHGUARD_APPROVAL_SIGNING_KEYS_FILE` or `MESHGUARD_APPROVAL_SIGNING_KEYS` (core
//! signing-keys JSON, a file or the value; unset: a fresh ES256 key, its JWKS printed; with
//! several replicas every replica must have the same keys).
//!
//! Approvers (see [`meshguard_approval::auth`]): `APPROVAL_OIDC_ISSUER` (required: the users'
//! IdP), `APPROVAL_OIDC_JWKS_URI` (default: from OIDC discovery), `APPROVAL_OIDC_AUDIENCE`
//! (`meshguard-approval`), `APPROVAL_APPROVER_CLAIM` (`sub`), `APPROVAL_ROLE_CLAIM`
//! (`roles`), `APPROVAL_REQUIRED_ROLE` (`approver`), `APPROVAL_SEPARATION_OF_DUTIES`
//! (`true`).
//!
//! Store (see [`meshguard_approval::store`]): `APPROVAL_STORE`, `sqlite:<path>` (default
//! `sqlite:approvals.sqlite3`) or `postgres://user:password@host:port/db` for several
//! replicas; or `APPROVAL_STORE_FILE`, a file holding that value (a mounted Secret: the
//! PostgreSQL URL carries a password).
//!
//! Invalid configuration refuses to start, naming the variable.

use meshguard_approval::{minter, start, Settings};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::from_env(env).map_err(|e| {
        eprintln!("meshguard-approval: configuration error: {e}");
        e
    })?;
    let keys = match env("MESHGUARD_APPROVAL_SIGNING_KEYS_FILE") {
        Some(path) => Some(std::fs::read_to_string(path)?),
        None => env("MESHGUARD_APPROVAL_SIGNING_KEYS"),
    };
    let minter = minter(&settings.issuer, keys.as_deref())?;
    let listen = env("APPROVAL_LISTEN").unwrap_or_else(|| "0.0.0.0:8080".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let running = start(settings, minter, listener).await?;
    println!("meshguard-approval listening on {}", running.addr);
    println!("jwks: {}", running.jwks());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
