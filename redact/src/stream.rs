//! The per-stream state machine: scan, hold back, release.
//!
//! Input chunks are kept as `Bytes` in `pending` (stream offsets
//! `[base, end)`) and released as slices of themselves, so clean bytes are
//! never copied. `win` is a small contiguous copy of the held tail plus
//! `back_context` bytes before it; a new chunk's first bytes are appended to
//! it (the *seam*) so triggers and verifiers that straddle a chunk boundary
//! see contiguous bytes. Past the seam, the chunk itself is the haystack.
//!
//! Three stream offsets drive release:
//! - `scan_pos`: the Aho-Corasick scan resumes here; every trigger hit before
//!   it is decided.
//! - frontier `= scan_pos - back_mask`: no span found later can start before it.
//! - release point `= min(frontier, start of the first still-open region)`.
//!
//! See `redact/DESIGN.md` for the bound on held bytes.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::detect::FindCache;
use crate::finding::{Finding, Fingerprinter};
use crate::hay::{Hay, NeedMore};
use crate::redactor::Redactor;
use crate::region::Regions;

/// Longest single masked piece. A region of overlapping secrets longer than
/// this (only pathological inputs produce one) is masked as consecutive
/// pieces of this size, each released as soon as it is complete, so a
/// region never holds more than this many bytes.
pub const MAX_REGION: usize = 64 * 1024;

/// Extra bytes of a new chunk copied into the seam beyond the context and the
/// longest trigger, so most boundary secrets verify without growing the seam.
const SEAM_SLACK: usize = 256;

/// Hits closer than this to the previous search position count as dense.
const DENSE_GAP: usize = 256;
/// After this many dense hits in a row the scan drops the prefilter, which
/// only pays off when hits are rare. Either automaton finds the same hits.
const DENSE_AFTER: u8 = 8;

/// A trigger hit waiting for more bytes.
#[derive(Debug, Clone, Copy)]
struct Deferred {
    at: u64,
    /// Re-verify once the stream reaches this offset (doubling, capped at the window).
    retry_end: u64,
}

/// How a scan of one haystack ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Every hit up to the haystack's limit is decided.
    Reached,
    /// A hit waits for more stream bytes; nothing after it is decided.
    Deferred,
    /// A verifier needs bytes of the current chunk beyond the seam.
    NeedSeam,
}

/// Redaction state of one stream. Create with [`Redactor::stream`].
#[derive(Debug)]
pub struct StreamRedactor {
    redactor: Redactor,
    pending: VecDeque<Bytes>,
    win: Vec<u8>,
    win_base: u64,
    base: u64,
    end: u64,
    scan_pos: u64,
    deferred: Option<Deferred>,
    /// Consecutive dense hits, saturating at `DENSE_AFTER`.
    density: u8,
    /// Assignment triggers before this offset sit inside an already parsed value.
    assign_skip: u64,
    regions: Regions,
    finished: bool,
    /// An idle flush is scanning: decide complete triggers in the tail instead of waiting
    /// for a longer one that might still arrive.
    idle: bool,
}

impl StreamRedactor {
    pub(crate) fn new(redactor: Redactor) -> Self {
        Self {
            redactor,
            pending: VecDeque::new(),
            win: Vec::new(),
            win_base: 0,
            base: 0,
            end: 0,
            scan_pos: 0,
            deferred: None,
            assign_skip: 0,
            density: 0,
            regions: Regions::default(),
            finished: false,
            idle: false,
        }
    }

    /// Bytes received but not yet released (the carry-over).
    pub fn held_bytes(&self) -> usize {
        (self.end - self.base) as usize
    }

    /// Total input bytes received.
    pub fn input_offset(&self) -> u64 {
        self.end
    }

    /// Feeds `chunk`; appends released output chunks to `out` and findings for
    /// the masks among them to `findings`.
    ///
    /// Clean bytes come out as slices of the input `Bytes` (no copy); only
    /// masks are new buffers. Calling `push` after [`finish`](Self::finish)
    /// drops the chunk: nothing is released unchecked.
    pub fn push(&mut self, chunk: Bytes, out: &mut Vec<Bytes>, findings: &mut Vec<Finding>) {
        if self.finished || chunk.is_empty() {
            return;
        }
        let chunk_start = self.end;
        let len = chunk.len();
        self.end += len as u64;
        self.pending.push_back(chunk.clone());
        let (back, longest) = {
            let d = self.redactor.detectors();
            (d.back_context(), d.longest_trigger())
        };
        let mut seam = len.min(back + longest + SEAM_SLACK);
        let mut win = std::mem::take(&mut self.win);
        win.extend_from_slice(&chunk[..seam]);
        let outcome = loop {
            let whole = seam == len;
            let stop = (!whole).then_some(chunk_start + back as u64);
            match self.scan(&win, self.win_base, false, stop) {
                Outcome::NeedSeam => {
                    win.extend_from_slice(&chunk[seam..]);
                    seam = len;
                }
                done => break done,
            }
        };
        if seam < len && outcome == Outcome::Reached {
            self.scan(&chunk, chunk_start, false, None);
        }
        self.release(out, findings, false);
        // Keep [base - back, end) contiguous for the next seam.
        // The scan may resume before `base` after an idle flush (a trigger's start).
        let new_base = self.base.saturating_sub(back as u64).min(self.scan_pos);
        let seam_end = chunk_start + seam as u64;
        if new_base >= seam_end {
            win.clear();
            win.extend_from_slice(&chunk[(new_base - chunk_start) as usize..]);
        } else {
            win.drain(..(new_base - self.win_base) as usize);
            win.extend_from_slice(&chunk[seam..]);
        }
        self.win = win;
        self.win_base = new_base;
    }

