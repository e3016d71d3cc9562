//! Trigger search over more literals than one SIMD-prefiltered automaton holds.
//!
//! Aho-Corasick's Teddy prefilter only applies up to 64 literals; past that, clean text
//! scans about four times slower. The built-in triggers are therefore split: the frequent
//! ones (and user keywords) in one automaton with its prefilter, the rare vendor and
//! context anchors (`rare.rs`) in packed (Teddy) searchers of at most [`SET_MAX`] literals
//! each: the three-byte anchors in one, the longer ones in another, which then fingerprints
//! four bytes per literal instead of three.
//! [`Triggers::find`] merges them into exactly what one leftmost-longest automaton over all
//! literals finds: the earliest start, then the longest literal, then the lowest pattern id.
//! A third representation, one automaton over every literal without prefilter, is used while
//! hits are dense; it finds the same matches (a unit test compares the two).

use aho_corasick::packed::{self, Config};
use aho_corasick::{AhoCorasick, Input, MatchKind, Span};

/// Most literals in one sparse set: fat AVX2 Teddy takes up to 64.
pub(crate) const SET_MAX: usize = 64;
/// Most searchers: the main automaton and the sparse sets.
const MAX_SETS: usize = 4;

/// A trigger hit: global pattern id and its span in the haystack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) pattern: usize,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

#[derive(Debug)]
enum Searcher {
    Ac(AhoCorasick),
    Packed(packed::Searcher),
}

impl Searcher {
    fn find(&self, hay: &[u8], from: usize) -> Option<(usize, usize, usize)> {
        match self {
            Searcher::Ac(ac) => ac
                .find(Input::new(hay).span(from..hay.len()))
                .map(|m| (m.pattern().as_usize(), m.start(), m.end())),
            Searcher::Packed(p) => p
                .find_in(hay, Span::from(from..hay.len()))
                .map(|m| (m.pattern().as_usize(), m.start(), m.end())),
        }
    }
}

/// Every trigger literal, searchable sparse (prefiltered sets) or dense (one automaton).
#[derive(Debug)]
pub(crate) struct Triggers {
    /// `(searcher, id of its first pattern)`; the main automaton first.
    sets: Vec<(Searcher, usize)>,
    dense: AhoCorasick,
}

/// What each set found the last time it searched a haystack: valid for any later search of
/// the same haystack from a position in `[from, hit start]`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FindCache {
    slots: [Option<(usize, Option<Hit>)>; MAX_SETS],
}

impl Triggers {
    /// `main` literals get ids `0..main.len()`, then each sparse set's literals in order.
    pub(crate) fn new(
        main: &[&[u8]],
        sparse: &[Vec<&[u8]>],
    ) -> Result<Self, aho_corasick::BuildError> {
        let mut sets = Vec::new();
        let main_ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(main)?;
        sets.push((Searcher::Ac(main_ac), 0));
        let mut first = main.len();
        for set in sparse.iter().filter(|s| !s.is_empty()) {
            assert!(set.len() <= SET_MAX, "a sparse trigger set over {SET_MAX}");
            let packed = Config::new()
                .match_kind(packed::MatchKind::LeftmostLongest)
                .builder()
                .extend(set)
                .build();
            let searcher = match packed {
                Some(p) => Searcher::Packed(p),
                // No SIMD Teddy on this CPU: an automaton finds the same matches.
                None => Searcher::Ac(
                    AhoCorasick::builder()
                        .match_kind(MatchKind::LeftmostLongest)
                        .build(set)?,
                ),
            };
            sets.push((searcher, first));
            first += set.len();
        }
        assert!(sets.len() <= MAX_SETS, "too many sparse trigger sets");
        let dense = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .prefilter(false)
            .build(main.iter().chain(sparse.iter().flatten()))?;
        Ok(Triggers { sets, dense })
    }

    /// The leftmost-longest trigger hit in `hay[from..]`. `cache` must be fresh for each
    /// haystack; `dense` searches with the prefilter-less automaton.
    pub(crate) fn find(
        &self,
        hay: &[u8],
        from: usize,
        dense: bool,
        cache: &mut FindCache,
    ) -> Option<Hit> {
        if dense {
            return self
                .dense
                .find(Input::new(hay).span(from..hay.len()))
                .map(|m| Hit {
                    pattern: m.pattern().as_usize(),
                    start: m.start(),
                    end: m.end(),
                });
        }
        let mut best: Option<Hit> = None;
        for (k, (searcher, first)) in self.sets.iter().enumerate() {
            let hit = match cache.slots[k] {
                Some((searched, hit))
                    if searched <= from && hit.is_none_or(|h| h.start >= from) =>
                {
                    hit
                }
                _ => {
                    let hit = searcher.find(hay, from).map(|(p, start, end)| Hit {
                        pattern: first + p,
                        start,
                        end,
                    });
                    cache.slots[k] = Some((from, hit));
                    hit
                }
            };
            let Some(h) = hit else { continue };
            let better = best.is_none_or(|b| {
                (h.start, std::cmp::Reverse(h.end), h.pattern)
                    < (b.start, std::cmp::Reverse(b.end), b.pattern)
            });
            if better {
                best = Some(h);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_sets_find_what_one_automaton_finds() {
        let main: Vec<&[u8]> = vec![b"token", b"AKIA", b"sk-", b"pass"];
        let sparse: Vec<Vec<&[u8]>> = vec![
            vec![b"pas", b"tok", b"en"],
            vec![b"hvs.", b"dapi", b"dop_v1_", b"sk-ant"],
        ];
        let t = Triggers::new(&main, &sparse).unwrap();
        let hay = b"x token hvs.abc sk-ant-1 dapi0 passtok en dop_v1_ AKIA dapi".repeat(3);
        for from in 0..hay.len() {
            let mut cache = FindCache::default();
            let mut a = Vec::new();
            let mut b = Vec::new();
            let mut pos = from;
            while let Some(h) = t.find(&hay, pos, false, &mut cache) {
                a.push(h);
                pos = h.end;
            }
            let mut pos = from;
            while let Some(h) = t.find(&hay, pos, true, &mut FindCache::default()) {
                b.push(h);
                pos = h.end;
            }
            assert_eq!(a, b, "from {from}");
        }
    }
}
