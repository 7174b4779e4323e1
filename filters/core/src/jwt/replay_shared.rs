//! The arithmetic of a `jti` replay record kept in Envoy shared data, which every worker
//! of a proxy sees. The filter reads a bucket with its CAS token, asks [`record`] for the
//! new bucket value and writes it back only if nobody wrote in between, so two workers
//! cannot both accept the same token.
//!
//! A bucket is text: one `<exp> <id>` line per remembered token, expired lines dropped on
//! every write; a full bucket of live entries fails closed.

use super::error::VerifyError;

/// Buckets the `jti` space is spread over (bounded memory, little CAS contention).
pub const BUCKETS: u32 = 64;
/// Live entries one bucket holds before refusing new tokens.
pub const BUCKET_CAPACITY: usize = 512;

/// Shared-data key and in-bucket id of a token: a hash, so keys never contain raw input.
pub fn locate(issuer: &str, jti: &str) -> (String, String) {
    let digest = hmac_sha256::Hash::hash(format!("{issuer}\0{jti}").as_bytes());
    let bucket = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % BUCKETS;
    let id: String = digest[4..20].iter().map(|b| format!("{b:02x}")).collect();
    (key(bucket), id)
}

/// Shared-data key of replay bucket `bucket`.
pub fn key(bucket: u32) -> String {
    format!("meshguard.jti.{bucket}")
}

/// The bucket's new value with `id` remembered until `until`, or why the token is refused.
pub fn record(bucket: &str, id: &str, until: u64, now: u64) -> Result<String, VerifyError> {
    let mut live = Vec::new();
    for line in bucket.lines() {
        let Some((exp, seen)) = line.split_once(' ') else {
            continue;
        };
        let Ok(exp) = exp.parse::<u64>() else {
            continue;
        };
        if exp < now {
            continue;
        }
        if seen == id {
            return Err(VerifyError::TokenReplayed);
        }
        live.push(line);
    }
    if live.len() >= BUCKET_CAPACITY {
        return Err(VerifyError::ReplayCacheFull);
    }
    let mut out = live.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&format!("{until} {id}"));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_use_is_a_replay_until_expiry() {
        let (key, id) = locate("gw", "j1");
        assert!(key.starts_with("meshguard.jti."));
        let b = record("", &id, 100, 10).unwrap();
        assert_eq!(
            record(&b, &id, 100, 50).unwrap_err().reason(),
            "token_replayed"
        );
        // After expiry the entry is gone (and the token itself is expired anyway).
        assert!(record(&b, &id, 200, 101).is_ok());
    }

    #[test]
    fn expired_entries_are_dropped_and_full_buckets_fail_closed() {
        let mut b = String::new();
        for i in 0..BUCKET_CAPACITY {
            b = record(&b, &format!("id{i}"), 100, 0).unwrap();
        }
        assert_eq!(
            record(&b, "new", 100, 0).unwrap_err().reason(),
            "replay_cache_full"
        );
        let fresh = record(&b, "new", 300, 101).unwrap();
        assert_eq!(fresh.lines().count(), 1);
    }

    #[test]
    fn different_tokens_get_different_ids() {
        assert_ne!(locate("gw", "a").1, locate("gw", "b").1);
        assert_ne!(locate("gw1", "a").1, locate("gw2", "a").1);
    }
}
