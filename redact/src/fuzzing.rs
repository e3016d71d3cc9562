//! The `redactor` fuzz target's property (not API: hidden, unstable).
//!
//! Arbitrary bytes with synthetic secrets planted on their own lines, redacted whole and in
//! fuzzer-chosen chunks: both runs give the same bytes and findings, the carry-over stays
//! within [`Redactor::max_carry`], and no planted secret survives. Secrets are assembled at
//! run time from a seed the fuzzer picks (see `tests/redact/support.rs` for the full set the
//! tests plant); none is a literal in this file.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;

use crate::{Redactor, RedactorBuilder};

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_DIGIT: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The redactor the target uses: built-in rules, a fixed fingerprint key.
pub fn redactor() -> Redactor {
    RedactorBuilder::new()
        .fingerprint_key(b"fuzz deployment key")
        .build()
        .expect("built-in rules build")
}

/// xorshift64*: secrets from a fuzzer-chosen seed, so they look random to the detectors.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| char::from(alphabet[(self.next() % alphabet.len() as u64) as usize]))
            .collect()
    }

    /// Alphanumeric with at least one digit and one letter of each case, like real tokens.
    fn token(&mut self, n: usize) -> String {
        let mut s = self.pick(ALNUM, n - 3);
        s.insert(n / 4, 'q');
        s.insert(n / 2, char::from(b'0' + (self.next() % 10) as u8));
        s.insert(n / 3, 'Z');
        s
    }
}

/// One planted line (starting and ending with a newline) and the secret it carries.
fn plant(rng: &mut Rng, kind: u8) -> (String, String) {
    match kind % 10 {
        0 => {
            let s = format!("{}{}", ["AK", "IA"].concat(), rng.pick(UPPER_DIGIT, 16));
            (format!("\nexport AWS_ACCESS_KEY_ID={s}\n"), s)
        }
        1 => {
            let random = rng.pick(ALNUM, 30);
            let check = crate::github_checksum(random.as_bytes());
            let s = format!(
                "{}{random}{}",
                ["gh", "p_"].concat(),
                String::from_utf8_lossy(&check)
            );
            (format!("\ngit clone with {s} done\n"), s)
        }
        2 => {
            let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
            let claims = format!(r#"{{"sub":"{}","exp":1700000000}}"#, rng.token(12));
            let s = format!(
                "{header}.{}.{}",
                URL_SAFE_NO_PAD.encode(claims),
                rng.pick(ALNUM, 43)
            );
            (format!("\ncookie session={s}; Path=/\n"), s)
        }
        3 => {
            let body: Vec<String> = (0..6).map(|_| rng.pick(B64, 64)).collect();
            let label = ["PRIV", "ATE KEY"].concat();
            let pem = format!(
                "-----BEGIN {label}-----\n{}\n-----END {label}-----",
                body.join("\n")
            );
            (format!("\n{pem}\n"), body[2].clone())
        }
        4 => {
            let s = rng.token(16);
            (format!("\n{{\"user\":\"bob\",\"password\":\"{s}\"}}\n"), s)
        }
        5 => {
            let s = rng.token(40);
            (format!("\nAuthorization: Bearer {s}\n"), s)
        }
        6 => {
            let s = STANDARD.encode(rng.token(20));
            let kind_line = ["kind: Sec", "ret"].concat();
            (
                format!("\napiVersion: v1\ndata:\n  password: {s}\n{kind_line}\n"),
                s,
            )
        }
        7 => {
            let s = format!("{}{}", ["hv", "s."].concat(), rng.pick(ALNUM, 90));
            (format!("\nVAULT {s} issued\n"), s)
        }
        8 => {
            let s = rng.token(40);
            (format!("\nAuthorization: Token {s}\n"), s)
        }
        _ => {
            let label = ["PRIV", "ATE KEY"].concat();
            let pem = format!(
                "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
                rng.pick(B64, 64)
            );
            let s = STANDARD.encode(pem);
            (format!("\n    client-key-data: {s}\n"), s)
        }
    }
}

/// The property, on one fuzz input. Layout: 8 bytes seed, a cut count and 16-bit cuts, a
/// plant count and per plant a kind and a 16-bit position, then the text.
pub fn check(redactor: &Redactor, data: &[u8]) {
    let mut data = data;
    let mut next = || match data.split_first() {
        Some((&b, rest)) => {
            data = rest;
            b
        }
        None => 0,
    };
    let mut seed = [0; 8];
    seed.iter_mut().for_each(|b| *b = next());
    let mut rng = Rng(u64::from_le_bytes(seed) | 1);
    let mut cuts: Vec<usize> = (0..next() % 16)
        .map(|_| usize::from(u16::from_be_bytes([next(), next()])))
        .collect();
    let plants: Vec<(u8, usize)> = (0..next() % 4)
        .map(|_| (next(), usize::from(u16::from_be_bytes([next(), next()]))))
        .collect();
    let mut text = data.to_vec();
    let mut secrets = Vec::new();
    // Positions are in the original text, inserted back to front: a plant never lands
    // inside another (splitting a PEM block would legitimately unmake a secret).
    let mut plants: Vec<(u8, usize)> = plants
        .into_iter()
        .map(|(kind, at)| (kind, at % (text.len() + 1)))
        .collect();
    plants.sort_by_key(|&(_, at)| std::cmp::Reverse(at));
    for (kind, at) in plants {
        let (line, secret) = plant(&mut rng, kind);
        text.splice(at..at, line.into_bytes());
        secrets.push(secret);
    }
    cuts.sort_unstable();
    let whole = redactor.redact_all(&text);
    let mut stream = redactor.stream();
    let (mut out, mut findings) = (Vec::new(), Vec::new());
    let mut prev = 0;
    for cut in cuts.into_iter().chain(std::iter::once(text.len())) {
        let cut = cut.clamp(prev, text.len());
        stream.push(
            Bytes::copy_from_slice(&text[prev..cut]),
            &mut out,
            &mut findings,
        );
        assert!(
            stream.held_bytes() <= redactor.max_carry(),
            "carry over bound"
        );
        prev = cut;
    }
    stream.finish(&mut out, &mut findings);
    assert_eq!((out.concat(), findings), whole, "chunked != whole");
    for secret in &secrets {
        // The fuzzer may copy a secret into its own text, glued to other bytes where it is
        // legitimately not one: only the planted copies must be gone.
        let count = |hay: &[u8]| {
            hay.windows(secret.len())
                .filter(|w| *w == secret.as_bytes())
                .count()
        };
        // Say how long the secret is, never the secret itself.
        assert!(
            count(&whole.0) <= count(data),
            "a planted {}-byte secret survived",
            secret.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_masked_in_any_chunking() {
        let r = redactor();
        for kind in 0..10u8 {
            let mut data = vec![
                kind + 1,
                2,
                3,
                4,
                5,
                6,
                7,
                8,
                2,
                0,
                17,
                0,
                40,
                1,
                kind,
                0,
                5,
            ];
            data.extend_from_slice(b"hello world\nsome log line");
            check(&r, &data);
        }
    }
}
