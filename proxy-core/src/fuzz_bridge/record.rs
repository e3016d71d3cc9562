//! Recording chunks and whole-session verification.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ed25519_dalek::VerifyingKey;

use super::input::Input;
use crate::channel::Channel;
use crate::pipeline::{EndReason, Pipeline, SessionEnd};
use crate::record::store::{RecordStore, seal_name};
use crate::record::{
    Event, Recorder, RecordingConfig, SealSigner, SessionMeta, chunk, verify_session,
};
use crate::status::Status;

/// `record::chunk::decode` on arbitrary bytes: never panics; a decoded chunk has the event
/// count its header states.
pub fn recording_chunk(data: &[u8]) {
    if let Ok((header, events)) = chunk::decode(data) {
        assert_eq!(header.events as usize, events.len());
        assert!(header.raw_len as usize <= chunk::MAX_PAYLOAD);
    }
}

/// A valid, signed recording of a short session, as stored objects.
#[derive(Debug, Clone)]
pub struct Recording {
    session: String,
    objects: Vec<(String, Bytes)>,
    key: VerifyingKey,
}

impl Recording {
    /// Records a session of several chunks with the real recorder into a `memory://` store
    /// and reads its objects back. Call on a tokio runtime.
    pub async fn record() -> Recording {
        let config = RecordingConfig {
            store: "memory://".into(),
            chunk_bytes: Some(512),
            chunk_interval_ms: Some(50),
            window_bytes: Some(1 << 20),
            ..Default::default()
        };
        let store = RecordStore::open(&config.store, &[], None).expect("memory store");
        let signer = SealSigner::from_seed(&[7; 32]);
        let key = signer.verifying_key();
        let recorder = Recorder::new(config, store.clone(), Some(signer));
        let pipeline = Pipeline::new();
        let meta = SessionMeta {
            kind: "exec".into(),
            user: "fuzz".into(),
            namespace: "default".into(),
            pod: "web-0".into(),
            argv: vec!["sh".into()],
            ..Default::default()
        };
        let handle = recorder.start(meta, pipeline.end_handle());
        for i in 0..40 {
            let (channel, text) = match i % 4 {
                0 => (Channel::Stdin, format!("echo {i}\n")),
                3 => (Channel::Stderr, format!("warning {i}\n")),
                _ => (Channel::Stdout, format!("line {i} of the output\n")),
            };
            let event = Event::Data {
                channel,
                bytes: Bytes::from(text),
            };
            handle.record(event).expect("window has room");
        }
        handle.finish(&SessionEnd {
            reason: EndReason::Completed,
            status: Status::success(),
        });
        let session = handle.session_id().to_string();
        for _ in 0..1000 {
            if store.get(&seal_name(&session)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut objects = Vec::new();
        for name in store.objects(&session).await.expect("list") {
            let bytes = store
                .get(&format!("{session}/{name}"))
                .await
                .expect("read back");
            objects.push((name, bytes));
        }
        assert!(
            objects.len() >= 3 && objects.iter().any(|(n, _)| n == "seal"),
            "recording has chunks and a seal: {:?}",
            objects.iter().map(|(n, _)| n).collect::<Vec<_>>()
        );
        let recording = Recording {
            session,
            objects,
            key,
        };
        let report = recording.verify(recording.objects.clone()).await;
        assert!(
            report.intact,
            "the unmutated recording verifies: {report:?}"
        );
        recording
    }

    async fn verify(&self, objects: Vec<(String, Bytes)>) -> crate::record::SessionReport {
        let store = RecordStore::from_object_store(
            Arc::new(object_store::memory::InMemory::new()),
            "memory://",
        );
        for (name, bytes) in objects {
            let name = format!("{}/{name}", self.session);
            store.put_new(&name, bytes).await.expect("fresh store");
        }
        verify_session(&store, &self.session, Some(&self.key), &|| {}).await
    }
}

/// One fuzzer-chosen mutation of `recording` (flip a byte, delete an object, swap two
/// objects' contents, append bytes, truncate) is never reported intact.
pub async fn recording_verify(recording: &Recording, data: &[u8]) {
    let mut input = Input::new(data);
    let mut objects = recording.objects.clone();
    let n = objects.len();
    let kind = input.byte() % 5;
    let i = usize::from(input.byte()) % n;
    let what = match kind {
        0 => {
            let object = objects[i].1.to_vec();
            let at = usize::from(input.u16()) % object.len().max(1);
            let mask = input.byte().max(1);
            let mut object = object;
            if let Some(b) = object.get_mut(at) {
                *b ^= mask;
            }
            objects[i].1 = Bytes::from(object);
            format!("flip {mask:#04x} at {at} of {}", objects[i].0)
        }
        1 => {
            let (name, _) = objects.remove(i);
            format!("delete {name}")
        }
        2 => {
            let j = (i + 1 + usize::from(input.byte()) % (n - 1)) % n;
            let (a, b) = (objects[i].1.clone(), objects[j].1.clone());
            objects[i].1 = b;
            objects[j].1 = a;
            format!("swap {} and {}", objects[i].0, objects[j].0)
        }
        3 => {
            let mut tail = input.rest().to_vec();
            if tail.is_empty() {
                tail.push(0);
            }
            let mut object = objects[i].1.to_vec();
            object.extend_from_slice(&tail);
            objects[i].1 = Bytes::from(object);
            format!("append {} bytes to {}", tail.len(), objects[i].0)
        }
        _ => {
            let len = objects[i].1.len();
            let keep = usize::from(input.u16()) % len.max(1);
            objects[i].1 = objects[i].1.slice(..keep);
            format!("truncate {} from {len} to {keep}", objects[i].0)
        }
    };
    let report = recording.verify(objects).await;
    assert!(!report.intact, "{what}: still intact");
    assert!(
        !report.problems.is_empty(),
        "{what}: not intact, no problem"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_mutation_kind_is_detected() {
        let recording = Recording::record().await;
        for kind in 0..5u8 {
            for i in 0..recording.objects.len() as u8 {
                recording_verify(&recording, &[kind, i, 0, 9, 0x40, 1]).await;
            }
        }
    }

    #[test]
    fn garbage_chunks_are_refused() {
        for garbage in [&b""[..], b"KWRC\x01\x00\x00\x00", &[0xff; 200]] {
            recording_chunk(garbage);
            assert!(
                chunk::decode(garbage).is_err(),
                "{} decoded",
                garbage.escape_ascii()
            );
        }
    }
}
