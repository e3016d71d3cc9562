//! Header compression: the dictionary, the wire shape of blocks, Python-made blocks, limits.

use super::*;
use crate::spdy::frame::{Frame, HEAD_LEN, Head};

fn block(pairs: &[(&str, &str)]) -> HeaderBlock {
    let mut b = HeaderBlock::new();
    for (n, v) in pairs {
        b.insert(n, Bytes::copy_from_slice(v.as_bytes())).unwrap();
    }
    b
}

/// Adler-32 (RFC 1950), computed here so the check does not trust zlib.
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

#[test]
fn dictionary_is_the_spdy3_one() {
    assert_eq!(DICTIONARY.len(), 1423);
    assert_eq!(adler32(DICTIONARY), DICTIONARY_ADLER32);
    assert!(DICTIONARY.ends_with(b"charset=iso-8859-1,utf-,*,enq=0."));
}

#[test]
fn blocks_share_one_stream_and_sync_flush() {
    let mut c = HeaderCompressor::new();
    let mut d = HeaderDecompressor::new();
    let blocks = [
        block(&[("streamtype", "error")]),
        HeaderBlock::new(),
        block(&[("streamtype", "stdout"), ("x-other", "a\0b")]),
    ];
    for (i, b) in blocks.iter().enumerate() {
        let z = c.compress(b).unwrap();
        if i == 0 {
            assert_eq!(z[..6], [0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2]);
        } else {
            assert_ne!(z[..2], [0x78, 0xf9], "zlib header only once");
        }
        assert!(
            z.ends_with(&[0, 0, 0xff, 0xff]),
            "block {i} not sync-flushed"
        );
        assert_eq!(&d.decompress(&z).unwrap(), b);
    }
}

/// The SYN_STREAM header blocks of the Python-made capture (see `testdata/`).
fn python_blocks() -> Vec<Bytes> {
    let wire = crate::spdy::decoder::tests::capture("kubectl_exec_tty.hex");
    let mut out = Vec::new();
    let mut rest = &wire[..];
    while rest.len() >= HEAD_LEN {
        let head = Head::parse(rest[..HEAD_LEN].try_into().unwrap()).unwrap();
        let end = HEAD_LEN + head.length as usize;
        let payload = Bytes::copy_from_slice(&rest[HEAD_LEN..end]);
        if let Frame::SynStream(s) = Frame::parse(head, payload).unwrap() {
            out.push(s.header_block);
        }
        rest = &rest[end..];
    }
    out
}

#[test]
fn decodes_python_made_blocks() {
    let blocks = python_blocks();
    assert_eq!(blocks.len(), 4);
    assert_eq!(blocks[0][..6], [0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2]);
    let mut d = HeaderDecompressor::new();
    let types: Vec<_> = blocks
        .iter()
        .map(|b| d.decompress(b).unwrap().get("streamtype").unwrap().clone())
        .collect();
    assert_eq!(types, ["error", "stdin", "stdout", "resize"]);
}

#[test]
fn out_of_order_blocks_fail() {
    // The stream is stateful: the second block alone cannot be inflated.
    let blocks = python_blocks();
    let mut d = HeaderDecompressor::new();
    assert!(d.decompress(&blocks[1]).unwrap_err().is_protocol());
}

#[test]
fn zlib_bomb_is_a_limit_error() {
    // A tiny block that inflates far past the limit: count 1, name "a", a huge value.
    let mut raw = Vec::new();
    raw.extend_from_slice(&1u32.to_be_bytes());
    raw.extend_from_slice(&1u32.to_be_bytes());
    raw.push(b'a');
    raw.extend_from_slice(&(8u32 << 20).to_be_bytes());
    raw.resize(raw.len() + (8 << 20), 0);
    let mut z = Compress::new(Compression::best(), true);
    z.set_dictionary(DICTIONARY).unwrap();
    let mut bomb = Vec::with_capacity(64 * 1024);
    z.compress_vec(&raw, &mut bomb, FlushCompress::Sync)
        .unwrap();
    assert!(bomb.len() <= MAX_COMPRESSED_BLOCK, "{}", bomb.len());
    let mut d = HeaderDecompressor::new();
    let err = d.decompress(&bomb).unwrap_err();
    assert!(err.is_limit(), "{err}");
}

#[test]
fn block_of_exactly_the_decompressed_limit_inflates() {
    let value_len = MAX_DECOMPRESSED_BLOCK - 4 - 4 - 1 - 4;
    let mut raw = Vec::new();
    raw.extend_from_slice(&1u32.to_be_bytes());
    raw.extend_from_slice(&1u32.to_be_bytes());
    raw.push(b'a');
    raw.extend_from_slice(&(value_len as u32).to_be_bytes());
    raw.resize(MAX_DECOMPRESSED_BLOCK, b'v');
    let mut z = Compress::new(Compression::best(), true);
    z.set_dictionary(DICTIONARY).unwrap();
    let mut out = Vec::with_capacity(64 * 1024);
    z.compress_vec(&raw, &mut out, FlushCompress::Sync).unwrap();
    // The value itself is over MAX_HEADER_VALUE_LEN: inflation succeeds, parsing refuses.
    let err = HeaderDecompressor::new().decompress(&out).unwrap_err();
    assert!(err.is_limit());
    assert!(format!("{err}").contains("header value"), "{err}");
}

#[test]
fn oversized_compressed_block_is_a_limit_error() {
    let big = vec![0u8; MAX_COMPRESSED_BLOCK + 1];
    assert!(
        HeaderDecompressor::new()
            .decompress(&big)
            .unwrap_err()
            .is_limit()
    );
}

#[test]
fn garbage_and_wrong_dictionary_fail() {
    let mut d = HeaderDecompressor::new();
    assert!(d.decompress(b"not zlib at all").unwrap_err().is_protocol());
    // FDICT with another DICTID.
    let mut d = HeaderDecompressor::new();
    let err = d.decompress(&[0x78, 0xf9, 0, 0, 0, 1, 0, 0]).unwrap_err();
    assert!(err.is_protocol());
    // An empty block (SYN_REPLY with no header block bytes).
    assert!(
        HeaderDecompressor::new()
            .decompress(&[])
            .unwrap_err()
            .is_protocol()
    );
}

#[test]
fn finished_stream_is_rejected() {
    let mut z = Compress::new(Compression::best(), true);
    z.set_dictionary(DICTIONARY).unwrap();
    let mut out = Vec::with_capacity(256);
    z.compress_vec(&[0, 0, 0, 0], &mut out, FlushCompress::Finish)
        .unwrap();
    assert!(
        HeaderDecompressor::new()
            .decompress(&out)
            .unwrap_err()
            .is_protocol()
    );
}
