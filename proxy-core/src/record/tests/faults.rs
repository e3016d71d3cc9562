//! Fault tests: the store failing mid-session, and a crash with chunks left in the spool.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path as ObjPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use super::super::{RecordFilter, RecordStore, Recorder};
use super::{arc_store, config, feed, meta, signer};
use crate::channel::{Channel, Frame, Msg};
use crate::peer::Peer;
use crate::pipeline::{Direction, EndReason, Pipeline};

/// An in-memory store whose writes fail (or hang) after `puts` successful ones. With
/// `spool` set it also checks, at every chunk write, that the chunk is already in the spool
/// and that every earlier chunk is stored or spooled (the writer's durability order).
#[derive(Debug)]
struct Flaky {
    inner: Arc<InMemory>,
    puts: AtomicI64,
    hang: bool,
    spool: Option<std::path::PathBuf>,
    delay: std::time::Duration,
    violations: Mutex<Vec<String>>,
    /// The most chunk files seen in the spool at one write.
    max_spooled: AtomicUsize,
}

impl Flaky {
    /// Checks the durability order for a write of `location` (see the type's docs).
    async fn witness(&self, location: &ObjPath) {
        let Some(spool) = &self.spool else { return };
        let name = location.as_ref();
        let Some((session, file)) = name.split_once('/') else {
            return;
        };
        let Some(seq) = file
            .strip_suffix(".chunk")
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return;
        };
        let dir = spool.join(session);
        let spooled = std::fs::read_dir(&dir).map_or(0, |d| d.count());
        self.max_spooled.fetch_max(spooled, Ordering::SeqCst);
        let mut bad = Vec::new();
        if !dir.join(file).exists() {
            bad.push(format!("{name} stored before it was spooled"));
        }
        for q in 0..seq {
            let earlier = super::super::store::chunk_name(session, q);
            let file = earlier.rsplit('/').next().unwrap_or_default().to_owned();
            let stored = self
                .inner
                .head(&ObjPath::from(earlier.as_str()))
                .await
                .is_ok();
            if !stored && !dir.join(&file).exists() {
                bad.push(format!(
                    "{name} stored while {earlier} is neither stored nor spooled"
                ));
            }
        }
        self.violations.lock().unwrap().extend(bad);
    }
}

impl std::fmt::Display for Flaky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Flaky")
    }
}

