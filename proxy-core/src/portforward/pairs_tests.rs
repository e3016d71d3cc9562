use bytes::Bytes;
use tokio::time::Instant;

use super::*;

fn block(pairs: &[(&str, &str)]) -> HeaderBlock {
    let mut h = HeaderBlock::new();
    for (k, v) in pairs {
        h.insert(k, Bytes::copy_from_slice(v.as_bytes())).unwrap();
    }
    h
}

fn headers(kind: StreamKind, port: u16, id: &str) -> StreamHeaders {
    StreamHeaders {
        kind,
        port,
        request_id: id.into(),
    }
}

macro_rules! refused {
    ($($name:ident: [$($h:expr),*] => $err:expr;)*) => {$(
        #[test]
        fn $name() {
            assert_eq!(StreamHeaders::parse(1, &block(&[$($h),*])), Err($err));
        }
    )*};
}

refused! {
    no_stream_type: [("port", "80"), ("requestid", "0")] => PairError::MissingStreamType;
    unknown_stream_type: [("streamtype", "stdin"), ("port", "80")] => PairError::UnknownStreamType;
    stream_type_is_case_sensitive: [("streamtype", "Data"), ("port", "80")] => PairError::UnknownStreamType;
    no_port: [("streamtype", "data"), ("requestid", "0")] => PairError::BadPort;
    port_zero: [("streamtype", "data"), ("port", "0")] => PairError::BadPort;
    port_too_large: [("streamtype", "data"), ("port", "65536")] => PairError::BadPort;
    port_not_decimal: [("streamtype", "data"), ("port", "0x50")] => PairError::BadPort;
    port_signed: [("streamtype", "data"), ("port", "+80")] => PairError::BadPort;
    port_empty: [("streamtype", "data"), ("port", "")] => PairError::BadPort;
    request_id_not_printable: [("streamtype", "data"), ("port", "80"), ("requestid", "a b")] => PairError::BadRequestId;
}

#[test]
fn request_id_too_long_is_refused() {
    let long = "7".repeat(MAX_REQUEST_ID_LEN + 1);
    let h = block(&[("streamtype", "data"), ("port", "80"), ("requestid", &long)]);
    assert_eq!(StreamHeaders::parse(1, &h), Err(PairError::BadRequestId));
    let ok = "7".repeat(MAX_REQUEST_ID_LEN);
    let h = block(&[("streamtype", "data"), ("port", "80"), ("requestid", &ok)]);
    assert_eq!(StreamHeaders::parse(1, &h).unwrap().request_id, ok);
}

#[test]
fn valid_headers_parse() {
    let h = block(&[
        ("streamtype", "error"),
        ("port", "65535"),
        ("requestid", "12"),
    ]);
    assert_eq!(
        StreamHeaders::parse(5, &h),
        Ok(headers(StreamKind::Error, 65535, "12"))
    );
}

#[test]
fn missing_request_id_is_derived_from_the_stream_id_like_the_kubelet() {
    let e = StreamHeaders::parse(5, &block(&[("streamtype", "error"), ("port", "80")])).unwrap();
    let d = StreamHeaders::parse(7, &block(&[("streamtype", "data"), ("port", "80")])).unwrap();
    assert_eq!(e.request_id, "5");
    assert_eq!(d.request_id, "5");
    let mut a = Assembler::new();
    let now = Instant::now();
    assert_eq!(a.add(5, e, now), Ok(None));
    let pair = a.add(7, d, now).unwrap().expect("complete");
    assert_eq!((pair.error, pair.data, pair.port), (5, 7, 80));
}

#[test]
fn a_pair_completes_in_either_order() {
    let now = Instant::now();
    let mut a = Assembler::new();
    assert_eq!(a.add(3, headers(StreamKind::Data, 80, "x"), now), Ok(None));
    let pair = a
        .add(5, headers(StreamKind::Error, 80, "x"), now)
        .unwrap()
        .unwrap();
    assert_eq!((pair.error, pair.data), (5, 3));
    assert_eq!((a.pending(), a.live()), (0, 1));
}

#[test]
fn duplicates_are_refused_while_pending_and_while_live() {
    let now = Instant::now();
    let mut a = Assembler::new();
    a.add(1, headers(StreamKind::Error, 80, "0"), now).unwrap();
    assert_eq!(
        a.add(3, headers(StreamKind::Error, 80, "0"), now),
        Err(PairError::Duplicate {
            request_id: "0".into(),
            kind: StreamKind::Error
        })
    );
    a.add(5, headers(StreamKind::Data, 80, "0"), now)
        .unwrap()
        .unwrap();
    assert!(matches!(
        a.add(7, headers(StreamKind::Data, 80, "0"), now),
        Err(PairError::Duplicate { .. })
    ));
    // Once finished, the id may be used again (the kubelet forgets finished pairs).
    a.finished("0");
    assert_eq!(a.add(9, headers(StreamKind::Error, 80, "0"), now), Ok(None));
}

#[test]
fn streams_of_one_pair_must_name_one_port() {
    let now = Instant::now();
    let mut a = Assembler::new();
    a.add(1, headers(StreamKind::Error, 80, "0"), now).unwrap();
    assert_eq!(
        a.add(3, headers(StreamKind::Data, 81, "0"), now),
        Err(PairError::PortMismatch {
            request_id: "0".into()
        })
    );
    // The refused stream did not spoil the pair.
    assert!(
        a.add(5, headers(StreamKind::Data, 80, "0"), now)
            .unwrap()
            .is_some()
    );
}

#[test]
fn at_most_max_pairs_pending_or_live() {
    let now = Instant::now();
    let mut a = Assembler::new();
    for i in 0..MAX_PAIRS as u32 {
        let kind = if i % 2 == 0 {
            StreamKind::Error
        } else {
            StreamKind::Data
        };
        a.add(2 * i + 1, headers(kind, 80, &i.to_string()), now)
            .unwrap();
    }
    assert_eq!(
        a.add(999, headers(StreamKind::Error, 80, "new"), now),
        Err(PairError::TooManyPairs)
    );
    // Completing a pending pair is still possible at the cap.
    assert!(
        a.add(1001, headers(StreamKind::Data, 80, "0"), now)
            .unwrap()
            .is_some()
    );
    a.finished("0");
    assert_eq!(
        a.add(1003, headers(StreamKind::Error, 80, "new"), now),
        Ok(None)
    );
}

#[test]
fn incomplete_pairs_expire_after_the_timeout() {
    let start = Instant::now();
    let mut a = Assembler::new();
    a.add(1, headers(StreamKind::Error, 80, "0"), start)
        .unwrap();
    a.add(
        3,
        headers(StreamKind::Data, 80, "1"),
        start + PAIR_TIMEOUT / 2,
    )
    .unwrap();
    assert!(a.expired(start + PAIR_TIMEOUT / 2).is_empty());
    assert_eq!(a.expired(start + PAIR_TIMEOUT), vec![1]);
    assert_eq!(a.expired(start + PAIR_TIMEOUT * 2), vec![3]);
    assert_eq!(a.pending(), 0);
}

#[test]
fn abandon_returns_the_pending_pair_streams() {
    let now = Instant::now();
    let mut a = Assembler::new();
    a.add(1, headers(StreamKind::Error, 80, "0"), now).unwrap();
    assert_eq!(a.abandon(1), vec![1]);
    assert!(a.abandon(1).is_empty());
    assert_eq!(a.pending(), 0);
}
