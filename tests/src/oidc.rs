//! A test OIDC issuer: what the gateway trusts for user tokens, served for real over HTTP so
//! the filters fetch discovery and JWKS the way they would from Keycloak or Entra ID.
//!
//! It holds RS256, ES256 and EdDSA signing keys, publishes them as a JWKS (`kid`, `use: sig`,
//! `alg`), counts JWKS fetches (to prove caching), rotates and retires keys at runtime (to
//! prove refresh), mints user tokens, and forges the bad tokens an attacker would try.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_simple::prelude::{
    Audiences, ECDSAP256KeyPairLike, ES256KeyPair, Ed25519KeyPair, EdDSAKeyPairLike, HS256Key,
    JWTClaims, MACLike, RS256KeyPair, RSAKeyPairLike, UnixTimeStamp,
};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// A JWS signature algorithm the issuer can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048-bit keys): what most IdPs use by default.
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl Alg {
    /// The JOSE `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// Every algorithm the issuer supports.
    pub const ALL: [Alg; 3] = [Alg::RS256, Alg::ES256, Alg::EdDSA];
}

/// The claims of a user token. Times are relative to the moment of minting, so a test states
/// intent ("expired a minute ago") rather than arithmetic on the clock.
#[derive(Debug, Clone)]
pub struct UserClaims {
    /// `sub`: the user.
    pub sub: String,
    /// `team`: the tenant the user belongs to (team isolation keys on it).
    pub team: String,
    /// `role`: what the user may do within the team.
    pub role: String,
    /// `aud`: one value is serialized as a string, several as an array.
    pub aud: Vec<String>,
    /// Lifetime: `exp` = `iat` + `ttl`.
    pub ttl: Duration,
    /// `iat` relative to now, in seconds (negative = issued in the past).
    pub iat_offset: i64,
    /// `nbf` relative to now, in seconds; no `nbf` claim when `None`.
    pub nbf_offset: Option<i64>,
    /// Any other claims (`sid`, `email`, `groups`, ...), added verbatim.
    pub extra: Map<String, Value>,
    /// Mint `aud` exactly as given, without the issuer's resource audience (see
    /// [`OidcIssuer::set_resource_audience`]).
    pub exact_audience: bool,
}

impl UserClaims {
    /// A user token for `sub` in `team` with `role`, for audience `aud`, valid 5 minutes
    /// from now.
    pub fn new(sub: &str, team: &str, role: &str, aud: &str) -> Self {
        Self {
            sub: sub.to_string(),
            team: team.to_string(),
            role: role.to_string(),
            aud: vec![aud.to_string()],
            ttl: Duration::from_secs(300),
            iat_offset: 0,
            nbf_offset: None,
            extra: Map::new(),
            exact_audience: false,
        }
    }

    /// Mint `aud` exactly as given (no resource audience added by the issuer).
    pub fn exact_audience(mut self) -> Self {
        self.exact_audience = true;
        self
    }

    /// Set the lifetime.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Set `nbf` to now + `seconds` (negative = already valid).
    pub fn nbf_offset(mut self, seconds: i64) -> Self {
        self.nbf_offset = Some(seconds);
        self
    }

    /// Set `iat` to now + `seconds` (negative = issued in the past; `exp` moves with it).
    pub fn iat_offset(mut self, seconds: i64) -> Self {
        self.iat_offset = seconds;
        self
    }

    /// Replace the audiences.
    pub fn audiences(mut self, aud: &[&str]) -> Self {
        self.aud = aud.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Add (or replace) a claim.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.extra.insert(name.to_string(), value);
        self
    }
}

/// One signing key of any supported algorithm.
enum Signer {
    Rs(Box<RS256KeyPair>),
    Es(ES256KeyPair),
    Ed(Ed25519KeyPair),
}

