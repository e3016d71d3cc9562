//! The rare triggers: vendor prefixes and context keys searched by packed (Teddy) sets beside
//! the main automaton (`sparse.rs`).
//!
//! Teddy fingerprints a literal by its first `min(4, shortest literal)` bytes, a nibble per
//! half-byte and bucket, so a literal whose first bytes are common in logs (`sha`, `api`,
//! `str`, `auth`, `disc`, `hook`) stops the search on ordinary text. Each trigger here is
//! therefore an *anchor* with rare leading bytes, a suffix of the prefix it stands for
//! (`256~` for `sha256~`, `_v1_` for `dop_v1_`, `rization:` for `Authorization:`), with the
//! prefixes one of which must precede it: [`logical_start`] checks them backwards, and the
//! span found is clipped to start at the anchor (bytes before it may already be released).
//! The three-byte anchors form a set of their own, so the long set fingerprints four bytes.

use super::{Detector, encoded, header, vendor};
use crate::hay::Hay;

/// A rare trigger: anchor, the prefixes allowed before it (none: the anchor is the whole
/// prefix), and its detector.
pub(super) type Rare = (Vec<u8>, &'static [&'static str], Detector);

/// The rare triggers as two sets: three-byte anchors, then longer ones.
pub(super) fn rare_triggers() -> (Vec<Rare>, Vec<Rare>) {
    use Detector::*;
    let mut long: Vec<Rare> = vendor::TRIGGERS
        .iter()
        .map(|&(l, back, rule)| (l.as_bytes().to_vec(), back, Vendor(rule)))
        .collect();
    let mut add = |lits: &[(&str, &'static [&'static str])], d: Detector| {
        long.extend(
            lits.iter()
                .map(|&(l, back)| (l.as_bytes().to_vec(), back, d)),
        )
    };
    add(&[("glagent-", &[]), ("glffct-", &[])], Gitlab);
    add(
        &[
            ("slack.com/workflows/", &["hooks."]),
            ("slack.com/triggers/", &["hooks."]),
        ],
        SlackWebhook,
    );
    add(header::AUTH_TRIGGERS, Authorization);
    add(encoded::DATA_TRIGGERS, DataMap);
    add(encoded::KIND_TRIGGERS, SecretKind);
    add(&[("LS0tLS1CRUdJTi", &[])], Base64Pem);
    add(&[("\"auth\"", &[])], DockerAuth);
    long.extend(
        header::CURL_TRIGGERS
            .iter()
            .map(|l| (l.as_bytes().to_vec(), &[][..], Curl)),
    );
    let mut short: Vec<Rare> = vendor::SHORT_TRIGGERS
        .iter()
        .map(|&(l, rule)| (l.as_bytes().to_vec(), &[][..], Vendor(rule)))
        .collect();
    short.push((b"-u ".to_vec(), &[], Curl));
    (short, long)
}

/// Where the prefix an anchor at `at` stands for starts: `at` when it needs none, `None`
/// when none of its prefixes precedes it (then the hit is no trigger at all). The stream
/// keeps `back_context` bytes before a hit, so only the start of the stream cuts this short.
pub(super) fn logical_start(hay: Hay<'_>, at: usize, back: &[&str]) -> Option<usize> {
    if back.is_empty() {
        return Some(at);
    }
    let before = &hay.bytes[..at];
    back.iter()
        .find(|b| before.ends_with(b.as_bytes()))
        .map(|b| at - b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_sets_have_their_lengths() {
        let (short, long) = rare_triggers();
        assert!(short.iter().all(|(l, _, _)| l.len() == 3));
        assert!(long.iter().all(|(l, _, _)| l.len() >= 4));
        assert!(short.len() <= 8, "one bucket per slim-Teddy literal");
        assert!(long.len() <= super::super::sparse::SET_MAX);
    }

    #[test]
    fn an_anchor_needs_one_of_its_prefixes() {
        let hay = Hay {
            bytes: b"x sha256~ 256~ dor_v1_",
            eof: true,
        };
        assert_eq!(logical_start(hay, 5, &["sha"]), Some(2));
        assert_eq!(logical_start(hay, 10, &["sha"]), None);
        assert_eq!(logical_start(hay, 18, &["dop", "dor"]), Some(15));
        assert_eq!(logical_start(hay, 1, &["sha"]), None);
        assert_eq!(logical_start(hay, 1, &[]), Some(1));
    }
}
