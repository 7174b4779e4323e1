//! A local SPIFFE PKI for the mTLS tests and the local mesh: one CA per trust domain and
//! short-lived X.509 SVIDs (ECDSA P-256, URI SAN = the workload's SPIFFE id), written to PEM
//! files because Envoy reads certificates by filename.
//!
//! Negative tests need certificates Envoy must refuse, so the PKI also issues SVIDs from a
//! rogue CA (same subject name as the real one, different key: an attacker impersonating the
//! mesh CA) and SVIDs that have already expired.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use time::{Duration, OffsetDateTime};

/// The trust domain of the reference deployment (Istio's default).
pub const TRUST_DOMAIN: &str = "cluster.local";

/// SPIFFE ids of the reference deployment (DESIGN.md "Reference deployment"), so tests and
/// the local mesh name workloads the way the `istio/` manifests do.
pub mod ids {
    /// The SRE team's agent.
    pub const SRE_AGENT: &str = "spiffe://cluster.local/ns/agents-sre/sa/sre-agent";
    /// The security team's agent.
    pub const SECURITY_AGENT: &str = "spiffe://cluster.local/ns/agents-security/sa/security-agent";
    /// The Protocol Gateway.
    pub const GATEWAY: &str = "spiffe://cluster.local/ns/mesh-gateway/sa/mcp-gateway";
    /// The GitHub MCP server.
    pub const MCP_GITHUB: &str = "spiffe://cluster.local/ns/tools/sa/mcp-github";
    /// The payroll MCP server.
    pub const MCP_PAYROLL: &str = "spiffe://cluster.local/ns/tools/sa/mcp-payroll";
}

/// `spiffe://cluster.local/ns/<namespace>/sa/<service_account>`, Istio's identity format.
pub fn spiffe_id(namespace: &str, service_account: &str) -> String {
    format!("spiffe://{TRUST_DOMAIN}/ns/{namespace}/sa/{service_account}")
}

/// An X.509 SVID on disk: what a workload's Envoy needs to present its identity.
#[derive(Debug, Clone)]
pub struct Svid {
    /// The SPIFFE id carried as the certificate's URI SAN.
    pub spiffe_id: String,
    /// Leaf certificate (PEM file), for `certificate_chain.filename`.
    pub cert: PathBuf,
    /// PKCS#8 private key (PEM file), for `private_key.filename`.
    pub key: PathBuf,
    /// The certificate's PEM text, for tests that inspect or inline it.
    pub cert_pem: String,
    /// The private key's PEM text.
    pub key_pem: String,
}

/// How long a certificate is valid, relative to now.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    /// Start of validity relative to now (negative = in the past: a small backdate absorbs
    /// clock skew between the signer and the verifier).
    pub not_before: Duration,
    /// End of validity relative to now (negative = already expired).
    pub not_after: Duration,
}

impl Validity {
    /// Istio-like short-lived SVIDs: valid from 5 minutes ago for one hour.
    pub fn short_lived() -> Self {
        Self {
            not_before: Duration::minutes(-5),
            not_after: Duration::hours(1),
        }
    }

    /// Expired an hour ago (valid for one hour before that).
    pub fn expired() -> Self {
        Self {
            not_before: Duration::hours(-2),
            not_after: Duration::hours(-1),
        }
    }

    /// Not valid until an hour from now.
    pub fn not_yet_valid() -> Self {
        Self {
            not_before: Duration::hours(1),
            not_after: Duration::hours(2),
        }
    }
}

/// A certificate authority that signs SVIDs.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    file: PathBuf,
}

impl Ca {
    /// A self-signed ECDSA P-256 CA for the trust domain, written to `file`. Every CA gets the
    /// same subject, so a rogue one differs from the real one only by its key.
    fn generate(file: PathBuf) -> Ca {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("generate CA key");
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, TRUST_DOMAIN);
        dn.push(DnType::CommonName, "meshguard test CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let trust_domain = format!("spiffe://{TRUST_DOMAIN}");
        params.subject_alt_names = vec![SanType::URI(
            trust_domain.as_str().try_into().expect("trust domain URI"),
        )];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(1);
        let cert = params.self_signed(&key).expect("self-sign CA");
        let pem = cert.pem();
        write(&file, &pem);
        Ca {
            issuer: Issuer::new(params, key),
            pem,
            file,
        }
    }

