//! What the identity filters share: the headers that carry verified identity to the
//! workload behind the sidecar, and the denials identity checks produce.
//!
//! A workload trusts these headers only because both identity filters strip every
//! `x-meshguard-*` header arriving from outside before setting their own.

use crate::denial::{Control, Denial};
use crate::jwt::{Claims, VerifyError};

/// Prefix of every header meshguard sets; anything arriving with it is removed first.
pub const HEADER_PREFIX: &str = "x-meshguard-";

/// The trusted identity headers for verified claims: (name, value) for each present claim.
pub fn identity_headers(claims: &Claims) -> Vec<(&'static str, String)> {
    let fields: [(&'static str, Option<&String>); 6] = [
        ("x-meshguard-sub", claims.sub.as_ref()),
        ("x-meshguard-team", claims.team.as_ref()),
        ("x-meshguard-role", claims.role.as_ref()),
        ("x-meshguard-session", claims.sid.as_ref()),
        ("x-meshguard-agent", claims.agent.as_ref()),
        ("x-meshguard-tool", claims.tool.as_ref()),
    ];
    fields
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v.clone())))
        .collect()
}

/// A token that failed verification, as a denial (401 with a challenge, 403, or 503).
pub fn token_denial(error: &VerifyError) -> Denial {
    Denial::new(
        error.status(),
        Control::Mcp02,
        error.reason(),
        error.to_string(),
    )
}

/// The credential a request carries in `authorization: Bearer <token>`.
pub fn bearer(authorization: Option<&str>) -> Result<&str, Denial> {
    let missing = || {
        Denial::new(
            401,
            Control::Mcp02,
            "missing_token",
            "a bearer token is required",
        )
    };
    let value = authorization.ok_or_else(missing)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(Some("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer(Some("bearer  abc ")).unwrap(), "abc");
        for bad in [
            None,
            Some(""),
            Some("Basic abc"),
            Some("Bearer "),
            Some("abc"),
        ] {
            let d = bearer(bad).unwrap_err();
            assert_eq!((d.status, d.reason.as_ref()), (401, "missing_token"));
        }
    }

    #[test]
    fn identity_headers_skip_absent_claims() {
        let claims = Claims {
            sub: Some("alice".into()),
            team: Some("sre".into()),
            ..Claims::default()
        };
        let h = identity_headers(&claims);
        assert_eq!(
            h,
            vec![
                ("x-meshguard-sub", "alice".to_string()),
                ("x-meshguard-team", "sre".to_string())
            ]
        );
    }
}
