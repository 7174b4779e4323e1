//! Provider-documented credential formats: a table of prefixes with the body each provider
//! publishes (character set and length), checked against every long token of the text.
//!
//! One byte loop cuts the text into tokens (`[A-Za-z0-9_.-]` runs); only tokens of at least
//! [`MIN_TOKEN`] bytes are compared with the table, by prefix, and the body is then checked
//! by character class and length, without a regex for all but a few multi-part formats. A
//! token must match whole: a prefix glued inside a longer identifier is not a credential.

use super::kind::{Confidence, Finding, Kind};
use regex::Regex;
use std::sync::LazyLock;

/// Shortest token worth comparing with the table (the shortest format, Alibaba's `LTAI`
/// key id, has 16 bytes).
pub const MIN_TOKEN: usize = 16;
/// Longest token compared (Atlassian API tokens have 192 bytes, Dropbox's up to ~1,300).
const MAX_TOKEN: usize = 2048;

/// Characters a token body may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// `[A-Za-z0-9]`
    Alnum,
    /// `[0-9a-fA-F]`
    Hex,
    /// `[0-9a-f]`
    HexLower,
    /// `[A-Za-z0-9_-]`
    Url,
    /// `[A-Za-z0-9_.-]`
    UrlDot,
    /// Bech32 upper case (age keys).
    Bech32Upper,
}

impl Class {
    fn allows(self, c: u8) -> bool {
        match self {
            Class::Alnum => c.is_ascii_alphanumeric(),
            Class::Hex => c.is_ascii_hexdigit(),
            Class::HexLower => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
            Class::Url => c.is_ascii_alphanumeric() || c == b'_' || c == b'-',
            Class::UrlDot => c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'),
            Class::Bech32Upper => b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L".contains(&c),
        }
    }
}

/// One provider format: the token is `prefix` then `min..=max` bytes of `class`.
struct Provider {
    prefix: &'static str,
    class: Class,
    min: usize,
    max: usize,
    kind: Kind,
}

const fn p(prefix: &'static str, class: Class, min: usize, max: usize, kind: Kind) -> Provider {
    Provider {
        prefix,
        class,
        min,
        max,
        kind,
    }
}

use Class::{Alnum, Bech32Upper, Hex, HexLower, Url, UrlDot};
use Kind::{ApiToken as Api, GitlabToken as Gitlab, SlackToken as Slack, StripeKey as Stripe};

