//! Secret detectors: well-formed fake credentials of every supported format.
// Tests: a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{found, only};
use meshguard_core::scrub::Kind;

/// `n` characters cycling through upper case, lower case and digits.
fn random_ish(n: usize) -> String {
    const ALPHABET: &[u8] = b"aB3dE5gH7jK9mN1pQ2sT4vW6yZ8cF0xR";
    (0..n)
        .map(|i| ALPHABET[(i * 7 + 3) % ALPHABET.len()] as char)
        .collect()
}

const AWS_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

#[test]
fn aws_access_key_ids() {
    only(&format!("key {AWS_ID} used"), Kind::AwsAccessKeyId, AWS_ID);
    only(
        "temp ASIAY34FZKBOKMUTVV7A.",
        Kind::AwsAccessKeyId,
        "ASIAY34FZKBOKMUTVV7A",
    );
    assert!(found("XAKIAIOSFODNN7EXAMPLE").is_empty());
    assert!(found("AKIAIOSFODNN7EXAMPLE1").is_empty());
    assert!(found("AKIA1234").is_empty());
}

#[test]
fn aws_secret_keys_need_context() {
    let env = format!("aws_secret_access_key = {AWS_SECRET}");
    only(&env, Kind::AwsSecretAccessKey, AWS_SECRET);
    let json = format!(r#"{{"SecretAccessKey": "{AWS_SECRET}"}}"#);
    only(&json, Kind::AwsSecretAccessKey, AWS_SECRET);
    let csv = format!("{AWS_ID},{AWS_SECRET}");
    assert_eq!(
        found(&csv),
        vec![
            (Kind::AwsAccessKeyId, AWS_ID),
            (Kind::AwsSecretAccessKey, AWS_SECRET)
        ]
    );
    assert!(
        found(&format!("blob {AWS_SECRET} end")).is_empty(),
        "no context, no finding"
    );
}

#[test]
fn github_tokens() {
    for prefix in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
        let tok = format!("{prefix}{}", random_ish(36));
        only(&format!("token {tok} end"), Kind::GithubToken, &tok);
    }
    let pat = format!("github_pat_{}", random_ish(82));
    only(&format!("GH={pat}\n"), Kind::GithubToken, &pat);
    assert!(
        found(&format!("ghp_{}", random_ish(20))).is_empty(),
        "too short"
    );
}

#[test]
fn gitlab_slack_stripe_google() {
    let gl = format!("glpat-{}", random_ish(20));
    only(&format!("use {gl} please"), Kind::GitlabToken, &gl);
    for p in ["xoxb", "xoxp", "xoxa", "xoxr", "xoxs"] {
        let tok = format!("{p}-123456789012-1234567890123-{}", random_ish(24));
        only(&format!("slack {tok}"), Kind::SlackToken, &tok);
    }
    let hook = "hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";
    only(&format!("POST https://{hook}"), Kind::SlackWebhook, hook);
    for p in ["sk_live_", "rk_live_", "sk_test_"] {
        let tok = format!("{p}{}", random_ish(24));
        only(&format!("stripe: {tok}"), Kind::StripeKey, &tok);
    }
    let g = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY";
    only(&format!("key={g}&q=1"), Kind::GoogleApiKey, g);
}

#[test]
fn openai_and_anthropic_keys() {
    let classic = format!("sk-{}", random_ish(48));
    only(&format!("OPENAI {classic}"), Kind::OpenaiApiKey, &classic);
    let proj = format!("sk-proj-{}_{}", random_ish(40), random_ish(20));
    only(&format!("key: {proj}"), Kind::OpenaiApiKey, &proj);
    let ant = format!("sk-ant-api03-{}-{}AA", random_ish(60), random_ish(30));
    only(&format!("x {ant} y"), Kind::AnthropicApiKey, &ant);
    assert!(
        found("use risk-assessment-framework-version and sk-learn-compatible-estimators")
            .is_empty()
    );
}

#[test]
fn jwts_are_validated_by_their_header() {
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    only(&format!("Authorization: Bearer {jwt}"), Kind::Jwt, jwt);
    only(&format!("t={jwt}."), Kind::Jwt, jwt);
    // {"typ":"x"} has no alg: three base64 segments, but not a JWT.
    let fake = "eyJ0eXAiOiJ4In0.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl";
    assert!(found(fake).is_empty());
}

