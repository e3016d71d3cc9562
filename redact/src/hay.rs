//! A read cursor over a possibly truncated haystack.
//!
//! Detectors see the stream through a [`Hay`]: the bytes buffered so far and
//! whether the stream has ended. Reading past the buffered bytes of a live
//! stream yields [`NeedMore`] — distinct from "no match" — so a detector can
//! never decide on a prefix what the full stream would decide differently.
//! That is the whole basis of "chunked output == whole output": every verdict
//! is either `NeedMore` or the verdict the complete input would produce.

/// The buffered bytes end before the detector could decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NeedMore;

/// Buffered stream bytes plus end-of-stream knowledge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hay<'a> {
    /// Buffered bytes; index 0 is the oldest byte still available.
    pub(crate) bytes: &'a [u8],
    /// True when nothing follows `bytes` in the stream.
    pub(crate) eof: bool,
}

impl Hay<'_> {
    /// The byte at `i`, `None` at end of stream, `NeedMore` past the buffer.
    #[inline]
    pub(crate) fn at(&self, i: usize) -> Result<Option<u8>, NeedMore> {
        match self.bytes.get(i) {
            Some(&b) => Ok(Some(b)),
            None if self.eof => Ok(None),
            None => Err(NeedMore),
        }
    }

    /// The byte before `i`, or `None` at the start of the buffer.
    ///
    /// The stream keeps at least `back_context` bytes before every trigger, so
    /// `None` here means start of stream for every read a detector makes.
    #[inline]
    pub(crate) fn before(&self, i: usize) -> Option<u8> {
        i.checked_sub(1).map(|j| self.bytes[j])
    }

    /// Length of the run of bytes matching `pred` starting at `from`, at most
    /// `max`. Stops without reading further once `max` is reached.
    #[inline]
    pub(crate) fn run(
        &self,
        from: usize,
        max: usize,
        pred: impl Fn(u8) -> bool,
    ) -> Result<usize, NeedMore> {
        let mut n = 0;
        while n < max {
            match self.at(from + n)? {
                Some(b) if pred(b) => n += 1,
                _ => break,
            }
        }
        Ok(n)
    }

    /// True when the byte at `i` exists and satisfies `pred`.
    #[inline]
    pub(crate) fn is(&self, i: usize, pred: impl Fn(u8) -> bool) -> Result<bool, NeedMore> {
        Ok(self.at(i)?.is_some_and(pred))
    }

    /// True when `lit` is at `i`.
    pub(crate) fn has(&self, i: usize, lit: &[u8]) -> Result<bool, NeedMore> {
        for (k, &want) in lit.iter().enumerate() {
            if self.at(i + k)? != Some(want) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The bytes `[from, to)`; callers have already read them.
    #[inline]
    pub(crate) fn slice(&self, from: usize, to: usize) -> &[u8] {
        &self.bytes[from..to]
    }
}

/// `[A-Za-z0-9]`.
#[inline]
pub(crate) fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// `[A-Za-z0-9_-]`: base64url and most token alphabets.
#[inline]
pub(crate) fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Characters of an identifier-like key: `[A-Za-z0-9_.-]`.
#[inline]
pub(crate) fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

/// True when the byte before a token start does not glue it to a longer word.
#[inline]
pub(crate) fn token_boundary(prev: Option<u8>) -> bool {
    !prev.is_some_and(is_b64url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn need_more_is_distinct_from_end_of_stream() {
        let live = Hay {
            bytes: b"ab",
            eof: false,
        };
        let done = Hay {
            bytes: b"ab",
            eof: true,
        };
        assert_eq!(live.at(2), Err(NeedMore));
        assert_eq!(done.at(2), Ok(None));
        assert_eq!(live.run(0, 10, is_alnum), Err(NeedMore));
        assert_eq!(done.run(0, 10, is_alnum), Ok(2));
        assert_eq!(live.run(0, 2, is_alnum), Ok(2));
    }
}