impl Signer {
    fn generate(alg: Alg, kid: &str) -> Signer {
        match alg {
            Alg::RS256 => Signer::Rs(Box::new(
                RS256KeyPair::generate(2048)
                    .expect("generate RSA key")
                    .with_key_id(kid),
            )),
            Alg::ES256 => Signer::Es(ES256KeyPair::generate().with_key_id(kid)),
            Alg::EdDSA => Signer::Ed(Ed25519KeyPair::generate().with_key_id(kid)),
        }
    }

    fn sign(&self, claims: JWTClaims<Map<String, Value>>) -> String {
        match self {
            Signer::Rs(k) => k.sign(claims),
            Signer::Es(k) => k.sign(claims),
            Signer::Ed(k) => k.sign(claims),
        }
        .expect("sign token")
    }

    /// The public key as a JWK with `kid`, `alg` and `use: sig`.
    fn public_jwk(&self) -> Value {
        let jwk = match self {
            Signer::Rs(k) => k.public_key().to_jwk(),
            Signer::Es(k) => k.public_key().to_jwk(),
            Signer::Ed(k) => k.public_key().to_jwk(),
        };
        serde_json::from_str(&jwk).expect("jwt-simple JWK is JSON")
    }

    fn public_pem(&self) -> String {
        match self {
            Signer::Rs(k) => k.public_key().to_pem(),
            Signer::Es(k) => k.public_key().to_pem(),
            Signer::Ed(k) => Ok(k.public_key().to_pem()),
        }
        .expect("public key PEM")
    }
}

struct Key {
    kid: String,
    alg: Alg,
    signer: Signer,
    published: bool,
}

struct State {
    keys: Vec<Key>,
    active: String,
    jwks_available: bool,
    generated: usize,
    /// Added to the `aud` of every token minted for an audience (an IdP's audience mapper).
    resource_audience: Option<String>,
    /// The OAuth side: clients, codes, refresh tokens, the auto-consenting user.
    oauth: OAuth,
}

/// A registered OAuth client (pre-registered or by RFC 7591 dynamic registration).
#[derive(Debug, Clone)]
struct Client {
    redirect_uris: Vec<String>,
    /// `None`: a public client (`token_endpoint_auth_method: none`).
    secret: Option<String>,
}

/// An authorization code waiting to be redeemed.
#[derive(Debug, Clone)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    resource: Option<String>,
    scope: String,
    user: UserClaims,
    expires: i64,
}

/// The issuer's OAuth 2.1 state.
#[derive(Default)]
struct OAuth {
    clients: std::collections::HashMap<String, Client>,
    codes: std::collections::HashMap<String, Grant>,
    refresh: std::collections::HashMap<String, Grant>,
    consent: Option<UserClaims>,
    audiences: Vec<String>,
    token_ttl: Option<Duration>,
}

impl State {
    fn new_key(&mut self, alg: Alg, published: bool) -> String {
        self.generated += 1;
        let kid = format!("{}-{}", alg.name().to_ascii_lowercase(), self.generated);
        self.keys.push(Key {
            signer: Signer::generate(alg, &kid),
            kid: kid.clone(),
            alg,
            published,
        });
        kid
    }

    fn key(&self, kid: &str) -> &Key {
        self.keys
            .iter()
            .find(|k| k.kid == kid)
            .unwrap_or_else(|| panic!("the issuer has no key {kid}"))
    }

    fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .filter(|k| k.published)
            .map(|k| k.signer.public_jwk())
            .collect();
        json!({"keys": keys})
    }
}

/// A running OIDC issuer on a loopback port; stopped on drop.
pub struct OidcIssuer {
    /// Where it listens (an Envoy cluster for JWKS fetches points here).
    pub addr: SocketAddr,
    issuer: String,
    state: Arc<Mutex<State>>,
    jwks_fetches: Arc<AtomicU64>,
    ct: CancellationToken,
}

impl OidcIssuer {
    /// An issuer publishing one key of each algorithm, signing with RS256 (as most IdPs do).
    pub async fn start() -> OidcIssuer {
        Self::start_with(Alg::RS256).await
    }

