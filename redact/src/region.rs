//! Pending mask regions: the union of overlapping secret spans.
//!
//! Spans that overlap (share at least one byte) merge into one region that is
//! masked as one unit. The region's rule is the rule of its *primary* span:
//! the one that starts first, then the longest, then the lowest rule index.
//! Union and minimum are order independent, so the regions of a stream do not
//! depend on the order spans were found in — only on the stream's bytes.

use std::cmp::Reverse;
use std::collections::VecDeque;

use crate::rules::RuleIdx;

/// Spans are ordered by this key; the least is the primary.
type PrimaryKey = (u64, Reverse<u64>, RuleIdx);

/// A maximal run of overlapping secret spans, in stream offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) start: u64,
    pub(crate) end: u64,
    primary: PrimaryKey,
}

impl Region {
    /// Rule reported for the region.
    pub(crate) fn rule(&self) -> RuleIdx {
        self.primary.2
    }
}

/// Disjoint regions sorted by offset.
#[derive(Debug, Default)]
pub(crate) struct Regions {
    list: VecDeque<Region>,
}

impl Regions {
    /// Adds the span `[start, end)` of `rule`, merging what it overlaps.
    pub(crate) fn insert(&mut self, start: u64, end: u64, rule: RuleIdx) {
        let mut merged = Region {
            start,
            end,
            primary: (start, Reverse(end), rule),
        };
        // Regions are disjoint and sorted, so their ends are sorted too.
        let first = self.list.partition_point(|r| r.end <= start);
        let mut last = first;
        while last < self.list.len() && self.list[last].start < end {
            let r = self.list[last];
            merged.start = merged.start.min(r.start);
            merged.end = merged.end.max(r.end);
            merged.primary = merged.primary.min(r.primary);
            last += 1;
        }
        self.list.drain(first..last);
        self.list.insert(first, merged);
    }

    /// The earliest region.
    pub(crate) fn front(&self) -> Option<&Region> {
        self.list.front()
    }

    /// Removes the earliest region.
    pub(crate) fn pop_front(&mut self) -> Option<Region> {
        self.list.pop_front()
    }

    /// Moves the start of the earliest region forward after a piece of it was emitted.
    pub(crate) fn advance_front(&mut self, to: u64) {
        if let Some(r) = self.list.front_mut() {
            r.start = to;
        }
    }

    /// True when no region is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(r: &Regions) -> Vec<(u64, u64, RuleIdx)> {
        r.list.iter().map(|x| (x.start, x.end, x.rule())).collect()
    }

    #[test]
    fn merge_is_order_independent() {
        let input = [(10, 20, 3), (15, 30, 1), (0, 5, 2), (5, 8, 4), (29, 31, 0)];
        let mut a = Regions::default();
        input.iter().for_each(|&(s, e, r)| a.insert(s, e, r));
        let mut b = Regions::default();
        input.iter().rev().for_each(|&(s, e, r)| b.insert(s, e, r));
        assert_eq!(spans(&a), spans(&b));
        assert_eq!(spans(&a), vec![(0, 5, 2), (5, 8, 4), (10, 31, 3)]);
    }

    #[test]
    fn longest_wins_on_equal_start() {
        let mut a = Regions::default();
        a.insert(4, 9, 0);
        a.insert(4, 12, 7);
        assert_eq!(spans(&a), vec![(4, 12, 7)]);
    }
}