/// Provider formats as documented by each provider (token prefixes and body shapes).
/// GitHub, classic Slack, Stripe secret keys, Google API keys, OpenAI, Anthropic and AWS
/// keep their own detectors in [`super::secrets`].
const PROVIDERS: &[Provider] = &[
    // GitLab token family (docs.gitlab.com "Token prefixes").
    // Routable tokens carry a `.<version>.<checksum>` tail and run to ~300 bytes.
    p("glpat-", UrlDot, 20, 320, Gitlab),
    p("gldt-", UrlDot, 20, 80, Gitlab),
    p("glrt-", UrlDot, 20, 320, Gitlab),
    p("glrtr-", UrlDot, 20, 80, Gitlab),
    p("glptt-", UrlDot, 20, 80, Gitlab),
    p("glft-", UrlDot, 20, 80, Gitlab),
    p("glimt-", UrlDot, 20, 80, Gitlab),
    p("glagent-", UrlDot, 20, 120, Gitlab),
    p("glcbt-", UrlDot, 20, 120, Gitlab),
    p("gloas-", UrlDot, 20, 120, Gitlab),
    p("glsoat-", UrlDot, 20, 80, Gitlab),
    p("glffct-", UrlDot, 20, 80, Gitlab),
    p("glwt-", UrlDot, 20, 80, Gitlab),
    p("GR1348941", UrlDot, 20, 80, Gitlab),
    // Slack app-level and rotating tokens.
    p("xapp-", Url, 20, 250, Slack),
    p("xoxe.xoxp-", Url, 20, 250, Slack),
    p("xoxe.xoxb-", Url, 20, 250, Slack),
    p("xoxe-", Url, 20, 250, Slack),
    // Browser session cookie (`d`); `%2F`-escaped, so a run of it is enough.
    p("xoxd-", Url, 40, 2000, Slack),
    // Stripe webhook signing secrets.
    p("whsec_", Alnum, 32, 64, Stripe),
    // Hugging Face user and organisation tokens.
    p("hf_", Alnum, 30, 40, Api),
    p("api_org_", Alnum, 30, 40, Api),
    // Package registries.
    p("npm_", Alnum, 36, 36, Api),
    p("pypi-AgEIcHlwaS5vcmc", Url, 50, 400, Api),
    p("pypi-AgENdGVzdC5weXBpLm9yZw", Url, 50, 400, Api),
    p("rubygems_", HexLower, 48, 48, Api),
    p("oy2", HexLower, 43, 43, Api),
    p("dckr_pat_", Url, 27, 60, Api),
    p("AKCp", Alnum, 60, 80, Api),
    // Commerce and messaging.
    p("shpat_", Hex, 32, 32, Api),
    p("shpss_", Hex, 32, 32, Api),
    p("shpca_", Hex, 32, 32, Api),
    p("shppa_", Hex, 32, 32, Api),
    p("SK", Hex, 32, 32, Api),
    p("AC", HexLower, 32, 32, Api),
    p("sq0atp-", Url, 22, 22, Api),
    p("sq0csp-", Url, 43, 43, Api),
    p("EAAA", Url, 22, 60, Api),
    p("shippo_live_", Hex, 40, 40, Api),
    p("shippo_test_", Hex, 40, 40, Api),
    // Encryption tools.
    p("AGE-SECRET-KEY-1", Bech32Upper, 58, 58, Api),
    // Cloud and infrastructure.
    p("dop_v1_", HexLower, 64, 64, Api),
    p("doo_v1_", HexLower, 64, 64, Api),
    p("dor_v1_", HexLower, 64, 64, Api),
    // Databricks: 32 hex, optionally `-<digit>`.
    p("dapi", Url, 32, 34, Api),
    p("hvs.", Url, 24, 200, Api),
    p("hvb.", Url, 24, 200, Api),
    p("pul-", HexLower, 40, 40, Api),
    p("LTAI", Alnum, 12, 20, Api),
    p("AKID", Alnum, 32, 32, Api),
    p("GOCSPX-", Url, 28, 28, Api),
    p("ya29.", Url, 30, 2000, Api),
    p("sbp_", Url, 40, 40, Api),
    p("sb_secret_", Url, 31, 31, Api),
    p("pscale_tkn_", UrlDot, 32, 64, Api),
    p("pscale_pw_", UrlDot, 32, 64, Api),
    p("pscale_oauth_", UrlDot, 32, 64, Api),
    p("fo1_", Url, 43, 43, Api),
    p("nfp_", Alnum, 36, 40, Api),
    p("HRKU-", Url, 20, 80, Api),
    p("dp.pt.", Alnum, 40, 44, Api),
    p("dp.st.", UrlDot, 40, 80, Api),
    p("tskey-", Url, 20, 100, Api),
    // Observability and developer tools.
    p("glc_", Alnum, 32, 400, Api),
    p("NRAK-", Alnum, 27, 27, Api),
    p("NRJS-", HexLower, 19, 19, Api),
    // Sentry org tokens are base64 with `+/`: the run before the first one is enough.
    p("sntrys_", Url, 20, 400, Api),
    p("sntryu_", HexLower, 64, 64, Api),
    p("ATATT3", Url, 150, 250, Api),
    p("ATCTT3", Url, 150, 250, Api),
    p("lin_api_", Alnum, 40, 40, Api),
    p("ntn_", Alnum, 40, 50, Api),
    p("figd_", Url, 40, 60, Api),
    p("bkua_", HexLower, 40, 40, Api),
    p("CFPAT-", Url, 43, 43, Api),
    p("sl.", Url, 130, 1400, Api),
    // AI providers.
    p("r8_", Alnum, 37, 37, Api),
    p("gsk_", Alnum, 52, 52, Api),
    p("xai-", Alnum, 70, 90, Api),
    p("pplx-", Alnum, 48, 48, Api),
    p("llx-", Alnum, 44, 52, Api),
    p("sk_car_", Url, 20, 20, Api),
    p("pcsk_", Url, 69, 70, Api),
    p("sk-lf-", UrlDot, 36, 36, Api),
    p("apify_api_", Alnum, 34, 38, Api),
    p("rpa_", Alnum, 30, 46, Api),
    p("AQ.Ab8RN6", Url, 44, 44, Api),
    p("bedrock-api-key-", Url, 40, 4000, Api),
    // Password managers and secret stores (base64 bodies: a run up to `+/=` is enough).
    p("A3-", Url, 36, 37, Api),
    p("ops_eyJ", Url, 40, 4000, Api),
    p("s.", Alnum, 24, 24, Api),
    // Code hosting, CI and package registries.
    p("BBDC-", Alnum, 32, 200, Api),
    p("bkaa_", Url, 75, 75, Api),
    p("bkaj_", Url, 333, 333, Api),
    p("bkar_", Url, 73, 73, Api),
    p("bkct_", Url, 73, 73, Api),
    p("bkpt_", Url, 199, 199, Api),
    p("bkpat_", Url, 54, 54, Api),
    p("bkps_", Url, 64, 64, Api),
    p("CCIPAT_", Url, 63, 63, Api),
    p("CCIPRJ_", Url, 63, 63, Api),
    p("cmVmd", Alnum, 59, 59, Api),
    p("csa_", Alnum, 36, 36, Api),
    p("dckr_oat_", Url, 32, 32, Api),
    p("SWMTKN-1-", Url, 75, 92, Api),
    p("SWMKEY-1-", Url, 40, 50, Api),
    p("ddp_", Alnum, 36, 36, Api),
    p("ddo_", Alnum, 36, 36, Api),
    p("ico-", Alnum, 32, 32, Api),
    p("ion_", Alnum, 42, 42, Api),
    p("mergify_application_key_", Url, 40, 200, Api),
    p("packagist_ort_", HexLower, 68, 68, Api),
    p("packagist_out_", HexLower, 68, 68, Api),
    p("packagist_acs_", HexLower, 64, 96, Api),
    p("packagist_ack_", HexLower, 28, 32, Api),
    p("PMAT-", Alnum, 26, 26, Api),
    p("pat.", UrlDot, 68, 68, Api),
    p("sat.", UrlDot, 68, 68, Api),
    p("AIK_CI_", Alnum, 20, 44, Api),
    p("AIK_SECRET_", Alnum, 64, 64, Api),
    p("cog_", Alnum, 52, 52, Api),
    p("apk_", Url, 80, 100, Api),
    // Cloud, data and infrastructure.
    p("STS.", Alnum, 16, 64, Api),
    p("4b1d", Alnum, 38, 38, Api),
    p("CCDB1_", Url, 63, 63, Api),
    p("dt0c01.", UrlDot, 89, 89, Api),
    p("essu_", Url, 60, 200, Api),
    p("EXO", Alnum, 24, 30, Api),
    p("mdb_sa_sk_", Url, 40, 40, Api),
    p("napi_", Alnum, 64, 64, Api),
    p("rnd_", Alnum, 28, 28, Api),
    p("tk-us-", Url, 48, 48, Api),
    p("ucat_", Alnum, 24, 32, Api),
    p("unkey_", Alnum, 20, 32, Api),
    p("vtwn_", Url, 20, 80, Api),
    p("zpka_", Url, 41, 41, Api),
    p("wrka", UrlDot, 90, 2000, Api),
    p("dvc_server_", Alnum, 8, 32, Api),
    p("eyJrIjoi", Url, 40, 380, Api),
    p("eyJtaXJv", Url, 30, 130, Api),
    p("sm_aat_", Alnum, 16, 16, Api),
    p("sm_pat_", Alnum, 16, 16, Api),
    p("sm_sat_", Alnum, 16, 16, Api),
    p("s-s4t2ud-", HexLower, 64, 64, Api),
    p("s-s4t2af-", HexLower, 64, 64, Api),
    // Payments, commerce and identity.
    p("p8e-", Alnum, 32, 32, Api),
    p("EZAK", Alnum, 54, 54, Api),
    p("EZTK", Alnum, 54, 54, Api),
    p("duffel_live_", UrlDot, 43, 43, Api),
    p("duffel_test_", UrlDot, 43, 43, Api),
    p("FLWSECK-", Url, 32, 40, Api),
    p("FLWSECK_TEST-", Url, 12, 40, Api),
    p("pdl_live_apikey_", Url, 53, 53, Api),
    p("pdl_sdbx_apikey_", Url, 53, 53, Api),
    p("persona_production_", Url, 20, 80, Api),
    p("ramp_sec_", Alnum, 48, 48, Api),
    p("rzp_live_", Alnum, 14, 14, Api),
    p("mercury_production_", Url, 50, 70, Api),
    p("xnd_production_", Alnum, 56, 72, Api),
    p("xnd_development_", Alnum, 56, 72, Api),
    p("api_live.", UrlDot, 20, 80, Api),
    p("api_live_us.", UrlDot, 20, 80, Api),
    p("api_live_ca.", UrlDot, 20, 80, Api),
    p("prf_", Url, 20, 84, Api),
    // Messaging, social and SaaS.
    p("EAAC", Alnum, 100, 400, Api),
    p("EAAM", Alnum, 100, 400, Api),
    p("xkeysib-", Url, 81, 81, Api),
    p("mlsn.", Alnum, 30, 100, Api),
    p("re_", Url, 33, 33, Api),
    p("nyk_", Alnum, 67, 67, Api),
    p("pina_", Url, 20, 200, Api),
    p("cnvca", Url, 51, 51, Api),
    p("lip_", Url, 16, 60, Api),
    p("sgp_", Alnum, 64, 64, Api),
    p("rdme_", Alnum, 70, 70, Api),
    p("rootly_", HexLower, 64, 64, Api),
    p("samsara_api_", Alnum, 26, 32, Api),
    p("polar_at_", Url, 20, 100, Api),
    p("polar_oat_", Url, 20, 100, Api),
    p("polar_pat_", Url, 20, 100, Api),
    p("pnu_", Alnum, 36, 36, Api),
    p("fio-u-", UrlDot, 64, 64, Api),
    p("API-", Alnum, 26, 26, Api),
    p("BSA", Url, 24, 40, Api),
];

