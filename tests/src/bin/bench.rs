//! `make bench`: load on loopback against Envoy with and without each meshguard filter,
//! printing `BENCH` lines with ratios against anchors measured in the same run: Envoy with
//! no filter, and Envoy's native `jwt_authn` verifying the same token (plain, and with its
//! `jwt_cache_config`, the fairest setting) for the identity filters. Then the two chains as
//! deployed (the gateway's and a tool sidecar's, see [`chains`]), each against the same Envoy
//! without meshguard filters, in interleaved rounds.

use meshguard_e2e::load::{bench_line, Load, LoadResult};
use meshguard_e2e::mesh::{plugin, GatewayKeys, GATEWAY_AUDIENCE, GATEWAY_ISSUER, MCP_GITHUB};
use meshguard_e2e::{EnvoyBuilder, OidcIssuer, UserClaims, WasmFilter};
use serde_json::{json, Value};
use std::time::Duration;

#[path = "bench/chains.rs"]
mod chains;

const TOOL_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_issue","arguments":{"repo":"org-thousandeyes/sre-api","number":42}}}"#;
const TOOL_RESULT: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Issue 42: the deploy pipeline times out on the integration stage."}],"isError":false}}"#;

/// The filters that pass an unauthenticated call (identity filters are measured with tokens).
const BODY_FILTERS: [&str; 3] = ["prompt_guardrail", "output_sanitizer", "pii_scrubber"];

fn duration() -> Duration {
    let secs = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    Duration::from_secs(secs)
}

/// The loopback origin answering `TOOL_RESULT` behind every Envoy of the run (see
/// [`meshguard_e2e::load::upstream`] for why never a `direct_response`).
static ORIGIN: std::sync::OnceLock<std::net::SocketAddr> = std::sync::OnceLock::new();

/// `builder` routing to [`ORIGIN`].
fn to_origin(builder: EnvoyBuilder) -> EnvoyBuilder {
    match ORIGIN.get() {
        Some(addr) => builder.upstream(*addr),
        None => builder,
    }
}

/// Start an Envoy forwarding to the origin behind `builder`'s filters, warm it up, and load
/// it.
fn measure(builder: EnvoyBuilder, load: &dyn Fn(String) -> Load) -> Result<LoadResult, String> {
    let envoy = to_origin(builder)
        .start()
        .map_err(|e| format!("envoy did not start:\n{}", e.log))?;
    let url = envoy.url("/mcp");
    let mut warm = load(url.clone());
    warm.duration = Duration::from_secs(1);
    warm.run()?;
    load(url).run()
}

/// Print rps and p99 lines for one scenario against an anchor.
fn report(name: &str, r: LoadResult, anchor: Option<(&str, LoadResult)>) {
    bench_line(
        &format!("{name}_rps"),
        r.rps,
        "req/s",
        anchor
            .map(|(a, x)| (a, x.rps))
            .map(|(a, v)| (leak(format!("{a}_rps")), v)),
    );
    bench_line(
        &format!("{name}_p99"),
        r.p99_ms,
        "ms",
        anchor.map(|(a, x)| (leak(format!("{a}_p99")), x.p99_ms)),
    );
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    if let Err(e) = runtime.block_on(run()) {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let origin = meshguard_e2e::load::fixed_upstream(TOOL_RESULT).await?;
    let _ = ORIGIN.set(origin);
    // `meshguard-bench chains`: only the chains as deployed.
    if std::env::args().nth(1).as_deref() == Some("chains") {
        chains::gateway().await?;
        return chains::tool_sidecar().await;
    }
    let plain = |url: String| Load::post(url, TOOL_CALL.to_string(), duration());
    let base = measure(EnvoyBuilder::new(), &plain)?;
    report("envoy_no_filter", base, None);
    for filter in BODY_FILTERS {
        let r = measure(
            EnvoyBuilder::new().filter(WasmFilter::new(filter, json!({}))),
            &plain,
        )?;
        report(
            &format!("{filter}_passthrough"),
            r,
            Some(("envoy_no_filter", base)),
        );
    }
    audience_check_vs_jwt_authn(base).await?;
    tool_policy_path(base)?;
    token_exchange_mint_path(base).await?;
    chains::gateway().await?;
    chains::tool_sidecar().await
}

/// Gateway side: tool-policy with the deployed registry judging a `tools/call` of a
/// registered read tool, taking a token from a shared-data bucket (CAS) per call (a limit
/// high enough never to refuse under load), as token-exchange's identity headers say.
fn tool_policy_path(base: LoadResult) -> Result<(), String> {
    let mut config = plugin::as_deployed("tool_policy");
    config["rate_limits"] = json!([{"class": "read", "per": "user",
                                    "requests": 1_000_000, "window_seconds": 1}]);
    let envoy = to_origin(EnvoyBuilder::new().filter(WasmFilter::new("tool_policy", config)))
        .start()
        .map_err(|e| format!("envoy did not start:\n{}", e.log))?;
    let load = |url: String| {
        Load::post(url, TOOL_CALL.to_string(), duration())
            .header("x-meshguard-sub", "alice")
            .header("x-meshguard-team", "sre")
            .header("x-meshguard-role", "operator")
            .header("x-meshguard-agent", "sre-agent")
    };
    let url = envoy.url("/tools/mcp-github/mcp");
    let mut warm = load(url.clone());
    warm.duration = Duration::from_secs(1);
    warm.run()?;
    let ours = load(url).run()?;
    report("tool_policy_call", ours, Some(("envoy_no_filter", base)));
    bench_line(
        "tool_policy_added_p99",
        ours.p99_ms - base.p99_ms,
        "ms",
        None,
    );
    Ok(())
}

/// Native `jwt_authn` requiring a token of `issuer`/`audience` against an inline JWKS.
fn jwt_authn(issuer: &str, audience: &str, jwks: &Value, cache: bool) -> Value {
    let mut provider = json!({
        "issuer": issuer, "audiences": [audience],
        "local_jwks": {"inline_string": jwks.to_string()}, "forward": true
    });
    if cache {
        provider["jwt_cache_config"] = json!({"jwt_cache_size": 1000});
    }
    json!({"name": "envoy.filters.http.jwt_authn", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        "providers": {"p": provider},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]
    }})
}