    /// An SVID for `spiffe_id`, usable as both a TLS client and a TLS server certificate.
    fn sign(&self, spiffe_id: &str, validity: Validity, cert: PathBuf, key: PathBuf) -> Svid {
        let uri = spiffe_id
            .try_into()
            .unwrap_or_else(|e| panic!("{spiffe_id} is not an IA5 URI: {e}"));
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("generate SVID key");
        let mut params = CertificateParams::default();
        // Like Istio's SVIDs: no subject, the identity is the URI SAN alone.
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = vec![SanType::URI(uri)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now + validity.not_before;
        params.not_after = now + validity.not_after;
        let signed = params
            .signed_by(&leaf_key, &self.issuer)
            .expect("sign SVID");
        let cert_pem = signed.pem();
        let key_pem = leaf_key.serialize_pem();
        write(&cert, &cert_pem);
        write(&key, &key_pem);
        Svid {
            spiffe_id: spiffe_id.to_string(),
            cert,
            key,
            cert_pem,
            key_pem,
        }
    }
}

/// Where the PKI keeps its files: a temporary directory it deletes on drop, or a directory
/// the caller keeps (the local mesh writes its certificates next to its Envoy configs).
enum Dir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl Dir {
    fn path(&self) -> &Path {
        match self {
            Dir::Temp(t) => t.path(),
            Dir::Kept(p) => p,
        }
    }
}

/// The mesh's PKI: a CA, the SVIDs it issued, and an attacker's CA for negative tests.
pub struct Pki {
    dir: Dir,
    ca: Ca,
    rogue: std::sync::OnceLock<Ca>,
    issued: AtomicUsize,
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    /// A fresh CA in a temporary directory, removed when the `Pki` is dropped (keep the `Pki`
    /// alive as long as an Envoy reads its files).
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("create PKI directory");
        Self::with_dir(Dir::Temp(dir))
    }

    /// A fresh CA whose files are written into `dir` (created if missing) and left there.
    pub fn in_dir(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("create PKI directory {}: {e}", dir.display()));
        Self::with_dir(Dir::Kept(dir.to_path_buf()))
    }

    fn with_dir(dir: Dir) -> Pki {
        let ca = Ca::generate(dir.path().join("ca.crt"));
        Pki {
            dir,
            ca,
            rogue: std::sync::OnceLock::new(),
            issued: AtomicUsize::new(0),
        }
    }

    /// The directory holding every file of this PKI.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate file: the `trusted_ca` every workload's Envoy validates peers with.
    pub fn ca_file(&self) -> &Path {
        &self.ca.file
    }

    /// The CA certificate as PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca.pem
    }

    /// A short-lived SVID (see [`Validity::short_lived`]) for `spiffe_id`.
    pub fn svid(&self, spiffe_id: &str) -> Svid {
        self.svid_with(spiffe_id, Validity::short_lived())
    }

    /// An SVID for `spiffe_id` with a chosen validity window (expired, not yet valid, ...).
    pub fn svid_with(&self, spiffe_id: &str, validity: Validity) -> Svid {
        let (cert, key) = self.file_names(spiffe_id);
        self.ca.sign(spiffe_id, validity, cert, key)
    }

    /// An SVID for `spiffe_id` that expired an hour ago, signed by the real CA.
    pub fn expired_svid(&self, spiffe_id: &str) -> Svid {
        self.svid_with(spiffe_id, Validity::expired())
    }

    /// An attacker's SVID claiming `spiffe_id`, signed by a rogue CA with the same subject
    /// name as the real one but a different key: every peer must refuse it.
    pub fn rogue_svid(&self, spiffe_id: &str) -> Svid {
        let rogue = self
            .rogue
            .get_or_init(|| Ca::generate(self.dir().join("rogue-ca.crt")));
        let (cert, key) = self.file_names(spiffe_id);
        rogue.sign(spiffe_id, Validity::short_lived(), cert, key)
    }

    /// The rogue CA's certificate file (for a test where the attacker trusts its own CA).
    pub fn rogue_ca_file(&self) -> PathBuf {
        self.rogue
            .get_or_init(|| Ca::generate(self.dir().join("rogue-ca.crt")))
            .file
            .clone()
    }

    /// Unique, readable file names for the next SVID of `spiffe_id`.
    fn file_names(&self, spiffe_id: &str) -> (PathBuf, PathBuf) {
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        let stem: String = spiffe_id
            .trim_start_matches("spiffe://")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let dir = self.dir();
        (
            dir.join(format!("{stem}-{n}.crt")),
            dir.join(format!("{stem}-{n}.key")),
        )
    }
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
