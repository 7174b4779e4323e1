//! What a detector found: the kind of data, where it is, and how sure we are.
//!
//! Kind names are a stable, snake_case vocabulary: operators write them in configuration,
//! dashboards group audit records by them, and placeholders (`[REDACTED:EMAIL]`) are their
//! upper-case form. Renaming one is a breaking change.

use serde::Deserialize;
use std::fmt;
use std::ops::Range;

/// The kind of sensitive data a finding is.
///
/// The declaration order is the last tie-break of the overlap rule (see
/// [`super::overlap`]): more specific secret formats come before the generic ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A PEM private key block (RSA, EC, OPENSSH, ENCRYPTED, PGP ...), header to footer.
    PrivateKey,
    /// An AWS access key id (`AKIA...`/`ASIA...`).
    AwsAccessKeyId,
    /// An AWS secret access key (40 base64 characters next to AWS context).
    AwsSecretAccessKey,
    /// A GitHub token, classic (`ghp_` ...) or fine-grained (`github_pat_`).
    GithubToken,
    /// A GitLab token of any type (`glpat-`, `gldt-`, `glrt-`, `glptt-`, `glcbt-` ...).
    GitlabToken,
    /// A Slack API or app token (`xoxb-`, `xoxp-`, `xapp-`, `xoxe.` ...).
    SlackToken,
    /// A Slack incoming-webhook URL path (`hooks.slack.com/services/...`).
    SlackWebhook,
    /// A Stripe secret or restricted key (`sk_live_`, `rk_live_`, `sk_test_`).
    StripeKey,
    /// A Google API key (`AIza...`).
    GoogleApiKey,
    /// An Anthropic API key (`sk-ant-...`).
    AnthropicApiKey,
    /// An OpenAI-style API key (`sk-...`, `sk-proj-...`).
    OpenaiApiKey,
    /// A JSON Web Token whose header decodes to JSON naming an `alg`.
    Jwt,
    /// The password of a `scheme://user:password@host` URL (only the password is masked).
    UrlPassword,
    /// A credential in another provider's documented format (Hugging Face `hf_`, npm
    /// `npm_`, PyPI `pypi-`, SendGrid `SG.`, Shopify `shpat_`, Twilio `SK`, Square
    /// `sq0atp-`, age `AGE-SECRET-KEY-1` ...; see `secrets::PROVIDERS`).
    ApiToken,
    /// The value of a `password=` / `api_key:` / `token:` ... assignment that looks random.
    GenericSecret,
    /// An e-mail address.
    Email,
    /// A payment card number (Luhn-valid, known issuer prefix).
    CreditCard,
    /// An IBAN (known country length, mod-97 valid).
    Iban,
    /// A US social security number (valid ranges only).
    Ssn,
    /// A phone number (E.164 or a common national format).
    Phone,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// An operator-defined detector: index into the configuration's `custom` list.
    #[serde(skip)]
    Custom(u16),
}

impl Kind {
    /// Every built-in kind, in overlap tie-break order.
    pub const BUILTIN: [Kind; 21] = [
        Kind::PrivateKey,
        Kind::AwsAccessKeyId,
        Kind::AwsSecretAccessKey,
        Kind::GithubToken,
        Kind::GitlabToken,
        Kind::SlackToken,
        Kind::SlackWebhook,
        Kind::StripeKey,
        Kind::GoogleApiKey,
        Kind::AnthropicApiKey,
        Kind::OpenaiApiKey,
        Kind::Jwt,
        Kind::UrlPassword,
        Kind::ApiToken,
        Kind::GenericSecret,
        Kind::Email,
        Kind::CreditCard,
        Kind::Iban,
        Kind::Ssn,
        Kind::Phone,
        Kind::IpAddress,
    ];

