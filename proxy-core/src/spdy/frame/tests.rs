//! Round trips for every frame type and each strictness rule, in raw bytes.

use bytes::{BufMut, Bytes};

use super::*;

fn round_trip(frame: Frame) {
    let mut wire = Vec::new();
    frame.encode(&mut wire);
    let head = Head::parse(wire[..HEAD_LEN].try_into().unwrap()).unwrap();
    assert_eq!(head.length as usize, wire.len() - HEAD_LEN);
    let back = Frame::parse(head, Bytes::copy_from_slice(&wire[HEAD_LEN..])).unwrap();
    assert_eq!(back, frame);
}

/// Parses a raw control frame of type `ty` with `flags` and `payload`.
fn control(ty: u16, flags: u8, payload: &[u8]) -> Result<Frame, Error> {
    let mut wire = vec![0x80, 0x03];
    wire.put_u16(ty);
    wire.put_u32((u32::from(flags) << 24) | payload.len() as u32);
    let head = Head::parse(wire[..].try_into().unwrap())?;
    Frame::parse(head, Bytes::copy_from_slice(payload))
}

fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_be_bytes()).collect()
}

#[test]
fn every_type_round_trips() {
    let block = Bytes::from_static(b"\x78\xf9compressed");
    round_trip(Frame::Data(Data {
        stream_id: 5,
        fin: true,
        payload: Bytes::from_static(b"hello"),
    }));
    round_trip(Frame::Data(Data {
        stream_id: 0x7fff_ffff,
        fin: false,
        payload: Bytes::new(),
    }));
    round_trip(Frame::SynStream(SynStream {
        stream_id: 3,
        associated_to: 1,
        priority: 7,
        slot: 2,
        fin: true,
        unidirectional: true,
        header_block: block.clone(),
    }));
    round_trip(Frame::SynReply(SynReply {
        stream_id: 3,
        fin: false,
        header_block: block.clone(),
    }));
    round_trip(Frame::RstStream(RstStream {
        stream_id: 9,
        status: RstStatus::CANCEL,
    }));
    round_trip(Frame::Settings(Settings {
        clear: true,
        entries: vec![Setting {
            flags: 1,
            id: 7,
            value: 65536,
        }],
    }));
    round_trip(Frame::Settings(Settings::default()));
    round_trip(Frame::Ping(Ping { id: 2 }));
    round_trip(Frame::GoAway(GoAway {
        last_good_stream_id: 7,
        status: GoAwayStatus::OK,
    }));
    round_trip(Frame::Headers(Headers {
        stream_id: 1,
        fin: true,
        header_block: block,
    }));
    round_trip(Frame::WindowUpdate(WindowUpdate {
        stream_id: 0,
        delta: 1 << 20,
    }));
}

#[test]
fn head_wire_layout() {
    let mut wire = Vec::new();
    Ping { id: 1 }.encode(&mut wire);
    assert_eq!(wire, [0x80, 0x03, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1]);
    let mut wire = Vec::new();
    Data {
        stream_id: 3,
        fin: true,
        payload: Bytes::new(),
    }
    .encode(&mut wire);
    assert_eq!(wire, [0, 0, 0, 3, 1, 0, 0, 0]);
}

#[test]
fn unknown_control_types_and_versions_are_rejected() {
    for ty in [0u16, 5, 10, 11, 0xffff] {
        let mut wire = vec![0x80, 0x03];
        wire.put_u16(ty);
        wire.put_u32(0);
        assert!(
            Head::parse(wire[..].try_into().unwrap())
                .unwrap_err()
                .is_protocol(),
            "{ty}"
        );
    }
    let wire = [0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4];
    assert!(Head::parse(&wire).unwrap_err().is_protocol());
}

#[test]
fn stream_id_zero_is_rejected() {
    let head = Head::data(0, 0, 1);
    assert!(
        Frame::parse(head, Bytes::from_static(b"x"))
            .unwrap_err()
            .is_protocol()
    );
    assert!(control(1, 0, &[0; 10]).unwrap_err().is_protocol());
    assert!(control(2, 0, &[0; 6]).unwrap_err().is_protocol());
    assert!(control(3, 0, &words(&[0, 5])).unwrap_err().is_protocol());
    assert!(control(8, 0, &[0; 6]).unwrap_err().is_protocol());
    // The reserved bit is ignored: 0x80000000 is stream 0.
    assert!(
        control(3, 0, &words(&[0x8000_0000, 5]))
            .unwrap_err()
            .is_protocol()
    );
}

