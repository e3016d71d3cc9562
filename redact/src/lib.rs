//! Streaming secret redaction: bytes in, redacted bytes and findings out.
//!
//! A [`Redactor`] is a compiled rule set — built-in detectors for common
//! credential formats plus user rules — built once and shared. Each stream
//! gets a [`StreamRedactor`] that takes `Bytes` chunks and returns output
//! chunks and [`Finding`]s. The output of any chunking of a stream is
//! byte-for-byte the output of redacting the whole stream at once
//! ([`Redactor::redact_all`]).
//!
//! Design (details and guarantees in `redact/DESIGN.md`):
//! - Aho-Corasick searchers find *triggers* (`AKIA`, `ghp_`, `eyJ`,
//!   `password`, `-----BEGIN `, `hvs.`, `data:`, user keywords, …): one
//!   prefiltered automaton for the frequent ones, packed SIMD sets for the rare
//!   vendor ones, merged into one leftmost-longest answer; a hand-written
//!   verifier per detector decides each hit by reading a bounded window around it.
//! - A verifier that runs out of buffered bytes says "need more" instead of
//!   guessing, so a prefix of the stream never decides differently from the
//!   whole stream.
//! - Bytes are held back only while they could still be part of a secret;
//!   the carry-over is bounded by [`Redactor::max_carry`], and a pathological
//!   input is masked piecewise rather than released unchecked.
//! - Clean bytes are released as slices of the input `Bytes`; only masks are
//!   new buffers.
//!
//! ```
//! use bytes::Bytes;
//! use redact::RedactorBuilder;
//!
//! let redactor = RedactorBuilder::new().fingerprint_key(b"k").build().unwrap();
//! let mut stream = redactor.stream();
//! let (mut out, mut findings) = (Vec::new(), Vec::new());
//! let key = ["AKIA", "Q3EXAMPLE7TESTKEY"].concat(); // assembled, not a literal key
//! let line = format!("aws key {}X in env\n", &key[..19]);
//! let (a, b) = line.split_at(12);
//! stream.push(Bytes::from(a.to_string()), &mut out, &mut findings);
//! stream.push(Bytes::from(b.to_string()), &mut out, &mut findings);
//! stream.finish(&mut out, &mut findings);
//! assert_eq!(out.concat(), b"aws key [REDACTED:aws-access-key-id] in env\n");
//! assert_eq!((findings[0].offset, findings[0].len), (8, 20));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod checksum;
mod config;
mod detect;
mod entropy;
mod error;
mod finding;
#[doc(hidden)]
pub mod fuzzing;
mod hay;
mod redactor;
mod region;
mod rules;
mod stream;

pub use config::{
    MAX_KEYWORD_LEN, MAX_MASK_LEN, MAX_USER_MATCH_LEN, MAX_USER_RULES, RuleSpec, RulesFile,
};
pub use detect::PEM_MAX;
pub use error::{BuildError, Problem, ProblemKind};
pub use finding::{Finding, Fingerprint};
pub use redactor::{DEFAULT_MASK, Redactor, RedactorBuilder};
pub use stream::{MAX_REGION, StreamRedactor};

/// The six-character GitHub checksum of a token's 30 random characters, for
/// building synthetic test tokens.
#[doc(hidden)]
pub fn github_checksum(random30: &[u8]) -> [u8; 6] {
    checksum::base62_6(checksum::crc32(random30))
}

/// Ids and descriptions of the built-in rules.
pub fn builtin_rules() -> impl Iterator<Item = (&'static str, &'static str)> {
    rules::BUILTIN_RULES.iter().copied()
}