    /// Releases, after a pause in an interactive stream, the bytes no hit already seen can
    /// still claim — without holding back the tail a *later* trigger could reach back into.
    /// Output shows at once (a prompt, a keystroke's echo); the price is that a secret whose
    /// trigger arrives after the pause is masked only from what was still held. Bytes of an
    /// undecided hit (a PEM block still open, a key still arriving) stay held, within the
    /// usual bound.
    pub fn flush_idle(&mut self, out: &mut Vec<Bytes>, findings: &mut Vec<Finding>) {
        if self.finished {
            return;
        }
        let win = std::mem::take(&mut self.win);
        self.idle = true;
        let outcome = self.scan(&win, self.win_base, false, None);
        self.idle = false;
        self.win = win;
        // Past the scan position there is at most the start of a trigger, which reveals
        // nothing (trigger literals are public markers) and is released too; the scan
        // resumes at it, so if the trigger completes, the secret after it is still masked.
        let frontier = match outcome {
            Outcome::Deferred => self.scan_pos,
            _ => self.end,
        };
        self.release_upto(frontier, out, findings);
    }

    /// Whether every byte held is the start of a trigger literal that has not completed yet
    /// (no undecided hit, no open region, no user rule that may reach back before its
    /// keyword). Such bytes reveal nothing, so a proxy may [`flush_idle`](Self::flush_idle)
    /// as soon as the stream pauses at all, instead of waiting for a longer pause.
    pub fn holds_only_trigger_start(&self) -> bool {
        self.deferred.is_none()
            && self.regions.is_empty()
            && self.redactor.detectors().back_mask() == 0
            && self.scan_pos <= self.base
    }

    /// Ends the stream: decides every pending hit and releases everything.
    pub fn finish(&mut self, out: &mut Vec<Bytes>, findings: &mut Vec<Finding>) {
        if self.finished {
            return;
        }
        let win = std::mem::take(&mut self.win);
        self.scan(&win, self.win_base, true, None);
        self.release(out, findings, true);
        self.finished = true;
    }

    /// Scans `hay` (stream offset `hay_base`) from `scan_pos`. With `stop`, the
    /// haystack is a seam that ends before the stream does: only hits starting
    /// before `stop` are handled here.
    fn scan(&mut self, hay: &[u8], hay_base: u64, eof: bool, stop: Option<u64>) -> Outcome {
        let redactor = self.redactor.clone();
        let d = redactor.detectors();
        let longest = d.longest_trigger();
        let mut from = (self.scan_pos - hay_base) as usize;
        let mut cache = FindCache::default();
        loop {
            let dense = self.density >= DENSE_AFTER;
            let Some(m) = d.find(hay, from, dense, &mut cache) else {
                self.scan_pos = match stop {
                    Some(s) => self.scan_pos.max(s),
                    None if eof => hay_base + hay.len() as u64,
                    // A trigger may still be completing in the tail; the scan resumes
                    // there (after an idle flush too, so a trigger split by a pause is
                    // still found and masks what follows it).
                    None => self
                        .scan_pos
                        .max(hay_base + (from + d.partial_start(&hay[from..])) as u64),
                };
                return Outcome::Reached;
            };
            let at = hay_base + m.start as u64;
            self.density = match m.start - from < DENSE_GAP {
                true => (self.density + 1).min(DENSE_AFTER),
                false => 0,
            };
            if let Some(s) = stop {
                if at >= s {
                    self.scan_pos = self.scan_pos.max(s);
                    return Outcome::Reached;
                }
            } else if !eof && !self.idle && m.start + longest > hay.len() {
                // A longer trigger starting here, or one starting earlier, may still
                // complete and would then be the leftmost-longest match instead.
                let partial = from + d.partial_start(&hay[from..]);
                if partial <= m.start {
                    self.scan_pos = self.scan_pos.max(hay_base + partial as u64);
                    return Outcome::Deferred;
                }
            }
            if at < self.assign_skip && d.is_assignment(m.pattern) {
                // Inside a value the assignment detector already parsed.
                from = m.end;
                self.scan_pos = hay_base + from as u64;
                continue;
            }
            let waiting = self
                .deferred
                .is_some_and(|df| df.at == at && self.end < df.retry_end);
            // On a pause, decide now what can be decided: the doubling only saves work
            // while bytes keep arriving.
            if waiting && !eof && !self.idle {
                self.scan_pos = at;
                return Outcome::Deferred;
            }
            let pattern = m.pattern;
            match d.verify(Hay { bytes: hay, eof }, pattern, m.start, m.end) {
                Ok(verdict) => {
                    self.deferred = None;
                    from = match verdict.rescan {
                        true => m.start + 1,
                        false => m.end,
                    };
                    if let Some(v) = verdict.assign_skip {
                        self.assign_skip = hay_base + v as u64;
                    }
                    for f in verdict.found.iter().chain(&verdict.more) {
                        let (s, e) = (hay_base + f.start as u64, hay_base + f.end as u64);
                        // After an idle flush a span may reach back into bytes already
                        // released: mask what is still held.
                        let s = s.max(self.base);
                        if s < e {
                            self.regions.insert(s, e, f.rule);
                        }
                    }
                    // Triggers inside the found secret are not examined (the
                    // assignment detector's values may still hold a vendor token,
                    // whose more specific rule then wins the tie). The `more` spans
                    // are not skipped: text between them (a Secret's metadata, other
                    // lines) may hold secrets of its own.
                    if let Some(f) = verdict.found.filter(|_| !d.is_assignment(pattern)) {
                        from = from.max(f.end);
                    }
                    self.scan_pos = hay_base + from as u64;
                }
                Err(NeedMore) if stop.is_some() => {
                    self.scan_pos = at;
                    return Outcome::NeedSeam;
                }
                Err(NeedMore) => {
                    self.scan_pos = at;
                    let avail = (hay.len() - m.start) as u64;
                    let window = d.window_of(pattern) as u64;
                    if avail >= window {
                        // A verifier broke its contract. Fail closed: mask what it saw.
                        debug_assert!(false, "verifier undecided within its window");
                        self.regions
                            .insert(at, at + avail, d.fallback_rule(pattern));
                        from = hay.len();
                        self.scan_pos = hay_base + from as u64;
                        continue;
                    }
                    let retry = window.min((2 * avail).max(64));
                    self.deferred = Some(Deferred {
                        at,
                        retry_end: at + retry,
                    });
                    return Outcome::Deferred;
                }
            }
        }
    }

