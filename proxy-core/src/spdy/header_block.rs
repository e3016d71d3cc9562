//! The uncompressed SPDY/3 header block: count(32), then per pair name-len(32), name,
//! value-len(32), value. Several values for one name are joined with NUL inside one value.
//!
//! Names must be non-empty, lowercase, printable ASCII and appear once (spdystream
//! rejects uppercase and duplicates). Every length is checked against a documented limit
//! before anything is allocated, and trailing bytes after the last pair are rejected.

use bytes::{Buf, BufMut, Bytes};

use super::Error;

/// Most name/value pairs accepted in one block. kubectl sends one (`streamtype`).
pub const MAX_HEADER_PAIRS: usize = 64;
/// Longest header name accepted.
pub const MAX_HEADER_NAME_LEN: usize = 256;
/// Longest header value accepted (all NUL-joined values of one name together).
pub const MAX_HEADER_VALUE_LEN: usize = 8 * 1024;

/// A decoded header block, in wire order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderBlock {
    pairs: Vec<(String, Bytes)>,
}

impl HeaderBlock {
    /// An empty block (what a Kubernetes server puts in every SYN_REPLY).
    pub fn new() -> HeaderBlock {
        HeaderBlock::default()
    }

    /// Adds a pair, enforcing the same rules and limits as parsing.
    pub fn insert(&mut self, name: &str, value: impl Into<Bytes>) -> Result<(), Error> {
        let value = value.into();
        if self.pairs.len() >= MAX_HEADER_PAIRS {
            return Err(Error::limit("too many header pairs"));
        }
        check_name(name.as_bytes())?;
        if value.len() > MAX_HEADER_VALUE_LEN {
            return Err(Error::limit("header value too long"));
        }
        if self.get(name).is_some() {
            return Err(Error::protocol("duplicate header name"));
        }
        self.pairs.push((name.to_owned(), value));
        Ok(())
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The pairs, in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Parses a whole decompressed block; trailing bytes are an error.
    pub fn parse(mut buf: Bytes) -> Result<HeaderBlock, Error> {
        let count = get_len(&mut buf, "header block count")?;
        if count > MAX_HEADER_PAIRS {
            return Err(Error::limit(format!("header block has {count} pairs")));
        }
        // Each pair needs at least 8 length bytes: a count larger than that is a lie.
        if count > buf.len() / 8 {
            return Err(Error::protocol("header block count exceeds its length"));
        }
        let mut block = HeaderBlock {
            pairs: Vec::with_capacity(count),
        };
        for _ in 0..count {
            let name_len = get_len(&mut buf, "header name length")?;
            if name_len > MAX_HEADER_NAME_LEN {
                return Err(Error::limit(format!("header name of {name_len} bytes")));
            }
            let name = take(&mut buf, name_len, "header name")?;
            check_name(&name)?;
            let value_len = get_len(&mut buf, "header value length")?;
            if value_len > MAX_HEADER_VALUE_LEN {
                return Err(Error::limit(format!("header value of {value_len} bytes")));
            }
            let value = take(&mut buf, value_len, "header value")?;
            // check_name guarantees ASCII.
            let name = String::from_utf8_lossy(&name).into_owned();
            if block.get(&name).is_some() {
                return Err(Error::protocol("duplicate header name"));
            }
            block.pairs.push((name, value));
        }
        if !buf.is_empty() {
            return Err(Error::protocol("trailing bytes after the header block"));
        }
        Ok(block)
    }

    /// The encoded (uncompressed) length.
    pub fn encoded_len(&self) -> usize {
        4 + self
            .pairs
            .iter()
            .map(|(n, v)| 8 + n.len() + v.len())
            .sum::<usize>()
    }

    /// Writes the uncompressed block.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        // insert() bounds the count and lengths far below u32::MAX.
        dst.put_u32(self.pairs.len() as u32);
        for (name, value) in &self.pairs {
            dst.put_u32(name.len() as u32);
            dst.put_slice(name.as_bytes());
            dst.put_u32(value.len() as u32);
            dst.put_slice(value);
        }
    }
}