    /// An issuer publishing one key of each algorithm, signing with `active`.
    pub async fn start_with(active: Alg) -> OidcIssuer {
        let mut state = State {
            keys: Vec::new(),
            active: String::new(),
            jwks_available: true,
            generated: 0,
            resource_audience: None,
            oauth: OAuth::default(),
        };
        state.oauth.clients.insert(
            PUBLIC_CLIENT_ID.to_string(),
            Client {
                redirect_uris: Vec::new(),
                secret: None,
            },
        );
        for alg in Alg::ALL {
            let kid = state.new_key(alg, true);
            if alg == active {
                state.active = kid;
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let issuer = format!("http://{addr}");
        let state = Arc::new(Mutex::new(state));
        let jwks_fetches = Arc::new(AtomicU64::new(0));
        let router = routes(issuer.clone(), state.clone(), jwks_fetches.clone());
        let ct = CancellationToken::new();
        let stop = ct.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled_owned().await })
                .await;
        });
        OidcIssuer {
            addr,
            issuer,
            state,
            jwks_fetches,
            ct,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `iss` value (`http://127.0.0.1:<port>`), also the discovery base URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `<issuer>/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// `<issuer>/jwks.json`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks.json", self.issuer)
    }

    /// The JWKS as currently served (for filters configured with an inline JWKS).
    pub fn jwks(&self) -> Value {
        self.state().jwks()
    }

    /// How many times `/jwks.json` was requested: proves a verifier caches keys, and that it
    /// refreshes on an unknown `kid`.
    pub fn jwks_fetches(&self) -> u64 {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Make `/jwks.json` answer 503 (IdP outage) or serve again: verifiers must fail closed.
    pub fn set_jwks_available(&self, available: bool) {
        self.state().jwks_available = available;
    }

    /// The `kid` tokens are signed with by default.
    pub fn active_kid(&self) -> String {
        self.state().active.clone()
    }

    /// The algorithm of the active key.
    pub fn active_alg(&self) -> Alg {
        let state = self.state();
        state.key(&state.active).alg
    }

    /// The `kid`s currently published in the JWKS.
    pub fn published_kids(&self) -> Vec<String> {
        let state = self.state();
        state
            .keys
            .iter()
            .filter(|k| k.published)
            .map(|k| k.kid.clone())
            .collect()
    }

    /// Rotate: publish a new key of the active algorithm and sign with it from now on. The old
    /// key stays published (tokens it signed remain valid) until [`Self::retire`]d.
    pub fn rotate(&self) -> String {
        let alg = self.active_alg();
        self.rotate_to(alg)
    }

    /// Rotate to a new key of `alg` (which may differ from the current one).
    pub fn rotate_to(&self, alg: Alg) -> String {
        let mut state = self.state();
        let kid = state.new_key(alg, true);
        state.active = kid.clone();
        kid
    }

    /// Remove `kid` from the JWKS. The issuer keeps the private key, so a test can still mint
    /// with it ([`Self::token_with_kid`]) and prove that a retired key is no longer trusted.
    pub fn retire(&self, kid: &str) {
        let mut state = self.state();
        let key = state
            .keys
            .iter_mut()
            .find(|k| k.kid == kid)
            .unwrap_or_else(|| panic!("the issuer has no key {kid}"));
        key.published = false;
    }

    /// The PEM (SPKI) public key of `kid`.
    pub fn public_key_pem(&self, kid: &str) -> String {
        self.state().key(kid).signer.public_pem()
    }

    /// A valid token signed with the active key.
    pub fn token(&self, claims: &UserClaims) -> String {
        let kid = self.active_kid();
        self.token_with_kid(&kid, claims)
    }

    /// A valid token signed with the newest published key of `alg`.
    pub fn token_with(&self, alg: Alg, claims: &UserClaims) -> String {
        let kid = self
            .state()
            .keys
            .iter()
            .rev()
            .find(|k| k.alg == alg && k.published)
            .map(|k| k.kid.clone())
            .unwrap_or_else(|| panic!("no published {} key", alg.name()));
        self.token_with_kid(&kid, claims)
    }

    /// A token signed with key `kid`, published or retired.
    pub fn token_with_kid(&self, kid: &str, claims: &UserClaims) -> String {
        let claims = self.mapped(claims);
        let payload = jwt_claims(&claims, &self.issuer);
        self.state().key(kid).signer.sign(payload)
    }

    /// `claims` with the resource audience added (unless exact or audience-less).
    fn mapped(&self, claims: &UserClaims) -> UserClaims {
        let mut claims = claims.clone();
        let resource = self.state().resource_audience.clone();
        if let Some(r) = resource {
            if !claims.exact_audience && !claims.aud.is_empty() && !claims.aud.contains(&r) {
                claims.aud.push(r);
            }
        }
        claims
    }

    /// Like an IdP's audience mapper for the gateway (RFC 8707): every token minted for an
    /// audience also names `resource`, the gateway's protected-resource URL. The local mesh
    /// sets it so tests that mint tokens directly pass the gateway's audience check.
    pub fn set_resource_audience(&self, resource: Option<String>) {
        self.state().resource_audience = resource;
    }

    /// Test-only auto-consent: `/authorize` signs `user` in and approves at once (no browser),
    /// or refuses every authorization request (`None`, the default).
    pub fn set_auto_consent(&self, user: Option<UserClaims>) {
        self.state().oauth.consent = user;
    }

    /// Audiences every OAuth access token carries besides the requested `resource` (the
    /// audience the gateway's `user_tokens.audiences` expects), and their lifetime.
    pub fn set_oauth_tokens(&self, audiences: &[&str], ttl: Duration) {
        let mut state = self.state();
        state.oauth.audiences = audiences.iter().map(|a| a.to_string()).collect();
        state.oauth.token_ttl = Some(ttl);
    }

    /// How long the access tokens the token endpoint issues are valid.
    pub fn oauth_token_ttl(&self) -> Duration {
        self.state()
            .oauth
            .token_ttl
            .unwrap_or(Duration::from_secs(900))
    }

    /// `<issuer>/token`: where clients redeem codes and refresh tokens.
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// A refresh token for `user`, as the code flow would have issued it (for `make up`:
    /// users get fresh access tokens from the token endpoint without a browser).
    pub fn refresh_token_for(&self, user: &UserClaims, resource: Option<&str>) -> String {
        let token = random_id();
        self.state().oauth.refresh.insert(
            token.clone(),
            Grant {
                client_id: PUBLIC_CLIENT_ID.to_string(),
                redirect_uri: String::new(),
                challenge: String::new(),
                resource: resource.map(str::to_string),
                scope: "openid mcp".into(),
                user: user.clone(),
                expires: now_secs() + 86_400,
            },
        );
        token
    }

    /// Forged: `alg: none`, no signature (`header.payload.`), naming the active `kid`.
    pub fn forge_alg_none(&self, claims: &UserClaims) -> String {
        let header = json!({"alg": "none", "typ": "JWT", "kid": self.active_kid()});
        let payload = serde_json::to_value(jwt_claims(&self.mapped(claims), &self.issuer))
            .expect("claims serialize to JSON");
        format!("{}.{}.", b64_json(&header), b64_json(&payload))
    }

    /// Forged: algorithm confusion. HS256, with the newest published RSA key's `kid`, keyed
    /// with that key's public PEM bytes as the HMAC secret: accepted only by a verifier that
    /// lets the token choose the algorithm.
    pub fn forge_hs256_with_public_key(&self, claims: &UserClaims) -> String {
        let (kid, pem) = {
            let state = self.state();
            let key = state
                .keys
                .iter()
                .rev()
                .find(|k| k.alg == Alg::RS256 && k.published)
                .expect("no published RS256 key to confuse with");
            (key.kid.clone(), key.signer.public_pem())
        };
        HS256Key::from_bytes(pem.as_bytes())
            .with_key_id(&kid)
            .authenticate(jwt_claims(&self.mapped(claims), &self.issuer))
            .expect("sign HS256 token")
    }

    /// Forged: signed with a key of the active algorithm that was never published, under a
    /// `kid` the JWKS does not have (a verifier may refetch the JWKS once, then must refuse).
    pub fn forge_unknown_kid(&self, claims: &UserClaims) -> String {
        let alg = self.active_alg();
        let kid = self.state().new_key(alg, false);
        self.token_with_kid(&kid, claims)
    }

    /// Validly signed, but expired an hour ago (issued two hours ago, `claims.ttl` replaced
    /// by one hour): beyond any clock-skew leeway a verifier allows (jwt-simple's default is
    /// 15 minutes, Envoy's `jwt_authn` 60 s). For an edge case just past `exp`, use
    /// [`Self::token`] with [`UserClaims::iat_offset`] and [`UserClaims::ttl`].
    pub fn expired_token(&self, claims: &UserClaims) -> String {
        let claims = claims
            .clone()
            .iat_offset(-7200)
            .ttl(Duration::from_secs(3600));
        self.token(&claims)
    }

    /// Validly signed, but `nbf` is an hour from now (beyond any clock-skew leeway).
    pub fn not_yet_valid_token(&self, claims: &UserClaims) -> String {
        self.token(&claims.clone().nbf_offset(3600))
    }

    /// Validly signed with the real key, but `iss` names another issuer.
    pub fn wrong_issuer_token(&self, claims: &UserClaims) -> String {
        let kid = self.active_kid();
        let payload = jwt_claims(&self.mapped(claims), "https://evil.example.com");
        self.state().key(&kid).signer.sign(payload)
    }

    /// Forged: a valid token whose payload was then changed (`role: admin`), signature kept.
    pub fn tampered_token(&self, claims: &UserClaims) -> String {
        tamper(&self.token(claims), |payload| {
            payload.insert("role".into(), json!("admin"));
        })
    }
}

impl Drop for OidcIssuer {
    fn drop(&mut self) {
        self.ct.cancel();
    }
}

/// Rewrite the payload of `token` with `edit`, keeping its header and signature: any
/// verifier that checks the signature must then refuse it.
pub fn tamper(token: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
    let mut parts = token.splitn(3, '.');
    let (Some(header), Some(payload), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        panic!("not a JWS compact token: {token}");
    };
    let mut claims: Map<String, Value> = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| panic!("token payload is not base64url JSON: {payload}"));
    edit(&mut claims);
    format!("{header}.{}.{signature}", b64_json(&Value::Object(claims)))
}

/// The decoded payload of a compact JWS (no verification), for assertions.
pub fn payload(token: &str) -> Value {
    token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| panic!("token payload is not base64url JSON: {token}"))
}

/// The decoded header of a compact JWS, for assertions.
pub fn header(token: &str) -> Value {
    token
        .split('.')
        .next()
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| panic!("token header is not base64url JSON: {token}"))
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn timestamp(secs: i64) -> UnixTimeStamp {
    UnixTimeStamp::from_secs(secs.max(0) as u64)
}

/// The registered and custom claims of `claims`, issued by `iss`.
fn jwt_claims(claims: &UserClaims, iss: &str) -> JWTClaims<Map<String, Value>> {
    let iat = now_secs() + claims.iat_offset;
    let exp = iat + claims.ttl.as_secs() as i64;
    let mut custom = claims.extra.clone();
    custom.insert("team".into(), json!(claims.team));
    custom.insert("role".into(), json!(claims.role));
    let audiences = match claims.aud.as_slice() {
        [] => None,
        [one] => Some(Audiences::AsString(one.clone())),
        many => Some(Audiences::AsSet(
            many.iter().cloned().collect::<HashSet<_>>(),
        )),
    };
    JWTClaims {
        issued_at: Some(timestamp(iat)),
        expires_at: Some(timestamp(exp)),
        invalid_before: claims.nbf_offset.map(|o| timestamp(now_secs() + o)),
        issuer: Some(iss.to_string()),
        subject: Some(claims.sub.clone()),
        audiences,
        jwt_id: None,
        nonce: None,
        custom,
    }
}

/// The client id of the pre-registered public client (PKCE, no secret), for apps that do
/// not register dynamically. It accepts any loopback redirect URI (RFC 8252 section 7.3).
pub const PUBLIC_CLIENT_ID: &str = "meshguard-public";

/// Lifetime of an authorization code, seconds.
const CODE_TTL: i64 = 60;

fn random_id() -> String {
    let mut bytes = [0u8; 24];
    getrandom::getrandom(&mut bytes).expect("the OS provides randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 8414 / OpenID discovery document.
fn discovery(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks.json"),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "registration_endpoint": format!("{issuer}/register"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "scopes_supported": ["openid", "mcp", "offline_access"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": Alg::ALL.map(Alg::name),
        "authorization_response_iss_parameter_supported": true,
    })
}

type Reply = (axum::http::StatusCode, Vec<(String, String)>, String);

fn json_reply(status: u16, body: Value) -> Reply {
    (
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST),
        vec![
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), "no-store".into()),
            ("access-control-allow-origin".into(), "*".into()),
        ],
        body.to_string(),
    )
}

fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    json_reply(
        status,
        json!({"error": error, "error_description": description}),
    )
}

fn form(bytes: &[u8]) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(bytes).into_owned().collect()
}

fn is_loopback_redirect(uri: &str) -> bool {
    [
        "http://127.0.0.1:",
        "http://127.0.0.1/",
        "http://localhost:",
        "http://localhost/",
        "http://[::1]:",
    ]
    .iter()
    .any(|p| uri.starts_with(p))
}

/// RFC 7591 dynamic client registration.
fn register(state: &mut State, body: &[u8]) -> Reply {
    let Ok(meta) = serde_json::from_slice::<Value>(body) else {
        return oauth_error(400, "invalid_client_metadata", "the body is not JSON");
    };
    let redirect_uris: Vec<String> = meta["redirect_uris"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if redirect_uris.is_empty() {
        return oauth_error(400, "invalid_redirect_uri", "redirect_uris is required");
    }
    if redirect_uris.iter().any(|u| u.contains('#')) {
        return oauth_error(400, "invalid_redirect_uri", "no fragments in redirect URIs");
    }
    let method = meta["token_endpoint_auth_method"]
        .as_str()
        .unwrap_or("client_secret_basic")
        .to_string();
    if !["none", "client_secret_post", "client_secret_basic"].contains(&method.as_str()) {
        return oauth_error(
            400,
            "invalid_client_metadata",
            "unsupported token_endpoint_auth_method",
        );
    }
    let client_id = random_id();
    let secret = (method != "none").then(random_id);
    let mut reply = meta.clone();
    reply["client_id"] = json!(client_id);
    reply["client_id_issued_at"] = json!(now_secs());
    reply["token_endpoint_auth_method"] = json!(method);
    reply["grant_types"] = json!(["authorization_code", "refresh_token"]);
    reply["response_types"] = json!(["code"]);
    if let Some(secret) = &secret {
        reply["client_secret"] = json!(secret);
        reply["client_secret_expires_at"] = json!(0);
    }
    state.oauth.clients.insert(
        client_id,
        Client {
            redirect_uris,
            secret,
        },
    );
    json_reply(201, reply)
}

/// `/authorize`: authorization code with PKCE S256 (required), auto-consent for tests.
fn authorize(state: &mut State, issuer: &str, query: &str) -> Reply {
    let q = form(query.as_bytes());
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let client_id = get("client_id");
    let redirect_uri = get("redirect_uri");
    // Errors that cannot be redirected are shown to the user (RFC 6749 section 4.1.2.1).
    let Some(client) = state.oauth.clients.get(&client_id) else {
        return oauth_error(400, "invalid_client", "unknown client_id");
    };
    let registered = if client.redirect_uris.is_empty() {
        is_loopback_redirect(&redirect_uri)
    } else {
        client.redirect_uris.contains(&redirect_uri)
    };
    if !registered {
        return oauth_error(400, "invalid_request", "redirect_uri is not registered");
    }
    let redirect = |params: &[(&str, &str)]| -> Reply {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            ser.append_pair(k, v);
        }
        if q.contains_key("state") {
            ser.append_pair("state", &get("state"));
        }
        ser.append_pair("iss", issuer);
        let sep = if redirect_uri.contains('?') { '&' } else { '?' };
        let location = format!("{redirect_uri}{sep}{}", ser.finish());
        (
            axum::http::StatusCode::FOUND,
            vec![("location".into(), location)],
            String::new(),
        )
    };
    if get("response_type") != "code" {
        return redirect(&[("error", "unsupported_response_type")]);
    }
    let challenge = get("code_challenge");
    if challenge.len() < 43 || get("code_challenge_method") != "S256" {
        return redirect(&[
            ("error", "invalid_request"),
            ("error_description", "PKCE with S256 is required"),
        ]);
    }
    let Some(user) = state.oauth.consent.clone() else {
        return redirect(&[
            ("error", "access_denied"),
            ("error_description", "no user signed in"),
        ]);
    };
    let code = random_id();
    state.oauth.codes.insert(
        code.clone(),
        Grant {
            client_id,
            redirect_uri: redirect_uri.clone(),
            challenge,
            resource: q.get("resource").cloned(),
            scope: q
                .get("scope")
                .cloned()
                .unwrap_or_else(|| "openid mcp".into()),
            user,
            expires: now_secs() + CODE_TTL,
        },
    );
    redirect(&[("code", &code)])
}

/// The client authentication of a token request: `(client_id, ok)`.
fn client_auth(
    state: &State,
    f: &std::collections::HashMap<String, String>,
    basic: Option<&str>,
) -> Result<String, Reply> {
    let (id, secret) = match basic.and_then(|b| b.strip_prefix("Basic ")) {
        Some(b64) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .unwrap_or_default();
            let (id, secret) = decoded.split_once(':').unwrap_or((&decoded, ""));
            let dec = |s: &str| {
                form(format!("x={s}").as_bytes())
                    .remove("x")
                    .unwrap_or_default()
            };
            (dec(id), Some(dec(secret)))
        }
        None => (
            f.get("client_id").cloned().unwrap_or_default(),
            f.get("client_secret").cloned(),
        ),
    };
    let Some(client) = state.oauth.clients.get(&id) else {
        return Err(oauth_error(401, "invalid_client", "unknown client"));
    };
    match (&client.secret, secret) {
        (None, _) => Ok(id),
        (Some(expected), Some(given)) if *expected == given => Ok(id),
        _ => Err(oauth_error(
            401,
            "invalid_client",
            "client authentication failed",
        )),
    }
}

/// `/token`: authorization_code (PKCE checked) and refresh_token (rotated) grants.
fn token(state: &mut State, issuer: &str, body: &[u8], basic: Option<&str>) -> Reply {
    let f = form(body);
    let client_id = match client_auth(state, &f, basic) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let grant = match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = f.get("code").cloned().unwrap_or_default();
            let Some(grant) = state.oauth.codes.remove(&code) else {
                return oauth_error(400, "invalid_grant", "unknown or used code");
            };
            let verifier = f.get("code_verifier").cloned().unwrap_or_default();
            let computed = URL_SAFE_NO_PAD.encode(hmac_sha256::Hash::hash(verifier.as_bytes()));
            if grant.expires < now_secs()
                || grant.client_id != client_id
                || f.get("redirect_uri") != Some(&grant.redirect_uri)
                || computed != grant.challenge
            {
                return oauth_error(
                    400,
                    "invalid_grant",
                    "code, client, redirect_uri or code_verifier do not match",
                );
            }
            if let (Some(asked), Some(granted)) = (f.get("resource"), &grant.resource) {
                if asked != granted {
                    return oauth_error(
                        400,
                        "invalid_target",
                        "resource differs from the authorization request",
                    );
                }
            }
            grant
        }
        Some("refresh_token") => {
            let refresh = f.get("refresh_token").cloned().unwrap_or_default();
            let Some(mut grant) = state.oauth.refresh.remove(&refresh) else {
                return oauth_error(400, "invalid_grant", "unknown or used refresh token");
            };
            if grant.client_id != client_id || grant.expires < now_secs() {
                return oauth_error(
                    400,
                    "invalid_grant",
                    "refresh token of another client or expired",
                );
            }
            if let Some(asked) = f.get("resource") {
                grant.resource = Some(asked.clone());
            }
            grant
        }
        _ => {
            return oauth_error(
                400,
                "unsupported_grant_type",
                "authorization_code or refresh_token",
            )
        }
    };
    let ttl = state.oauth.token_ttl.unwrap_or(Duration::from_secs(900));
    let mut claims = grant.user.clone().ttl(ttl).exact_audience();
    claims.aud = grant
        .resource
        .iter()
        .cloned()
        .chain(state.oauth.audiences.iter().cloned())
        .collect();
    if claims.aud.is_empty() {
        claims.aud = vec![issuer.to_string()];
    }
    let access = state
        .key(&state.active)
        .signer
        .sign(jwt_claims(&claims, issuer));
    let refresh = random_id();
    let scope = grant.scope.clone();
    state.oauth.refresh.insert(
        refresh.clone(),
        Grant {
            expires: now_secs() + 86_400,
            ..grant
        },
    );
    json_reply(
        200,
        json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ttl.as_secs(),
            "refresh_token": refresh,
            "scope": scope,
        }),
    )
}

/// Discovery (OpenID and RFC 8414), `/jwks.json`, and the OAuth endpoints (`/authorize`,
/// `/token`, `/register`).
fn routes(issuer: String, state: Arc<Mutex<State>>, fetches: Arc<AtomicU64>) -> axum::Router {
    use axum::http::{header, HeaderMap, StatusCode, Uri};
    use axum::routing::{get, post};
    let discovery = discovery(&issuer).to_string();
    let jwks = {
        let state = state.clone();
        move || {
            let state = state.clone();
            let fetches = fetches.clone();
            async move {
                fetches.fetch_add(1, Ordering::SeqCst);
                let state = state.lock().unwrap_or_else(|p| p.into_inner());
                if !state.jwks_available {
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(header::CONTENT_TYPE, "text/plain")],
                        "jwks unavailable".to_string(),
                    );
                }
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    state.jwks().to_string(),
                )
            }
        }
    };
    let lock = |s: &Arc<Mutex<State>>| -> Arc<Mutex<State>> { s.clone() };
    let send = |(status, headers, body): Reply| {
        let mut response = axum::response::Response::new(axum::body::Body::from(body));
        *response.status_mut() = status;
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                header::HeaderName::from_bytes(k.as_bytes()),
                header::HeaderValue::from_str(&v),
            ) {
                response.headers_mut().insert(k, v);
            }
        }
        response
    };
    let (s1, s2, s3) = (lock(&state), lock(&state), lock(&state));
    let (i1, i2) = (issuer.clone(), issuer.clone());
    let meta = move || {
        let d = discovery.clone();
        async move {
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                ],
                d,
            )
        }
    };
    axum::Router::new()
        .route("/.well-known/openid-configuration", get(meta.clone()))
        .route("/.well-known/oauth-authorization-server", get(meta))
        .route("/jwks.json", get(jwks))
        .route(
            "/authorize",
            get(move |uri: Uri| async move {
                let mut st = s1.lock().unwrap_or_else(|p| p.into_inner());
                send(authorize(&mut st, &i1, uri.query().unwrap_or("")))
            }),
        )
        .route(
            "/token",
            post(
                move |headers: HeaderMap, body: axum::body::Bytes| async move {
                    let basic = headers
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let mut st = s2.lock().unwrap_or_else(|p| p.into_inner());
                    send(token(&mut st, &i2, &body, basic.as_deref()))
                },
            ),
        )
        .route(
            "/register",
            post(move |body: axum::body::Bytes| async move {
                let mut st = s3.lock().unwrap_or_else(|p| p.into_inner());
                send(register(&mut st, &body))
            }),
        )
}