/// Formats of several parts, checked by a `^...$` regex on the whole token.
struct Shaped {
    prefix: &'static str,
    pattern: &'static str,
}

const SHAPED: &[Shaped] = &[
    // SendGrid: SG.<22>.<43>
    Shaped {
        prefix: "SG.",
        pattern: r"^SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$",
    },
    // Postman: PMAK-<24 hex>-<34 hex>
    Shaped {
        prefix: "PMAK-",
        pattern: r"^PMAK-[A-Fa-f0-9]{24}-[A-Fa-f0-9]{34}$",
    },
    // Grafana service account tokens.
    Shaped {
        prefix: "glsa_",
        pattern: r"^glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}$",
    },
    // LangSmith.
    Shaped {
        prefix: "lsv2_",
        pattern: r"^lsv2_(?:pt|sk)_[A-Fa-f0-9]{32}_[A-Fa-f0-9]{10}$",
    },
    // Airtable personal access tokens.
    Shaped {
        prefix: "pat",
        pattern: r"^pat[A-Za-z0-9]{14}\.[a-f0-9]{64}$",
    },
    // Mapbox secret tokens.
    Shaped {
        prefix: "sk.eyJ",
        pattern: r"^sk\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}$",
    },
    // Mailgun.
    Shaped {
        prefix: "key-",
        pattern: r"^key-[0-9a-z]{32}$",
    },
];