    /// Releases everything before the release point, masking closed regions.
    fn release(&mut self, out: &mut Vec<Bytes>, findings: &mut Vec<Finding>, eof: bool) {
        let back_mask = self.redactor.detectors().back_mask() as u64;
        let frontier = if eof {
            self.end
        } else {
            self.scan_pos.saturating_sub(back_mask)
        };
        self.release_upto(frontier, out, findings);
        debug_assert!(!eof || (self.regions.is_empty() && self.base == self.end));
    }

    /// Releases everything before `frontier` and before the first open region.
    fn release_upto(&mut self, frontier: u64, out: &mut Vec<Bytes>, findings: &mut Vec<Finding>) {
        while let Some(&r) = self.regions.front() {
            if r.end <= frontier {
                self.emit_clean(r.start, out);
                let mut s = r.start;
                while s < r.end {
                    let e = r.end.min(s + MAX_REGION as u64);
                    self.emit_mask(e, r.rule(), out, findings);
                    s = e;
                }
                self.regions.pop_front();
            } else if r.start < frontier && r.end - r.start >= MAX_REGION as u64 {
                // The region only grows at its end: a full piece is final.
                self.emit_clean(r.start, out);
                let e = r.start + MAX_REGION as u64;
                self.emit_mask(e, r.rule(), out, findings);
                self.regions.advance_front(e);
            } else {
                break;
            }
        }
        let point = match self.regions.front() {
            Some(r) => r.start.min(frontier),
            None => frontier,
        };
        self.emit_clean(point, out);
    }

    /// Releases input bytes up to stream offset `upto` unchanged.
    fn emit_clean(&mut self, upto: u64, out: &mut Vec<Bytes>) {
        while self.base < upto {
            let Some(front) = self.pending.front_mut() else {
                break;
            };
            let n = front.len().min((upto - self.base) as usize);
            let piece = match n == front.len() {
                true => self.pending.pop_front().unwrap_or_default(),
                false => front.split_to(n),
            };
            self.base += n as u64;
            out.push(piece);
        }
    }

    /// Replaces input bytes up to `upto` with the mask of `rule`.
    fn emit_mask(
        &mut self,
        upto: u64,
        rule: u16,
        out: &mut Vec<Bytes>,
        findings: &mut Vec<Finding>,
    ) {
        let offset = self.base;
        let mut fp = Fingerprinter::new(self.redactor.fingerprint_key());
        while self.base < upto {
            let Some(front) = self.pending.front_mut() else {
                break;
            };
            let n = front.len().min((upto - self.base) as usize);
            fp.update(&front[..n]);
            match n == front.len() {
                true => drop(self.pending.pop_front()),
                false => drop(front.split_to(n)),
            }
            self.base += n as u64;
        }
        out.push(self.redactor.mask(rule));
        findings.push(Finding {
            rule: self.redactor.rule_id(rule),
            offset,
            len: self.base - offset,
            fingerprint: fp.finish(),
        });
    }
}
