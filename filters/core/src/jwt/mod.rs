//! JWT and JWKS: verification with pinned algorithms, claims checks, minting, caches (MCP-02, MCP-09, MCP-18).
//!
//! The identity lock of meshguard. The gateway verifies a user's OIDC token (or an agent
//! token it minted earlier), checks the session belongs to that user, and mints a short-lived
//! token bound to one audience, one tool and one workload; each tool sidecar verifies that
//! token again. Everything here is pure logic: time is a parameter (`now`, unix seconds),
//! randomness is a parameter (the caller passes bytes from WASI random), keys come in as
//! strings the adapter read from the host environment. Nothing here panics on input.
//!
//! - [`jwks`]: JWKS documents in and out, keys indexed by `kid`.
//! - [`verify`]: the [`Verifier`]: structure checks before crypto, pinned algorithms, claims.
//! - [`claims`]: the meshguard claim layout (team, role, session, tool, SPIFFE binding, `act`).
//! - [`mint`]: the [`Minter`] that signs audience-bound tokens.
//! - [`cache`]: bounded caches for verified and minted tokens, and a `jti` replay cache.
//! - [`session`]: gateway-issued session ids bound to a subject (MCP-18).
//! - [`config`]: the serde configuration the filters embed.

pub mod cache;
pub mod claims;
pub mod config;
pub mod error;
pub mod jwks;
pub mod mint;
pub mod replay_shared;
pub mod session;
pub mod verify;

pub use cache::{MintCache, ReplayCache, TokenCache};
pub use claims::{Actor, ClaimMapping, ClaimSource, Claims, Confirmation};
pub use config::{ClaimMappingConfig, JwksSource, MinterConfig, RemoteJwks, VerifierConfig};
pub use error::VerifyError;
pub use jwks::{Algorithm, JwksError, KeySet, PublicKey, VerificationKey};
pub use mint::{jti_from_random, MintError, MintRequest, Minted, Minter, SigningKey};
pub use session::{SessionCodec, SessionError};
pub use verify::{Authenticated, Policy, RequiredClaim, Verifier};