/// Formats recognised by their suffix or inner marker rather than a prefix.
struct Compiled {
    shaped: Vec<(&'static str, Regex)>,
    mailchimp: Regex,
    terraform: Regex,
    discord: Regex,
}

#[allow(clippy::expect_used)] // constants, compiled by the unit tests: cannot fail at run time
static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(p).expect("constant pattern");
    Compiled {
        shaped: SHAPED.iter().map(|s| (s.prefix, re(s.pattern))).collect(),
        mailchimp: re(r"^[0-9a-f]{32}-us[0-9]{1,2}$"),
        terraform: re(r"^[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_-]{60,70}$"),
        discord: re(r"^[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}$"),
    }
});

/// First bytes of every format: a token starting with anything else is skipped at once
/// (hex digests, UUIDs and most identifiers start with a digit or a lower-case letter
/// no provider prefix uses).
const FIRST_BYTES: &[u8] = b"0123456789abcdefghiklmnoprstuvwxyzABCEFGHLMNOPS";

/// `[A-Za-z0-9_.-]`, the bytes of a token, as a table: the cutter looks at every byte of
/// the text, and a lookup is a third of the instructions of the comparisons.
const TOKEN_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
        c += 1;
    }
    t
};

fn is_token_byte(c: u8) -> bool {
    TOKEN_BYTES[usize::from(c)]
}

