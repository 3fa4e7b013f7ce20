//! Stripe webhook signatures, verified over the raw request bytes.
//!
//! Written here rather than taken from async-stripe-webhook because that
//! crate keeps only the last `v1` in a header, supports one secret, and
//! fixes the tolerance at 300 s. This verifier checks every `v1` against
//! every configured secret (for rotation), takes the tolerance as a
//! parameter, rejects timestamps too far in the future as well as the past,
//! and compares MACs in constant time (`Mac::verify_slice`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Unable to extract timestamp and signatures from header")]
    Malformed,
    #[error("Timestamp outside the tolerance zone")]
    OutsideTolerance,
    #[error("No signatures found matching the expected signature for payload")]
    NoMatch,
}

/// At most this many `v1` entries of one header are considered.
pub const MAX_SIGNATURES: usize = 8;

/// Verifies `header` for `payload`; returns the signed timestamp.
pub fn verify(
    payload: &[u8],
    header: &str,
    secrets: &[&[u8]],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let mut timestamp: Option<i64> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else { continue };
        match k {
            "t" if timestamp.is_none() => timestamp = v.parse().ok(),
            // Stripe sends one `v1` per active secret; a handful is plenty,
            // and a header stuffed with thousands costs nothing to refuse.
            "v1" if signatures.len() < MAX_SIGNATURES => {
                if let Ok(bytes) = hex::decode(v) {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now_secs - t).abs() > tolerance_secs {
        return Err(SignatureError::OutsideTolerance);
    }
    let prefix = format!("{t}.");
    for secret in secrets {
        // One MAC per secret, compared with each signature in constant time.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { continue };
        mac.update(prefix.as_bytes());
        mac.update(payload);
        let expected = mac.finalize().into_bytes();
        if signatures.iter().any(|sig| bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_slice(), sig.as_slice()))) {
            return Ok(t);
        }
    }
    Err(SignatureError::NoMatch)
}

/// `t=…,v1=…` for `payload`, as Stripe signs it; used by the simulator's
/// tests and documentation examples.
pub fn sign(payload: &[u8], secret: &[u8], t: i64) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(format!("{t}.").as_bytes());
    mac.update(payload);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &[u8] = br#"{"id":"evt_1","type":"charge.captured"}"#;
    const HEADER: &str = "t=1700000000,v1=ba96c3d47205bf34eaecfd63547d872cce4937c735be3794fdbf5821613dc323";

    #[test]
    fn the_reference_test_vector_verifies() {
        assert_eq!(verify(PAYLOAD, HEADER, &[b"whsec_x"], 1_700_000_000, 300), Ok(1_700_000_000));
        assert_eq!(sign(PAYLOAD, b"whsec_x", 1_700_000_000), HEADER);
    }

    #[test]
    fn every_v1_and_every_secret_is_tried() {
        let header = format!("t=1700000000,v1={},{}", "00".repeat(32), HEADER.split(',').nth(1).unwrap());
        assert!(verify(PAYLOAD, &header, &[b"whsec_old", b"whsec_x"], 1_700_000_000, 300).is_ok());
    }

    #[test]
    fn tampered_stale_future_and_malformed_headers_are_rejected() {
        let tampered = br#"{"id":"evt_1","type":"charge.expired"}"#;
        assert_eq!(verify(tampered, HEADER, &[b"whsec_x"], 1_700_000_000, 300), Err(SignatureError::NoMatch));
        assert_eq!(verify(PAYLOAD, HEADER, &[b"whsec_y"], 1_700_000_000, 300), Err(SignatureError::NoMatch));
        assert_eq!(verify(PAYLOAD, HEADER, &[b"whsec_x"], 1_700_000_301, 300), Err(SignatureError::OutsideTolerance));
        assert_eq!(verify(PAYLOAD, HEADER, &[b"whsec_x"], 1_699_999_600, 300), Err(SignatureError::OutsideTolerance));
        assert_eq!(verify(PAYLOAD, "garbage", &[b"whsec_x"], 1_700_000_000, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(PAYLOAD, "t=1700000000", &[b"whsec_x"], 1_700_000_000, 300), Err(SignatureError::Malformed));
    }

    #[test]
    fn a_header_stuffed_with_signatures_is_checked_only_a_handful_deep() {
        // 5,000 bogus v1 entries before the real one: only the first few count.
        let bogus = format!("v1={},", "00".repeat(32)).repeat(5_000);
        let header = format!("t=1700000000,{bogus}{}", HEADER.split(',').nth(1).unwrap());
        assert_eq!(verify(PAYLOAD, &header, &[b"whsec_x"], 1_700_000_000, 300), Err(SignatureError::NoMatch));
        let few = format!(
            "t=1700000000,{}{}",
            format!("v1={},", "00".repeat(32)).repeat(3),
            HEADER.split(',').nth(1).unwrap()
        );
        assert!(verify(PAYLOAD, &few, &[b"whsec_x"], 1_700_000_000, 300).is_ok());
    }

    #[test]
    fn a_configurable_tolerance_is_honoured() {
        assert!(verify(PAYLOAD, HEADER, &[b"whsec_x"], 1_700_000_900, 1_000).is_ok());
    }
}
