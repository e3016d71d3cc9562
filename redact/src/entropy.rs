//! Shannon entropy and the shapes of identifiers that debugging needs.
//!
//! Thresholds follow detect-secrets (hex 3.0 bits, base64 4.5 bits) but scale
//! the base64 limit down for short values, whose entropy cannot reach 4.5
//! bits however random they are (`log2(len)` is the ceiling): the limit is
//! `min(4.5, 0.75 · log2(len))`, about 3σ below the entropy of random
//! alphanumeric strings of that length, so real keys are not missed.

/// Minimum value length the entropy detector considers.
pub(crate) const MIN_ENTROPY_LEN: usize = 16;

/// Shannon entropy of `data` in bits per byte.
pub(crate) fn shannon(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let len = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

/// True when `value` is random enough to be a credential.
pub(crate) fn is_high_entropy(value: &[u8]) -> bool {
    if value.len() < MIN_ENTROPY_LEN || looks_like_identifier(value) {
        return false;
    }
    let h = shannon(value);
    if value.iter().all(u8::is_ascii_hexdigit) {
        return h >= 3.0;
    }
    let ceiling = (value.len() as f64).log2();
    h >= (0.75 * ceiling).min(4.5)
}

/// Shapes that are identifiers, not credentials: UUIDs, `sha256:` digests,
/// plain numbers, and dash-separated lowercase names (pod names, request
/// ids such as `req-...`).
pub(crate) fn looks_like_identifier(v: &[u8]) -> bool {
    is_uuid(v)
        || v.starts_with(b"sha256:")
        || v.starts_with(b"sha512:")
        || v.iter().all(u8::is_ascii_digit)
        || (v.contains(&b'-')
            && v.iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && v.split(|&b| b == b'-').all(|part| part.len() <= 12))
}

/// `8-4-4-4-12` hex.
pub(crate) fn is_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_bounds() {
        assert_eq!(shannon(b"aaaa"), 0.0);
        assert!((shannon(b"abcd") - 2.0).abs() < 1e-9);
    }

    #[test]
    fn identifiers_are_not_high_entropy() {
        assert!(!is_high_entropy(b"550e8400-e29b-41d4-a716-446655440000"));
        assert!(!is_high_entropy(b"web-7d9f8b6c5d-x2x4z-frontend"));
        assert!(!is_high_entropy(b"12345678901234567890"));
        assert!(!is_high_entropy(b"aaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(is_high_entropy(b"Zq8Lr2Vx9Tb4Nw7Ks1Mp5Hc3"));
    }
}