/// For each first byte, the providers whose prefix starts with it (a long token is
/// compared with those alone, not with the whole table).
static BY_FIRST_BYTE: LazyLock<Vec<Vec<&'static Provider>>> = LazyLock::new(|| {
    let mut by = vec![Vec::new(); 256];
    for pr in PROVIDERS {
        by[usize::from(pr.prefix.as_bytes()[0])].push(pr);
    }
    by
});

/// The provider kind of a whole token, if it is a documented credential format.
pub fn classify(token: &str) -> Option<Kind> {
    let b = token.as_bytes();
    let first = *b.first()?;
    if !FIRST_BYTES.contains(&first) {
        return None;
    }
    for pr in &BY_FIRST_BYTE[usize::from(first)] {
        let Some(body) = b.strip_prefix(pr.prefix.as_bytes()) else {
            continue;
        };
        if (pr.min..=pr.max).contains(&body.len())
            && body.iter().all(|c| pr.class.allows(*c))
            && plausible(pr, body)
        {
            return Some(pr.kind);
        }
    }
    let c = &*COMPILED;
    for (prefix, re) in &c.shaped {
        if token.starts_with(prefix) && re.is_match(token) {
            return Some(Kind::ApiToken);
        }
    }
    let n = b.len();
    let mailchimp = (35..=37).contains(&n) && token.contains("-us") && c.mailchimp.is_match(token);
    let terraform =
        (80..=95).contains(&n) && token.contains(".atlasv1.") && c.terraform.is_match(token);
    let discord = matches!(first, b'M' | b'N' | b'O')
        && b.iter().filter(|x| **x == b'.').count() == 2
        && c.discord.is_match(token);
    (mailchimp || terraform || discord).then_some(Kind::ApiToken)
}

/// Random bodies mix character kinds; a word glued to a prefix (`SKILLSETSKILLSET...`) does
/// not. Hex bodies must hold digits and letters; alphanumeric ones digits or both cases.
fn plausible(pr: &Provider, body: &[u8]) -> bool {
    let digits = body.iter().any(u8::is_ascii_digit);
    let upper = body.iter().any(u8::is_ascii_uppercase);
    let lower = body.iter().any(u8::is_ascii_lowercase);
    match pr.class {
        Hex | HexLower => digits && (upper || lower),
        Bech32Upper => true,
        Alnum | Url | UrlDot => (digits && (upper || lower)) || (upper && lower),
    }
}

