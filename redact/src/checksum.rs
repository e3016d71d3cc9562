//! CRC32 (IEEE, as zlib) and the base62 encoding GitHub uses for the
//! six-character checksum at the end of its tokens.

/// The CRC32 lookup table (reflected polynomial 0xEDB88320), built at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC32 of `data`, identical to zlib's `crc32`.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` in base62, left-padded with `0` to six characters.
pub(crate) fn base62_6(mut n: u32) -> [u8; 6] {
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// True when the last six characters of a GitHub token body are the base62
/// CRC32 of the 30 characters before them.
pub(crate) fn github_checksum_ok(body36: &[u8]) -> bool {
    body36.len() == 36 && base62_6(crc32(&body36[..30])) == body36[30..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn github_checksum_vectors() {
        // Vectors computed independently with Python's zlib.crc32.
        let body = ["aB7cD8eF9gH0jK1mN2pQ", "3rS4tU5vW6"].concat();
        assert_eq!(&base62_6(crc32(body.as_bytes())), b"2M5jQM");
        let padded = ["abcdefgh1234567890", "3ZZZZZZZZZZZ"].concat();
        assert_eq!(&base62_6(crc32(padded.as_bytes())), b"0p5S0Y");
        let mut full = body.clone().into_bytes();
        full.extend_from_slice(b"2M5jQM");
        assert!(github_checksum_ok(&full));
        full[3] ^= 1;
        assert!(!github_checksum_ok(&full));
    }
}