fn get_len(buf: &mut Bytes, what: &'static str) -> Result<usize, Error> {
    if buf.len() < 4 {
        return Err(Error::protocol(format!("{what} truncated")));
    }
    Ok(buf.get_u32() as usize)
}

fn take(buf: &mut Bytes, len: usize, what: &'static str) -> Result<Bytes, Error> {
    if buf.len() < len {
        return Err(Error::protocol(format!("{what} truncated")));
    }
    Ok(buf.split_to(len))
}

fn check_name(name: &[u8]) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::protocol("empty header name"));
    }
    if name.len() > MAX_HEADER_NAME_LEN {
        return Err(Error::limit("header name too long"));
    }
    if !name
        .iter()
        .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase())
    {
        return Err(Error::protocol("header name not lowercase printable ascii"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&[u8], &[u8])]) -> Bytes {
        let mut out = Vec::new();
        out.put_u32(pairs.len() as u32);
        for (n, v) in pairs {
            out.put_u32(n.len() as u32);
            out.put_slice(n);
            out.put_u32(v.len() as u32);
            out.put_slice(v);
        }
        out.into()
    }

    #[test]
    fn round_trip() {
        let mut b = HeaderBlock::new();
        b.insert("streamtype", "stdin").unwrap();
        b.insert("multi", &b"a\0b"[..]).unwrap();
        let mut out = Vec::new();
        b.encode(&mut out);
        assert_eq!(out.len(), b.encoded_len());
        assert_eq!(HeaderBlock::parse(out.into()).unwrap(), b);
    }

    #[test]
    fn rejects_uppercase_duplicates_and_trailing() {
        assert!(
            HeaderBlock::parse(raw(&[(b"Streamtype", b"x")]))
                .unwrap_err()
                .is_protocol()
        );
        let dup = raw(&[(b"a", b"1"), (b"a", b"2")]);
        assert!(HeaderBlock::parse(dup).unwrap_err().is_protocol());
        assert!(
            HeaderBlock::parse(raw(&[(b"", b"1")]))
                .unwrap_err()
                .is_protocol()
        );
        let mut trailing = raw(&[(b"a", b"1")]).to_vec();
        trailing.push(0);
        assert!(
            HeaderBlock::parse(trailing.into())
                .unwrap_err()
                .is_protocol()
        );
        let mut b = HeaderBlock::new();
        assert!(b.insert("Upper", "x").is_err());
        b.insert("a", "x").unwrap();
        assert!(b.insert("a", "y").is_err());
    }

    #[test]
    fn rejects_truncation_at_every_length() {
        let full = raw(&[(b"streamtype", b"stdout"), (b"x", b"")]);
        for n in 0..full.len() {
            assert!(
                HeaderBlock::parse(full.slice(..n))
                    .unwrap_err()
                    .is_protocol(),
                "{n}"
            );
        }
    }

    #[test]
    fn limits() {
        let name = vec![b'a'; MAX_HEADER_NAME_LEN + 1];
        assert!(
            HeaderBlock::parse(raw(&[(&name, b"")]))
                .unwrap_err()
                .is_limit()
        );
        let ok_name = vec![b'a'; MAX_HEADER_NAME_LEN];
        assert!(HeaderBlock::parse(raw(&[(&ok_name, b"")])).is_ok());
        let value = vec![b'v'; MAX_HEADER_VALUE_LEN + 1];
        assert!(
            HeaderBlock::parse(raw(&[(b"a", &value)]))
                .unwrap_err()
                .is_limit()
        );
        let mut many = Vec::new();
        many.put_u32(MAX_HEADER_PAIRS as u32 + 1);
        assert!(HeaderBlock::parse(many.into()).unwrap_err().is_limit());
        // A count the length cannot hold fails before allocating.
        let mut lie = Vec::new();
        lie.put_u32(MAX_HEADER_PAIRS as u32);
        assert!(HeaderBlock::parse(lie.into()).unwrap_err().is_protocol());
        let mut b = HeaderBlock::new();
        for i in 0..MAX_HEADER_PAIRS {
            b.insert(&format!("h{i}"), "").unwrap();
        }
        assert!(b.insert("one-more", "").unwrap_err().is_limit());
        assert!(b.insert("x", value).unwrap_err().is_limit());
    }
}