/// Every provider-format token in `text`.
///
/// Only tokens of [`MIN_TOKEN`] bytes or more are compared, so the cutter looks at the last
/// byte of the next `MIN_TOKEN` first and jumps past the last non-token byte among them
/// (the skip of Boyer-Moore): in prose a window holds a space a few bytes from its end,
/// and most bytes are never read.
pub fn scan(text: &str, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    // Every token of MIN_TOKEN bytes or more that is not yet seen starts at or after `i`,
    // and `i` is never inside a token (it follows a non-token byte, or is 0).
    let mut i = 0;
    while i + MIN_TOKEN <= b.len() {
        if let Some(gap) = b[i..i + MIN_TOKEN].iter().rposition(|c| !is_token_byte(*c)) {
            i += gap + 1;
            continue;
        }
        let start = i;
        i = b[start + MIN_TOKEN..]
            .iter()
            .position(|c| !is_token_byte(*c))
            .map_or(b.len(), |n| start + MIN_TOKEN + n);
        let mut end = i;
        while end > start && matches!(b[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let mut s = start;
        while s < end && matches!(b[s], b'.' | b'-') {
            s += 1;
        }
        if !(MIN_TOKEN..=MAX_TOKEN).contains(&(end - s)) {
            continue;
        }
        if let Some(kind) = classify(&text[s..end]) {
            out.push(Finding::new(kind, s..end, Confidence::High));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_covers_at_least_forty_providers_and_compiles() {
        let families: std::collections::BTreeSet<&str> = PROVIDERS
            .iter()
            .map(|p| p.prefix)
            .chain(SHAPED.iter().map(|s| s.prefix))
            .collect();
        assert!(families.len() >= 80, "{}", families.len());
        assert!(
            classify("SG.aaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
                .is_some()
        );
    }

    #[test]
    fn every_prefix_starts_with_a_first_byte_the_scan_looks_at() {
        for prefix in PROVIDERS
            .iter()
            .map(|p| p.prefix)
            .chain(SHAPED.iter().map(|s| s.prefix))
        {
            assert!(FIRST_BYTES.contains(&prefix.as_bytes()[0]), "{prefix}");
            let token_bytes = prefix.bytes().all(is_token_byte);
            assert!(token_bytes, "{prefix}: the token cutter would split it");
        }
    }

    /// The cutter as it was before the skip: every token, byte by byte.
    fn scan_every_byte(text: &str) -> Vec<std::ops::Range<usize>> {
        let b = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if !is_token_byte(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && is_token_byte(b[i]) {
                i += 1;
            }
            let (mut s, mut end) = (start, i);
            while end > s && matches!(b[end - 1], b'.' | b'-') {
                end -= 1;
            }
            while s < end && matches!(b[s], b'.' | b'-') {
                s += 1;
            }
            if (MIN_TOKEN..=MAX_TOKEN).contains(&(end - s)) && classify(&text[s..end]).is_some() {
                out.push(s..end);
            }
        }
        out
    }

    #[test]
    fn the_skipping_cutter_finds_what_a_byte_by_byte_cutter_finds() {
        let tokens = [
            "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            "npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            "glpat-AbCdEfGhIjKlMnOpQrSt",
            "SG.aaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            "pypi-AgEIcHlwaS5vcmcCJGE0ZjYtZjM4MS00NjQ3LWIxMzktNzE4MTg1ZGM2MmI0AAIqWzMsImI",
        ];
        let fillers = [
            " ",
            "",
            ".",
            "--",
            "\\n",
            "x",
            "é",
            "a_very_long_identifier_name ",
            "\"",
            "..-",
        ];
        let mut texts = Vec::new();
        for (k, t) in tokens.iter().enumerate() {
            for (m, f) in fillers.iter().enumerate() {
                let g = fillers[(k + m + 3) % fillers.len()];
                texts.push(format!("{f}{t}{g}"));
                texts.push(format!("see {f}{t}{g} and {t}"));
                texts.push(format!("{}{f}{t}", "word ".repeat(m)));
                texts.push(format!("{t}{f}{t}{g}{t}"));
            }
        }
        texts.push(std::fs::read_to_string(file!()).unwrap_or_default());
        let mut found = 0;
        for text in &texts {
            let mut out = Vec::new();
            scan(text, &mut out);
            let spans: Vec<_> = out.iter().map(|f| f.span.clone()).collect();
            assert_eq!(spans, scan_every_byte(text), "{text:?}");
            found += spans.len();
        }
        assert!(found > 150, "{found}");
    }

    #[test]
    fn words_glued_to_prefixes_are_not_tokens() {
        assert_eq!(classify("SKILLSETSKILLSETSKILLSETSKILLSET12"), None);
        assert_eq!(classify("hf_transformers_pipeline_default_cfg"), None);
        assert_eq!(classify("dapi_config_manager_helpers"), None);
    }
}