/// Tool side: audience-check verifying a reused ES256 tool token vs jwt_authn.
async fn audience_check_vs_jwt_authn(base: LoadResult) -> Result<(), String> {
    let keys = GatewayKeys::generate();
    // No workload binding: the bench has no mTLS peer.
    let token = keys.sign_tool_token(MCP_GITHUB.id, "get_issue", None, "bench");
    let jwks = keys.public_jwks();
    let with_token = |url: String| {
        Load::post(url, TOOL_CALL.to_string(), duration())
            .header("authorization", &format!("Bearer {token}"))
    };
    let native = measure(
        EnvoyBuilder::new().native_filter(jwt_authn(GATEWAY_ISSUER, MCP_GITHUB.id, &jwks, false)),
        &with_token,
    )?;
    report("jwt_authn_es256", native, Some(("envoy_no_filter", base)));
    let cached = measure(
        EnvoyBuilder::new().native_filter(jwt_authn(GATEWAY_ISSUER, MCP_GITHUB.id, &jwks, true)),
        &with_token,
    )?;
    report(
        "jwt_authn_es256_cached",
        cached,
        Some(("envoy_no_filter", base)),
    );
    let mut config = plugin::audience_check(&MCP_GITHUB);
    config["tokens"]["jwks"] = json!({"inline": jwks});
    // No mTLS on the bench listener, so no workload binding (`cnf`) to require.
    config["tokens"]["required_claims"] = json!(["team", "sid"]);
    let ours = measure(
        EnvoyBuilder::new().filter(WasmFilter::new("audience_check", config)),
        &with_token,
    )?;
    report(
        "audience_check_es256",
        ours,
        Some(("jwt_authn_es256_cached", cached)),
    );
    bench_line(
        "audience_check_vs_jwt_authn_plain_rps",
        ours.rps,
        "req/s",
        Some(("jwt_authn_es256_rps", native.rps)),
    );
    Ok(())
}

/// Gateway side: token-exchange verifying a reused RS256 user token and minting (cached)
/// an agent token, vs jwt_authn verifying the same user token.
async fn token_exchange_mint_path(base: LoadResult) -> Result<(), String> {
    let idp = OidcIssuer::start().await;
    let keys = GatewayKeys::generate();
    // Any resource URL: the issuer names it in `aud`, so the audience check runs too.
    let resource = "http://127.0.0.1:1";
    idp.set_resource_audience(Some(resource.to_string()));
    let user_token = idp.token(
        &UserClaims::new("alice", "sre", "operator", GATEWAY_AUDIENCE)
            .ttl(Duration::from_secs(3600)),
    );
    let with_user = |url: String| {
        Load::post(url, TOOL_CALL.to_string(), duration())
            .header("authorization", &format!("Bearer {user_token}"))
    };
    let cached = measure(
        EnvoyBuilder::new().native_filter(jwt_authn(
            idp.issuer(),
            GATEWAY_AUDIENCE,
            &idp.jwks(),
            true,
        )),
        &with_user,
    )?;
    report(
        "jwt_authn_rs256_cached",
        cached,
        Some(("envoy_no_filter", base)),
    );
    let mut config = plugin::token_exchange(&idp, resource);
    config["user_tokens"]["jwks"] = json!({"inline": idp.jwks()});
    let filter = WasmFilter::new("token_exchange", config)
        .env("MESHGUARD_SIGNING_KEYS", &keys.signing_env)
        .env("MESHGUARD_SESSION_KEYS", &keys.session_env);
    let envoy = to_origin(EnvoyBuilder::new().filter(filter))
        .start()
        .map_err(|e| format!("gateway did not start:\n{}", e.log))?;
    let session = session_id(&envoy, &user_token).await?;
    let url = envoy.url("/agents/sre-agent/mcp");
    let load = |url: String| with_user(url).header("x-chat-session", &session);
    let mut warm = load(url.clone());
    warm.duration = Duration::from_secs(1);
    warm.run()?;
    let ours = load(url).run()?;
    report(
        "token_exchange_mint_rs256",
        ours,
        Some(("jwt_authn_rs256_cached", cached)),
    );
    Ok(())
}

async fn session_id(envoy: &meshguard_e2e::Envoy, user_token: &str) -> Result<String, String> {
    let reply = meshguard_e2e::McpClient::new(envoy.url("/meshguard/session"))
        .with_header("authorization", &format!("Bearer {user_token}"))
        .post(&json!({}))
        .await;
    reply.json()["session_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no session: {}", reply.text()))
}
