//! `meshguard-approval`: run the approval service.
//!
//! Environment: `APPROVAL_LISTEN` (default `0.0.0.0:8080`), `APPROVAL_PUBLIC_URL` (default
//! derived from the bound address), `APPROVAL_ISSUER` (`meshguard-approval`),
//! `APPROVAL_AUDIENCE` (`meshguard-gateway`), `APPROVAL_TOKEN_TTL_SECONDS` (120),
//! `APPROVAL_PENDING_TTL_SECONDS` (900), `APPROVAL_SLACK_WEBHOOK_URL` (unset: message only
//! logged), `MESHGUARD_APPROVAL_SIGNING_KEYS_FILE` or `MESHGUARD_APPROVAL_SIGNING_KEYS` (core
//! signing-keys JSON, a file or the value; unset: a fresh ES256 key, its JWKS printed).

use meshguard_approval::{minter, start, Settings};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn number(name: &str, default: u64) -> u64 {
    env(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let d = Settings::default();
    let settings = Settings {
        issuer: env("APPROVAL_ISSUER").unwrap_or(d.issuer),
        audience: env("APPROVAL_AUDIENCE").unwrap_or(d.audience),
        token_ttl_seconds: number("APPROVAL_TOKEN_TTL_SECONDS", d.token_ttl_seconds),
        pending_ttl_seconds: number("APPROVAL_PENDING_TTL_SECONDS", d.pending_ttl_seconds),
        public_url: env("APPROVAL_PUBLIC_URL").unwrap_or_default(),
        slack_webhook_url: env("APPROVAL_SLACK_WEBHOOK_URL"),
    };
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