#[async_trait]
impl ObjectStore for Flaky {
    async fn put_opts(
        &self,
        location: &ObjPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.witness(location).await;
        tokio::time::sleep(self.delay).await;
        if self.puts.fetch_sub(1, Ordering::SeqCst) <= 0 {
            if self.hang {
                std::future::pending::<()>().await;
            }
            return Err(object_store::Error::Generic {
                store: "flaky",
                source: "injected write failure".into(),
            });
        }
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &ObjPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &ObjPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjPath>> {
        self.inner.delete_stream(locations)
    }
    fn list(
        &self,
        prefix: Option<&ObjPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjPath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

fn flaky(inner: &Arc<InMemory>, puts: i64, hang: bool) -> Flaky {
    Flaky {
        inner: inner.clone(),
        puts: AtomicI64::new(puts),
        hang,
        spool: None,
        delay: std::time::Duration::ZERO,
        violations: Mutex::new(Vec::new()),
        max_spooled: AtomicUsize::new(0),
    }
}

#[tokio::test]
async fn chunks_are_stored_in_batches_only_after_the_whole_batch_is_spooled() {
    let spool = tempfile::tempdir().unwrap();
    let mem = Arc::new(InMemory::new());
    let cfg = config("memory://", Some(spool.path().to_path_buf()));
    // A slow store: chunks cut meanwhile queue up and go out as batches.
    let witness = Arc::new(Flaky {
        spool: Some(spool.path().to_path_buf()),
        delay: std::time::Duration::from_millis(5),
        ..flaky(&mem, i64::MAX, false)
    });
    let witnessed = RecordStore::from_object_store(witness.clone(), "test://");
    let rec = Recorder::new(cfg, witnessed, Some(signer()));
    let h = rec.start(meta(), Pipeline::new().end_handle());
    feed(&h, 2000);
    h.finish(&super::completed());
    let id = h.session_id().to_string();
    let store = arc_store(flaky(&mem, i64::MAX, false));
    super::sealed(&store, &id).await;
    assert_eq!(*witness.violations.lock().unwrap(), Vec::<String>::new());
    assert!(
        witness.max_spooled.load(Ordering::SeqCst) > 1,
        "chunks were spooled as batches"
    );
    let r = super::super::verify_session(&store, &id, None, &|| {}).await;
    assert!(r.intact, "{:?}", r.problems);
    assert!(r.chunks > 20, "{} chunks", r.chunks);
    assert!(
        !spool.path().join(&id).exists(),
        "the spool is cleared after the seal"
    );
}

#[tokio::test]
async fn a_failing_store_ends_the_session_and_recovery_seals_it_interrupted() {
    let spool = tempfile::tempdir().unwrap();
    let mem = Arc::new(InMemory::new());
    let cfg = config("memory://", Some(spool.path().to_path_buf()));
    let rec = Recorder::new(
        cfg.clone(),
        arc_store(flaky(&mem, 3, false)),
        Some(signer()),
    );

    let mut pipeline = Pipeline::new();
    let h = rec.start(meta(), pipeline.end_handle());
    pipeline.filter(
        Direction::ToServer,
        Box::new(RecordFilter::new(h.clone(), false)),
    );
    pipeline.filter(
        Direction::ToClient,
        Box::new(RecordFilter::new(h.clone(), true)),
    );
    let (client, mut c) = Peer::fake();
    let (server, s) = Peer::fake();
    let session = tokio::spawn(pipeline.run(client, server));
    // The client reads everything; the server writes until the session stops taking it.
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(m) = c.from_pipeline.recv().await {
            got.push(m);
        }
        got
    });
    let line = Bytes::from_static(b"0123456789 output that keeps coming\n");
    for _ in 0..100_000 {
        let msg = Msg::Data(Frame::new(Channel::Stdout, line.clone()));
        if s.to_pipeline.send(msg).await.is_err() {
            break;
        }
        tokio::task::yield_now().await;
    }
    let end = tokio::time::timeout(std::time::Duration::from_secs(10), session)
        .await
        .expect("the session ends")
        .unwrap();
    assert_eq!(end.reason, EndReason::Ended);
    assert_eq!(end.status.reason, "RecordingFailed");
    assert!(
        end.status.message.contains("recording store failed"),
        "{}",
        end.status.message
    );
    let got = reader.await.unwrap();
    assert!(matches!(got.last(), Some(Msg::Data(f)) if f.channel == Channel::Error));
    let id = h.session_id().to_string();
    // Unsealed until recovery.
    let healthy = arc_store(flaky(&mem, i64::MAX, false));
    let r = super::super::verify_session(&healthy, &id, None, &|| {}).await;
    assert_eq!(r.problems, [super::super::Problem::Unsealed]);
    // Give the writer a moment to spool what it had.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let recovered = Recorder::new(cfg, healthy.clone(), Some(signer()));
    assert_eq!(
        recovered.recover().await.unwrap(),
        std::slice::from_ref(&id)
    );
    let pin = signer().verifying_key();
    let r = super::super::verify_session(&healthy, &id, Some(&pin), &|| {}).await;
    assert!(r.intact, "{:?}", r.problems);
    assert_eq!(r.end_reason.as_deref(), Some("interrupted"));
    assert!(r.chunks > 3, "spooled chunks were uploaded: {}", r.chunks);
    // Everything the client received up to the failure is in the record… within the window.
    let client_bytes: u64 = got
        .iter()
        .filter_map(|m| match m {
            Msg::Data(f) if f.channel == Channel::Stdout => Some(f.bytes.len() as u64),
            _ => None,
        })
        .sum();
    assert!(r.bytes.stdout <= client_bytes && client_bytes - r.bytes.stdout <= 1 << 20);
    // The spool is gone; a second recovery has nothing to do.
    assert!(recovered.recover().await.unwrap().is_empty());
}

#[tokio::test]
async fn chunks_spooled_before_a_crash_are_uploaded_and_sealed_interrupted() {
    let spool = tempfile::tempdir().unwrap();
    let mem = Arc::new(InMemory::new());
    let cfg = config("memory://", Some(spool.path().to_path_buf()));
    let id;
    {
        // The store accepts two writes, then hangs: later chunks wait in the spool.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cfg = cfg.clone();
        let mem = mem.clone();
        id = std::thread::spawn(move || {
            runtime.block_on(async {
                let rec = Recorder::new(cfg, arc_store(flaky(&mem, 2, true)), Some(signer()));
                let h = rec.start(meta(), Pipeline::new().end_handle());
                feed(&h, 50);
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                h.session_id().to_string()
            })
            // The runtime is dropped here with the writer stuck: the "crash".
        })
        .join()
        .unwrap();
    }
    let spooled = std::fs::read_dir(spool.path().join(&id)).unwrap().count();
    assert!(spooled >= 1, "something waits in the spool");
    let store = arc_store(flaky(&mem, i64::MAX, false));
    let rec = Recorder::new(cfg, store.clone(), Some(signer()));
    assert_eq!(rec.recover().await.unwrap(), std::slice::from_ref(&id));
    let r = super::super::verify_session(&store, &id, None, &|| {}).await;
    assert!(r.intact, "{:?}", r.problems);
    assert_eq!(r.end_reason.as_deref(), Some("interrupted"));
    assert!(r.chunks >= 3, "{} chunks", r.chunks);
    assert!(!spool.path().join(&id).exists());
}

/// Runs a session whose server writes `lines` lines while the client reads everything;
/// returns how it ended, how many stdout bytes the client got, and what `probe` said when
/// the client got its last stdout byte.
async fn session_against(
    rec: &Recorder,
    lines: usize,
    probe: impl Fn() -> i64 + Send + 'static,
) -> (crate::pipeline::SessionEnd, usize, i64) {
    let mut pipeline = Pipeline::new();
    let h = rec.start(meta(), pipeline.end_handle());
    pipeline.filter(
        Direction::ToServer,
        Box::new(RecordFilter::new(h.clone(), false)),
    );
    pipeline.filter(Direction::ToClient, Box::new(RecordFilter::new(h, true)));
    let (client, mut c) = Peer::fake();
    let (server, s) = Peer::fake();
    let session = tokio::spawn(pipeline.run(client, server));
    let reader = tokio::spawn(async move {
        let (mut got, mut probed) = (0, probe());
        while let Some(m) = c.from_pipeline.recv().await {
            if let Msg::Data(f) = m
                && f.channel == Channel::Stdout
            {
                got += f.bytes.len();
                probed = probe();
            }
        }
        (got, probed)
    });
    let line = Bytes::from_static(b"0123456789 output that keeps coming\n");
    for _ in 0..lines {
        let frame = Msg::Data(Frame::new(Channel::Stdout, line.clone()));
        if s.to_pipeline.send(frame).await.is_err() {
            break;
        }
    }
    let status = crate::status::Status::success();
    let _ = s
        .to_pipeline
        .send(Msg::Data(Frame::new(Channel::Error, status.to_json())))
        .await;
    drop(s);
    let end = session.await.unwrap();
    let (got, probed) = reader.await.unwrap();
    (end, got, probed)
}

#[tokio::test(start_paused = true)]
async fn a_client_faster_than_the_store_is_slowed_down_not_cut_off() {
    // A window of four small chunks against a stream of ~180 KiB through a store that takes
    // 20 ms a write: the client must wait for the store many times over, and the session
    // still completes, fully recorded.
    let mem = Arc::new(InMemory::new());
    let mut cfg = config("memory://", None);
    cfg.window_bytes = Some(4096);
    let slow = Arc::new(Flaky {
        delay: std::time::Duration::from_millis(20),
        ..flaky(&mem, i64::MAX, false)
    });
    let stored = {
        let slow = slow.clone();
        move || i64::MAX - slow.puts.load(Ordering::SeqCst)
    };
    let store = RecordStore::from_object_store(slow.clone(), "test://");
    let rec = Recorder::new(cfg, store, Some(signer()));
    let (end, got, stored_at_last_byte) = session_against(&rec, 5000, stored.clone()).await;
    assert_eq!(end.reason, EndReason::Completed, "{:?}", end.status);
    assert_eq!(got, 5000 * 36);
    let written = arc_store(flaky(&mem, i64::MAX, false));
    let mut listed = written.sessions().await.unwrap();
    for _ in 0..500 {
        if !listed.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        listed = written.sessions().await.unwrap();
    }
    let id = listed.pop().expect("the session is stored");
    super::sealed(&written, &id).await;
    // Paced by the store: when the client got its last byte, all but about a window of
    // chunks (plus the seal's objects) were already stored.
    let total = stored();
    eprintln!("{total} writes, {stored_at_last_byte} done when the client got its last byte");
    assert!(total > 100, "{total} writes");
    assert!(
        total - stored_at_last_byte <= 12,
        "the client got its last byte after {stored_at_last_byte} of {total} writes"
    );
}

#[tokio::test(start_paused = true)]
async fn a_store_that_stays_stuck_ends_the_session_within_one_window() {
    let mem = Arc::new(InMemory::new());
    let mut cfg = config("memory://", None);
    cfg.window_bytes = Some(4096);
    // Two chunks go through, then every write hangs.
    let rec = Recorder::new(cfg, arc_store(flaky(&mem, 2, true)), Some(signer()));
    let (end, got, _) = session_against(&rec, 100_000, || 0).await;
    assert_eq!(end.reason, EndReason::Ended);
    assert_eq!(end.status.reason, "RecordingFailed", "{:?}", end.status);
    // The client saw no more than what was stored plus one window.
    assert!(got <= 2 * 1024 + 4096 + 36, "client got {got} bytes");
}
