//! JWKS parsing and token verification never panic on any input, and nothing unsigned by
//! the fuzz key set is ever accepted (the key set is fixed and holds no key the fuzzer
//! can sign with).
#![no_main]
use libfuzzer_sys::fuzz_target;
use meshguard_core::jwt::{Algorithm, KeySet, Policy, Verifier};

fuzz_target!(|data: &[u8]| {
    let _ = KeySet::parse(data);
    let keys = KeySet::parse(br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)
        .map(|p| p.keys)
        .unwrap_or_default();
    let verifier = Verifier::new(Policy::new("iss", "aud", &[Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256]), keys);
    if let Ok(token) = std::str::from_utf8(data) {
        assert!(verifier.verify(token, 1_700_000_000).is_err());
    }
});
