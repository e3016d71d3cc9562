use super::*;

fn data(channel: Channel, bytes: &'static [u8]) -> Decoded {
    Decoded::Msg(Msg::Data(Frame::new(channel, Bytes::from_static(bytes))))
}

fn close(channel: Channel) -> Decoded {
    Decoded::Msg(Msg::Close(channel))
}

/// `decode_ok!(protocol, input => expected)`: the message decodes to `expected`.
macro_rules! decode_ok {
    ($($name:ident: $proto:expr, $input:expr => $expected:expr;)*) => {$(
        #[test]
        fn $name() {
            let got = decode($proto, Bytes::from_static($input)).expect("decodes");
            assert_eq!(got, $expected);
        }
    )*};
}

/// `decode_err!(protocol, input => predicate)`: decoding fails with that error class.
macro_rules! decode_err {
    ($($name:ident: $proto:expr, $input:expr => $pred:ident;)*) => {$(
        #[test]
        fn $name() {
            let err = decode($proto, Bytes::from_static($input)).expect_err("fails");
            assert!(err.$pred(), "{err}");
        }
    )*};
}

decode_ok! {
    v5_stdin: WsProtocol::V5, b"\x00ls\n" => data(Channel::Stdin, b"ls\n");
    v5_resize: WsProtocol::V5, b"\x04{\"Width\":80,\"Height\":24}\n"
        => data(Channel::Resize, b"{\"Width\":80,\"Height\":24}\n");
    v5_channel_byte_only_is_empty_data: WsProtocol::V5, b"\x01" => data(Channel::Stdout, b"");
    v5_close_stdin: WsProtocol::V5, b"\xff\x00" => close(Channel::Stdin);
    v5_close_resize: WsProtocol::V5, b"\xff\x04" => close(Channel::Resize);
    v5_empty_is_skipped: WsProtocol::V5, b"" => Decoded::Empty;
    v5_unknown_channel: WsProtocol::V5, b"\x05abc" => Decoded::UnknownChannel(5);
    v4_stdout: WsProtocol::V4, b"\x01hello" => data(Channel::Stdout, b"hello");
    v4_close_bytes_are_an_unknown_channel: WsProtocol::V4, b"\xff\x00"
        => Decoded::UnknownChannel(0xFF);
    v1_error_text: WsProtocol::V1, b"\x03boom" => data(Channel::Error, b"boom");
    unnamed_is_binary: WsProtocol::Unnamed, b"\x00x" => data(Channel::Stdin, b"x");
    v4_base64_stdin: WsProtocol::V4Base64, b"0aGVsbG8=" => data(Channel::Stdin, b"hello");
    v4_base64_error: WsProtocol::V4Base64, b"3e30=" => data(Channel::Error, b"{}");
    v4_base64_empty_payload: WsProtocol::V4Base64, b"1" => data(Channel::Stdout, b"");
    v4_base64_binary_digit_is_unknown: WsProtocol::V4Base64, b"\x00aGk="
        => Decoded::UnknownChannel(0u8.wrapping_sub(b'0'));
    v4_base64_digit_out_of_range: WsProtocol::V4Base64, b"9aGk=" => Decoded::UnknownChannel(9);
    v1_base64_resize: WsProtocol::V1Base64, b"4e30=" => data(Channel::Resize, b"{}");
    base64_empty_is_skipped: WsProtocol::V1Base64, b"" => Decoded::Empty;
}

decode_err! {
    v5_close_too_short: WsProtocol::V5, b"\xff" => is_bad_close;
    v5_close_too_long: WsProtocol::V5, b"\xff\x00\x00" => is_bad_close;
    v5_close_unknown_channel: WsProtocol::V5, b"\xff\x07" => is_bad_close;
    base64_invalid_alphabet: WsProtocol::V4Base64, b"0a*b=" => is_invalid_base64;
    base64_missing_padding: WsProtocol::V4Base64, b"0aGVsbG8" => is_invalid_base64;
    base64_url_alphabet_rejected: WsProtocol::V1Base64, b"0-_8=" => is_invalid_base64;
}

#[test]
fn binary_decode_is_zero_copy() {
    let message = Bytes::from(vec![1u8, 10, 20, 30]);
    let base = message.as_ptr();
    let Decoded::Msg(Msg::Data(frame)) = decode(WsProtocol::V5, message).unwrap() else {
        panic!("expected data");
    };
    assert_eq!(frame.bytes.as_ptr(), base.wrapping_add(1));
}

#[test]
fn oversized_message_is_rejected() {
    let message = Bytes::from(vec![0u8; MAX_MESSAGE_LEN + 1]);
    assert!(decode(WsProtocol::V4, message).unwrap_err().is_too_long());
    let message = Bytes::from(vec![0u8; MAX_MESSAGE_LEN]);
    assert!(decode(WsProtocol::V4, message).is_ok());
}

#[test]
fn encode_binary_and_text() {
    let m = encode(WsProtocol::V5, Channel::Stdout, b"hi");
    assert_eq!(m, Message::Binary(Bytes::from_static(b"\x01hi")));
    let m = encode(WsProtocol::V4, Channel::Error, b"");
    assert_eq!(m, Message::Binary(Bytes::from_static(b"\x03")));
    let m = encode(WsProtocol::V4Base64, Channel::Stderr, b"hello");
    assert_eq!(m, Message::text("2aGVsbG8="));
    let m = encode(WsProtocol::V1Base64, Channel::Stdout, b"");
    assert_eq!(m, Message::text("1"));
}

#[test]
fn encode_then_decode_round_trips() {
    let payload: Vec<u8> = (0..=255u8).collect();
    for protocol in WsProtocol::ALL {
        for channel in Channel::ALL {
            let message = encode(protocol, channel, &payload);
            let bytes = match message {
                Message::Binary(b) => b,
                Message::Text(t) => Bytes::from(t),
                other => panic!("unexpected {other:?}"),
            };
            let got = decode(protocol, bytes).unwrap();
            assert_eq!(
                got,
                Decoded::Msg(Msg::Data(Frame::new(channel, payload.clone()))),
                "{protocol:?} {channel:?}"
            );
        }
    }
}

#[test]
fn close_only_on_v5() {
    assert_eq!(
        encode_close(WsProtocol::V5, Channel::Stdin),
        Some(Message::Binary(Bytes::from_static(&[0xFF, 0])))
    );
    for p in [WsProtocol::V4, WsProtocol::V4Base64, WsProtocol::V1] {
        assert_eq!(encode_close(p, Channel::Stdin), None);
    }
}

#[test]
fn chunks_split_without_copy() {
    let bytes = Bytes::from(vec![7u8; 10]);
    let parts: Vec<Bytes> = chunks(&bytes, 4).collect();
    assert_eq!(parts.iter().map(Bytes::len).collect::<Vec<_>>(), [4, 4, 2]);
    assert_eq!(parts[1].as_ptr(), bytes.as_ptr().wrapping_add(4));
    let empty = Bytes::new();
    assert_eq!(chunks(&empty, 4).count(), 1);
    let exact = Bytes::from(vec![0u8; 8]);
    assert_eq!(chunks(&exact, 4).count(), 2);
}
