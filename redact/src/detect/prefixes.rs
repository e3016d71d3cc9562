//! Where a trigger may still be completing at the end of the buffered stream.
//!
//! A hit can only be trusted, and the scan can only move past a byte, once no trigger that
//! starts there (or earlier) could still end beyond the bytes received. Holding the last
//! `longest trigger − 1` bytes is always enough, but it holds a keystroke's echo or a prompt
//! that no trigger could start. This set of every trigger's *proper prefixes* finds the exact
//! point: the earliest tail of the buffer that a trigger could still extend. With the ≤ 64
//! built-in triggers of ≤ 25 bytes it has a few hundred entries, and a lookup hashes at most
//! `longest − 1` short tails.

use std::collections::HashSet;

/// The proper, non-empty prefixes of a set of trigger literals.
#[derive(Debug, Default)]
pub(crate) struct TriggerPrefixes {
    prefixes: HashSet<Box<[u8]>>,
    /// Longest proper prefix: a tail longer than this cannot be one.
    longest: usize,
}

impl TriggerPrefixes {
    pub(crate) fn new<'a>(triggers: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut prefixes = HashSet::new();
        let mut longest = 0;
        for t in triggers {
            for len in 1..t.len() {
                prefixes.insert(t[..len].into());
                longest = longest.max(len);
            }
        }
        TriggerPrefixes { prefixes, longest }
    }

    /// The earliest `q` such that `hay[q..]` is a proper prefix of some trigger, or
    /// `hay.len()` when no tail is: a trigger starting before the result that is not
    /// wholly inside `hay` does not exist.
    pub(crate) fn partial_start(&self, hay: &[u8]) -> usize {
        let len = hay.len();
        (1..=self.longest.min(len))
            .rev()
            .find(|&k| self.prefixes.contains(&hay[len - k..]))
            .map_or(len, |k| len - k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_earliest_tail_a_trigger_could_extend() {
        let p = TriggerPrefixes::new([&b"AKIA"[..], b"passw", b"sk-", b"-----BEGIN "]);
        assert_eq!(p.partial_start(b"hello l"), 7);
        assert_eq!(p.partial_start(b""), 0);
        assert_eq!(p.partial_start(b"x AK"), 2);
        assert_eq!(p.partial_start(b"AKI"), 0);
        // A complete trigger is not a partial one (the automaton finds it), though its
        // last byte may start another.
        assert_eq!(p.partial_start(b"x AKIA."), 7);
        assert_eq!(p.partial_start(b"x AKIA"), 5);
        // "pas" could still become "passw"; the earlier "s" alone is not reached first.
        assert_eq!(p.partial_start(b"use pas"), 4);
        // Overlapping candidates: the earliest wins.
        assert_eq!(p.partial_start(b"--- ----"), 4);
        assert_eq!(p.partial_start(b"ss"), 1);
    }
}
