//! `meshguard-ratelimit CONFIG`: run the rate limit service (Envoy's RLS gRPC protocol over
//! limitador and Redis).
//!
//! `CONFIG` is a YAML or JSON file (see `config.rs`); a bad one refuses to start, naming the
//! field. Environment: `RATELIMIT_LISTEN` (default `0.0.0.0:8081`), `RATELIMIT_REDIS_URL`
//! (overrides the file's `redis_url`).

use meshguard_ratelimit::config::Config;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("meshguard-ratelimit: {e}");
        std::process::exit(2);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: meshguard-ratelimit CONFIG.yaml")?;
    let mut config = Config::load(&path)?;
    if let Some(url) = std::env::var("RATELIMIT_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
    {
        config.redis_url = url;
    }
    let listen = std::env::var("RATELIMIT_LISTEN").unwrap_or_else(|_| "0.0.0.0:8081".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let running = meshguard_ratelimit::start(&config, listener).await?;
    println!(
        "meshguard-ratelimit listening on {} (domain {}, {} limits)",
        running.addr,
        config.domain,
        config.limits.len()
    );
    tokio::signal::ctrl_c().await?;
    running.stop().await;
    Ok(())
}
