//! Provider-documented credential formats, and the keys that sound secret but name
//! pagination cursors or metadata.
// Tests: a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{found, only};
use meshguard_core::pii_scrubber::json::scrub_json_text;
use meshguard_core::scrub::{default_scrubber, Kind};
use serde_json::{json, Value};

/// Deterministic pseudo-random characters from `alphabet`.
fn rand(alphabet: &str, n: usize, seed: u64) -> String {
    let a = alphabet.as_bytes();
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            char::from(a[((x >> 33) % a.len() as u64) as usize])
        })
        .collect()
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const HEX: &str = "0123456789abcdef";
const BECH32: &str = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L";

/// One token per provider family, with the kind it must be found as.
fn tokens() -> Vec<(String, Kind)> {
    let mut v = Vec::new();
    let mut seed = 1;
    let mut add = |prefix: &str, alphabet: &str, n: usize, kind: Kind| {
        seed += 1;
        v.push((format!("{prefix}{}", rand(alphabet, n, seed)), kind));
    };
    for p in [
        "gldt-", "glrt-", "glptt-", "glft-", "glimt-", "glcbt-", "gloas-", "glsoat-",
    ] {
        add(p, URL, 20, Kind::GitlabToken);
    }
    add(
        "xapp-1-A0123456789-1234567890123-",
        HEX,
        64,
        Kind::SlackToken,
    );
    add("hf_", ALNUM, 34, Kind::ApiToken);
    add("npm_", ALNUM, 36, Kind::ApiToken);
    add("pypi-AgEIcHlwaS5vcmc", URL, 70, Kind::ApiToken);
    add("shpat_", HEX, 32, Kind::ApiToken);
    add("shpss_", HEX, 32, Kind::ApiToken);
    add("SK", HEX, 32, Kind::ApiToken);
    add("AC", HEX, 32, Kind::ApiToken);
    add("sq0atp-", URL, 22, Kind::ApiToken);
    add("sq0csp-", URL, 43, Kind::ApiToken);
    add("AGE-SECRET-KEY-1", BECH32, 58, Kind::ApiToken);
    add("dop_v1_", HEX, 64, Kind::ApiToken);
    add("dapi", HEX, 32, Kind::ApiToken);
    add("hvs.", URL, 90, Kind::ApiToken);
    add("GOCSPX-", URL, 28, Kind::ApiToken);
    add("glc_", ALNUM, 60, Kind::ApiToken);
    add("NRAK-", ALNUM, 27, Kind::ApiToken);
    add("lin_api_", ALNUM, 40, Kind::ApiToken);
    add("dckr_pat_", URL, 27, Kind::ApiToken);
    add("r8_", ALNUM, 37, Kind::ApiToken);
    add("gsk_", ALNUM, 52, Kind::ApiToken);
    add("whsec_", ALNUM, 32, Kind::StripeKey);
    let sg = format!("SG.{}.{}", rand(URL, 22, 90), rand(URL, 43, 91));
    v.push((sg, Kind::ApiToken));
    let pm = format!("PMAK-{}-{}", rand(HEX, 24, 92), rand(HEX, 34, 93));
    v.push((pm, Kind::ApiToken));
    v.push((format!("{}-us14", rand(HEX, 32, 94)), Kind::ApiToken));
    v.extend(more_families());
    v
}