#[test]
fn rst_stream_rules() {
    assert!(control(3, 0, &words(&[1, 0])).unwrap_err().is_protocol());
    assert!(control(3, 1, &words(&[1, 5])).unwrap_err().is_protocol());
    assert!(control(3, 0, &words(&[1, 5, 0])).unwrap_err().is_protocol());
    assert!(control(3, 0, &words(&[1])).unwrap_err().is_protocol());
    assert!(control(3, 0, &words(&[1, 5])).is_ok());
    assert_eq!(RstStatus::new(0), None);
}

#[test]
fn ping_rules() {
    assert!(control(6, 0, &words(&[0])).unwrap_err().is_protocol());
    assert!(control(6, 1, &words(&[1])).unwrap_err().is_protocol());
    assert!(control(6, 0, &words(&[1, 0])).unwrap_err().is_protocol());
    assert!(control(6, 0, &[0, 1]).unwrap_err().is_protocol());
    assert_eq!(
        control(6, 0, &words(&[7])).unwrap(),
        Frame::Ping(Ping { id: 7 })
    );
}

#[test]
fn goaway_and_window_update_must_be_eight_bytes_without_flags() {
    // The SPDY/2 four-byte GOAWAY is rejected.
    assert!(control(7, 0, &words(&[1])).unwrap_err().is_protocol());
    assert!(control(7, 0, &words(&[1, 0, 0])).unwrap_err().is_protocol());
    assert!(control(7, 1, &words(&[1, 0])).unwrap_err().is_protocol());
    assert!(control(7, 0, &words(&[0, 0])).is_ok());
    assert!(control(9, 0, &words(&[1])).unwrap_err().is_protocol());
    assert!(control(9, 1, &words(&[1, 1])).unwrap_err().is_protocol());
    assert!(control(9, 0, &words(&[1, 0])).unwrap_err().is_protocol());
    assert!(control(9, 0, &words(&[0, 1])).is_ok());
}

#[test]
fn flags_and_short_frames_are_rejected() {
    let head = Head::data(1, 0x02, 0);
    assert!(Frame::parse(head, Bytes::new()).unwrap_err().is_protocol());
    assert!(
        control(1, 0x04, &words(&[1, 0, 0]))
            .unwrap_err()
            .is_protocol()
    );
    assert!(
        control(1, 0, &[0, 0, 0, 1, 0, 0, 0, 0, 0])
            .unwrap_err()
            .is_protocol()
    );
    assert!(control(2, 0x02, &words(&[1])).unwrap_err().is_protocol());
    assert!(control(2, 0, &[0, 0, 1]).unwrap_err().is_protocol());
    assert!(control(8, 0, &[0, 0, 1]).unwrap_err().is_protocol());
    assert!(control(4, 0x02, &words(&[0])).unwrap_err().is_protocol());
}

#[test]
fn settings_count_must_match_length() {
    assert!(control(4, 0, &words(&[2, 1, 1])).unwrap_err().is_protocol());
    assert!(
        control(4, 0, &words(&[0xffff_ffff]))
            .unwrap_err()
            .is_protocol()
    );
    assert!(control(4, 0, &[0, 0]).unwrap_err().is_protocol());
    let f = control(4, 0, &words(&[1, 0x0100_0004, 100])).unwrap();
    let Frame::Settings(s) = f else { panic!() };
    assert_eq!(
        s.entries,
        [Setting {
            flags: 1,
            id: 4,
            value: 100
        }]
    );
}

#[test]
fn payload_must_match_head_length() {
    let head = Head::control(ControlType::Ping, 0, 4);
    assert!(
        Frame::parse(head, Bytes::from_static(b"\0\0\0"))
            .unwrap_err()
            .is_protocol()
    );
}