#[test]
fn pem_private_keys_multi_line() {
    for label in ["RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", ""] {
        let pem = format!(
            "-----BEGIN {label}PRIVATE KEY-----\nMIIEowIBAAKCAQEA{}\n{}==\n-----END {label}PRIVATE KEY-----",
            random_ish(48),
            random_ish(30)
        );
        let text = format!("key:\n{pem}\ntrailing text");
        only(&text, Kind::PrivateKey, &pem);
    }
    let escaped =
        "\"-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA\\n-----END RSA PRIVATE KEY-----\"";
    only(escaped, Kind::PrivateKey, &escaped[1..escaped.len() - 1]);
    let truncated = format!(
        "-----BEGIN PRIVATE KEY-----\nMIIEv{}\n{}",
        random_ish(64),
        random_ish(20)
    );
    only(&truncated, Kind::PrivateKey, &truncated);
    assert!(found("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----").is_empty());
    let encrypted = format!(
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F17F5316E2BAC89\n\n{}\n-----END RSA PRIVATE KEY-----",
        random_ish(64)
    );
    only(&encrypted, Kind::PrivateKey, &encrypted);
}

/// A PEM header with no key material after it is a mention: docs say what a key file
/// starts with, or show a placeholder. The prose after it stays.
#[test]
fn pem_headers_without_a_key_are_mentions() {
    for text in [
        "Keys are PKCS#8 files that start with the type label, e.g.:\n\n```text\n-----BEGIN PRIVATE KEY-----\n```\n\nPKCS#8 support is gated under the `pkcs8` feature. The `pem` feature, which is enabled by default, adds PEM decoding.",
        "Paste it as -----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY----- into the field.",
        "{\"pem\": \"-----BEGIN PRIVATE KEY-----\\n<your key here>\\n-----END PRIVATE KEY-----\"}",
        "The header -----BEGIN OPENSSH PRIVATE KEY----- marks the new format, see the docs for more.",
    ] {
        assert!(found(text).is_empty(), "{text}: {:?}", found(text));
    }
}

#[test]
fn url_credentials_mask_only_the_password() {
    only(
        "DATABASE_URL=postgres://admin:s3cr3t-P4ss@db.internal:5432/app",
        Kind::UrlPassword,
        "s3cr3t-P4ss",
    );
    only(
        "redis://:Zx9pL2qW@cache:6379/0",
        Kind::UrlPassword,
        "Zx9pL2qW",
    );
    only(
        "mongodb+srv://app:p%40ss!9@cluster0.example.net/db",
        Kind::UrlPassword,
        "p%40ss!9",
    );
    assert!(found("https://example.com:8443/path and http://user@host/").is_empty());
    assert!(found("postgres://app:${DB_PASSWORD}@db:5432/app").is_empty());
}

#[test]
fn generic_assignments_pass_the_entropy_test() {
    only(
        "login ok password=hunter2x9 user=bob",
        Kind::GenericSecret,
        "hunter2x9",
    );
    only(
        r#"{"api_key": "9f8e7d6c5b4a39281706f5e4"}"#,
        Kind::GenericSecret,
        "9f8e7d6c5b4a39281706f5e4",
    );
    only(
        "auth:\n  token: ab12CD34ef56GH78\n",
        Kind::GenericSecret,
        "ab12CD34ef56GH78",
    );
    only(
        "DB_PASSWORD=Tr0ub4dor3x\n",
        Kind::GenericSecret,
        "Tr0ub4dor3x",
    );
    only(
        "client_secret: 'q8Zr2LmP0wXy7Tn4'",
        Kind::GenericSecret,
        "q8Zr2LmP0wXy7Tn4",
    );
    only(
        "passwd => \"c0rrect horse\"",
        Kind::GenericSecret,
        "c0rrect horse",
    );
    only(
        r#"log: {\"password\":\"Sup3rS3cret\"}"#,
        Kind::GenericSecret,
        "Sup3rS3cret",
    );
}

#[test]
fn generic_assignments_skip_placeholders_and_low_entropy() {
    for text in [
        "password=changeme",
        r#""password": "***""#,
        "api_key=<redacted>",
        "token: ${API_TOKEN}",
        "password=[REDACTED:GENERIC_SECRET]",
        r#""max_tokens": 4096, "prompt_tokens": 1200"#,
        "token_count: 12",
        "Reset your password: Please use the link",
        "secretName: postgres-credentials",
        "token_url: https://auth.example.com/oauth2/token",
        "token_type: Bearer",
    ] {
        assert!(found(text).is_empty(), "{text}: {:?}", found(text));
    }
}

#[test]
fn bearer_tokens_in_log_lines() {
    let tok = random_ish(32);
    only(
        &format!("authorization: Bearer {tok}"),
        Kind::GenericSecret,
        &tok,
    );
}