    /// The stable snake_case name (`credit_card`); `custom` for operator-defined kinds,
    /// whose own names are known to the [`super::Scrubber`] that owns them.
    pub fn as_str(self) -> &'static str {
        self.names().0
    }

    /// The upper-case label used in placeholders (`CREDIT_CARD`).
    pub fn label(self) -> &'static str {
        self.names().1
    }

    fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::PrivateKey => ("private_key", "PRIVATE_KEY"),
            Kind::AwsAccessKeyId => ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
            Kind::AwsSecretAccessKey => ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
            Kind::GithubToken => ("github_token", "GITHUB_TOKEN"),
            Kind::GitlabToken => ("gitlab_token", "GITLAB_TOKEN"),
            Kind::SlackToken => ("slack_token", "SLACK_TOKEN"),
            Kind::SlackWebhook => ("slack_webhook", "SLACK_WEBHOOK"),
            Kind::StripeKey => ("stripe_key", "STRIPE_KEY"),
            Kind::GoogleApiKey => ("google_api_key", "GOOGLE_API_KEY"),
            Kind::AnthropicApiKey => ("anthropic_api_key", "ANTHROPIC_API_KEY"),
            Kind::OpenaiApiKey => ("openai_api_key", "OPENAI_API_KEY"),
            Kind::Jwt => ("jwt", "JWT"),
            Kind::UrlPassword => ("url_password", "URL_PASSWORD"),
            Kind::ApiToken => ("api_token", "API_TOKEN"),
            Kind::GenericSecret => ("generic_secret", "GENERIC_SECRET"),
            Kind::Email => ("email", "EMAIL"),
            Kind::CreditCard => ("credit_card", "CREDIT_CARD"),
            Kind::Iban => ("iban", "IBAN"),
            Kind::Ssn => ("ssn", "SSN"),
            Kind::Phone => ("phone", "PHONE"),
            Kind::IpAddress => ("ip_address", "IP_ADDRESS"),
            Kind::Custom(_) => ("custom", "CUSTOM"),
        }
    }

    /// Secrets grant access; PII describes people. Secrets win overlaps.
    pub fn is_secret(self) -> bool {
        matches!(self.class(), Class::Secret)
    }

    /// Overlap class rank: secrets, then built-in PII, then operator-defined kinds.
    pub(crate) fn class(self) -> Class {
        match self {
            Kind::Email
            | Kind::CreditCard
            | Kind::Iban
            | Kind::Ssn
            | Kind::Phone
            | Kind::IpAddress => Class::Pii,
            Kind::Custom(_) => Class::Custom,
            _ => Class::Secret,
        }
    }

    /// Position in a dense per-kind table (built-ins only).
    pub(crate) fn index(self) -> Option<usize> {
        Kind::BUILTIN.iter().position(|k| *k == self)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Overlap class, in priority order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Class {
    Secret,
    Pii,
    Custom,
}

/// How sure a detector is; reported so audit consumers can weigh findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Confidence {
    /// Shape only, helped by nearby words (a 9-digit number after "SSN").
    Low,
    /// Shape plus a validity check that random data passes now and then.
    Medium,
    /// A distinctive prefix or a strong checksum: almost never wrong.
    High,
}

/// One piece of sensitive data in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What it is.
    pub kind: Kind,
    /// Byte range in the scanned text; always on `char` boundaries.
    pub span: Range<usize>,
    /// How sure the detector is.
    pub confidence: Confidence,
}

impl Finding {
    /// Shorthand used by every detector.
    pub(crate) fn new(kind: Kind, span: Range<usize>, confidence: Confidence) -> Self {
        Self {
            kind,
            span,
            confidence,
        }
    }
}

/// A set of built-in kinds (operator-defined kinds are always on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KindSet(u32);

impl KindSet {
    /// Every built-in kind.
    pub fn all() -> Self {
        Kind::BUILTIN
            .iter()
            .fold(Self::default(), |s, k| s.with(*k))
    }

    /// This set plus `kind`.
    pub fn with(self, kind: Kind) -> Self {
        match kind.index() {
            Some(i) => Self(self.0 | (1 << i)),
            None => self,
        }
    }

    /// Whether `kind` is in the set; operator-defined kinds always are.
    pub fn contains(self, kind: Kind) -> bool {
        kind.index().is_none_or(|i| self.0 & (1 << i) != 0)
    }
}