const UPPER_DIGITS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Families added from the providers' published formats (as Kingfisher's rules encode
/// them): CI, registries, cloud, payments, messaging, AI providers, secret stores.
fn more_families() -> Vec<(String, Kind)> {
    let mut v = Vec::new();
    let mut seed = 200;
    let mut add = |prefix: &str, alphabet: &str, n: usize| {
        seed += 1;
        v.push((
            format!("{prefix}{}", rand(alphabet, n, seed)),
            Kind::ApiToken,
        ));
    };
    for (prefix, alphabet, n) in [
        ("llx-", ALNUM, 48),
        ("sk_car_", ALNUM, 20),
        ("apify_api_", ALNUM, 36),
        ("ops_eyJ", URL, 120),
        ("s.", ALNUM, 24),
        ("BBDC-", ALNUM, 40),
        ("bkaa_", URL, 75),
        ("bkpat_", URL, 54),
        ("cmVmd", ALNUM, 59),
        ("csa_", ALNUM, 36),
        ("dckr_oat_", URL, 32),
        ("ddp_", ALNUM, 36),
        ("ico-", ALNUM, 32),
        ("ion_", ALNUM, 42),
        ("packagist_out_", HEX, 68),
        ("PMAT-", ALNUM, 26),
        ("AIK_SECRET_", ALNUM, 64),
        ("cog_", ALNUM, 52),
        ("STS.", ALNUM, 32),
        ("essu_", URL, 80),
        ("EXO", ALNUM, 26),
        ("mdb_sa_sk_", URL, 40),
        ("napi_", ALNUM, 64),
        ("rnd_", ALNUM, 28),
        ("ucat_", ALNUM, 28),
        ("unkey_", ALNUM, 24),
        ("vtwn_", URL, 40),
        ("eyJrIjoi", URL, 60),
        ("sm_pat_", ALNUM, 16),
        ("s-s4t2ud-", HEX, 64),
        ("p8e-", ALNUM, 32),
        ("EZAK", ALNUM, 54),
        ("FLWSECK-", URL, 34),
        ("persona_production_", URL, 40),
        ("ramp_sec_", ALNUM, 48),
        ("rzp_live_", ALNUM, 14),
        ("xnd_production_", ALNUM, 60),
        ("api_live.", URL, 40),
        ("EAAC", ALNUM, 120),
        ("mlsn.", ALNUM, 60),
        ("nyk_", ALNUM, 67),
        ("pina_", URL, 60),
        ("cnvca", URL, 51),
        ("lip_", URL, 30),
        ("sgp_", ALNUM, 64),
        ("rdme_", ALNUM, 70),
        ("rootly_", HEX, 64),
        ("samsara_api_", ALNUM, 30),
        ("polar_oat_", URL, 40),
        ("pnu_", ALNUM, 36),
        ("API-", UPPER_DIGITS, 26),
        ("BSA", URL, 30),
        ("sb_secret_", URL, 31),
        ("bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t", URL, 80),
    ] {
        add(prefix, alphabet, n);
    }
    let uuid = |seed| {
        let h = rand(HEX, 32, seed);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    };
    v.push((format!("sk-lf-{}", uuid(300)), Kind::ApiToken));
    v.push((
        format!("CCIPAT_{}_{}", rand(ALNUM, 22, 301), rand(HEX, 40, 302)),
        Kind::ApiToken,
    ));
    v.push((
        format!("pcsk_{}_{}", rand(ALNUM, 5, 303), rand(ALNUM, 63, 304)),
        Kind::ApiToken,
    ));
    v.push((
        format!(
            "dt0c01.{}.{}",
            rand(UPPER_DIGITS, 24, 305),
            rand(UPPER_DIGITS, 64, 306)
        ),
        Kind::ApiToken,
    ));
    v.push((
        format!("xkeysib-{}-{}", rand(HEX, 64, 307), rand(ALNUM, 16, 308)),
        Kind::ApiToken,
    ));
    v.push((
        format!("re_{}_{}", rand(ALNUM, 8, 309), rand(ALNUM, 24, 310)),
        Kind::ApiToken,
    ));
    v.push((
        format!("SWMTKN-1-{}-{}", rand(HEX, 50, 311), rand(HEX, 25, 312)),
        Kind::ApiToken,
    ));
    v.push((format!("dapi{}-2", rand(HEX, 32, 313)), Kind::ApiToken));
    v.push((
        format!("ABIA{}", rand("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 314)),
        Kind::AwsAccessKeyId,
    ));
    v.push((format!("xoxc-{}", rand(ALNUM, 60, 315)), Kind::SlackToken));
    v
}

#[test]
fn provider_tokens_are_found_whole_in_prose_env_and_json() {
    for (token, kind) in tokens() {
        for text in [
            format!("use {token} for the deploy."),
            format!("CREDS={token}\n"),
            json!({"value": token}).to_string(),
        ] {
            only(&text, kind, &token);
        }
        // Glued inside a longer identifier it is not a token.
        let glued = format!("x{token}");
        assert!(found(&glued).iter().all(|(k, _)| *k != kind), "{glued}");
    }
}

#[test]
fn azure_connection_strings_and_gcp_service_account_keys() {
    let key = format!("{}==", rand(&format!("{ALNUM}+/"), 86, 7));
    let conn = format!(
        "DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey={key};EndpointSuffix=core.windows.net"
    );
    let f = found(&conn);
    assert!(f.iter().any(|(_, v)| *v == key), "{conn}: {f:?}");

    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n{}\n-----END PRIVATE KEY-----\n",
        rand(ALNUM, 64, 8),
        rand(ALNUM, 64, 9)
    );
    let sa = json!({"type": "service_account", "project_id": "demo-1",
        "private_key_id": rand(HEX, 40, 10), "private_key": pem,
        "client_email": "svc@demo-1.iam.gserviceaccount.com"});
    // As a tool returns it: json.dumps(sa) as the text of a result.
    let text = serde_json::to_string(&sa).unwrap();
    let out = default_scrubber().scrub(&text);
    let v: Value = serde_json::from_str(&out.text).unwrap();
    assert_eq!(v["private_key"], "[REDACTED:PRIVATE_KEY]\n", "{}", out.text);
    assert_eq!(v["type"], "service_account");
}

/// Honest values under keys that contain `token` or `password` but are not credentials.
fn pagination_document() -> Value {
    json!({
        "items": [],
        "nextPageToken": "CiAKGjBpNDd2Nmp2Zml2cXRiMjZsMnJ2cWMwZxIIQUJDREVGR0g",
        "page_token": "eyJvZmZzZXQiOjEwMCwibGltaXQiOjUwfQ",
        "continuation_token": "1#aXRlbS0wMDQyNA==#7f3a9c",
        "idempotency_token": "a1b2c3d4-5e6f-4a8b-9c0d-112233445566",
        "NextToken": "AAMA-EFRSURBSGhGM2x6b1ZSWG5tTFBwRXhJWFBB",
        "password_last_changed": "2024-03-01T10:22:31Z",
        "password_expires_at": "2025-03-01T10:22:31Z",
        "token_type": "Bearer",
        "cursor": {"next_token": "dXNlcjo0MjQyNDI0Mg", "prev_token": "dXNlcjo0MjQyNDE5OQ"},
    })
}

#[test]
fn pagination_cursors_and_password_metadata_are_not_secrets() {
    let doc = pagination_document();
    let body = doc.to_string();
    let (out, report) = scrub_json_text(default_scrubber(), body.as_bytes()).unwrap();
    assert_eq!(report.total(), 0, "{}", String::from_utf8_lossy(&out));
    // As text (a log line, an env dump) too.
    for (k, v) in doc.as_object().unwrap() {
        if let Some(v) = v.as_str() {
            let line = format!("{k}={v}");
            assert!(found(&line).is_empty(), "{line}: {:?}", found(&line));
        }
    }
}

#[test]
fn real_credentials_under_token_keys_are_still_masked() {
    let doc = json!({
        "access_token": "x9Kd2LmQ7vR4tZ8pN1sW6yB3",
        "client_secret": "Q2w9E8r7T6y5U4i3O2p1",
        "refresh_token": "1//0gH7kLmN9pQ2rS4tU6vW8",
        "password": "Tr0ub4dor&3xq",
        "AccountKey": rand(&format!("{ALNUM}+/"), 86, 11),
    });
    let body = doc.to_string();
    let (_, report) = scrub_json_text(default_scrubber(), body.as_bytes()).unwrap();
    assert_eq!(report.total(), 5, "{body}");
}

#[test]
fn random_letters_under_secret_keys_and_dollar_passwords_are_secrets() {
    for (text, value) in [
        ("apiKey=cfCWAyqPufFPKyyWdwHF\n", "cfCWAyqPufFPKyyWdwHF"),
        ("auth_token: sDjtPFQqNshCANqN\n", "sDjtPFQqNshCANqN"),
        (
            "DATABASE_URL=postgresql://app:$Ah76F84nqGePDn@db.internal:5432/app",
            "$Ah76F84nqGePDn",
        ),
    ] {
        let f = found(text);
        assert!(f.iter().any(|(_, v)| *v == value), "{text}: {f:?}");
    }
    // Names and references under the same keys are not.
    for text in ["secret_name=MyApplicationName", "password=$DB_PASSWORD"] {
        assert!(found(text).is_empty(), "{text}: {:?}", found(text));
    }
}
