//! End to end on loopback: the in-process client against the simulated API server directly
//! (TLS) and through kubewitness with everything on (policy, redaction, recording to a file
//! store), over WebSocket v5 and SPDY/3.1. See `kubewitness_benches::e2e`.
//!
//! * `e2e_stream/{direct,kubewitness}/{ws,spdy}`: a 256 MiB exec stdout of log text
//!   (`cat` of an 8 MiB corpus file, 32 times), timed from connect to the final status.
//! * `e2e_ttfb/…`: connect (TCP, TLS, upgrade) to the first stdout byte of `printf x`.
//! * `e2e_rtt/…`: one interactive round trip, stdin byte → `cat` → echoed stdout byte, on
//!   one long-lived session (criterion reports the mean; p50/p99 come from
//!   `benches/compare.sh`).
//! * `e2e_concurrent/kubewitness/ws/N`: N = 1, 100 sessions opened, then released together,
//!   each streaming 256 KiB; timed from release to the last byte. N = 1000 (opening takes
//!   tens of seconds on 2 cores, too long to repeat per sample), memory per session and
//!   peak RSS come from `benches/compare.sh` (one process per run).
//!
//! `kubectl proxy` and kubewitness with nothing on are legs of `benches/compare.sh` only.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-bench2 cargo bench -p kubewitness-benches --bench e2e`
//! Figures (medians, ratios, from `benches/compare.sh`) are in `BENCHMARKS.md`, section
//! "end to end": 256 MiB stdout direct 523/393 MiB/s (ws/spdy), kubewitness with policy,
//! redaction and recording 150/137 MiB/s (0.29×/0.35×); added p50 round trip +25–33 µs with
//! nothing on, +11.5 ms with redaction on (its 10 ms idle flush).

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kubewitness_benches::client::{Transport, exec_path, open};
use kubewitness_benches::e2e::{self, Env};
use proxy_core::channel::{Channel, Frame, Msg};

const STREAM_BYTES: u64 = 256 << 20;
const CONCURRENT_BYTES: u64 = 256 << 10;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let env = rt.block_on(Env::start(false)).expect("bench setup");
    let targets = [env.direct.clone(), env.full.clone()];

    let mut group = c.benchmark_group("e2e_stream");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Bytes(STREAM_BYTES));
    for transport in Transport::ALL {
        for t in &targets {
            group.bench_function(BenchmarkId::new(&t.name, transport.name()), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            rt.block_on(e2e::throughput(&env, t, transport, STREAM_BYTES))
                                .expect("stream")
                        })
                        .sum()
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("e2e_ttfb");
    group.sample_size(20);
    for transport in Transport::ALL {
        for t in &targets {
            group.bench_function(BenchmarkId::new(&t.name, transport.name()), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            rt.block_on(e2e::time_to_first_byte(t, transport))
                                .expect("ttfb")
                        })
                        .sum()
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("e2e_rtt");
    for transport in Transport::ALL {
        for t in &targets {
            let mut peer = rt
                .block_on(open(t, transport, &exec_path(&["cat"], true)))
                .expect("open");
            group.bench_function(BenchmarkId::new(&t.name, transport.name()), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let start = Instant::now();
                        for _ in 0..iters {
                            round_trip(&mut peer).await;
                        }
                        start.elapsed()
                    })
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("e2e_concurrent");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(100));
    for n in [1usize, 100] {
        group.throughput(Throughput::Bytes(CONCURRENT_BYTES * n as u64));
        group.bench_function(BenchmarkId::new("kubewitness/ws", n), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let r = rt
                            .block_on(e2e::concurrency(
                                &env,
                                &env.full,
                                Transport::WebSocket,
                                n,
                                CONCURRENT_BYTES,
                                64,
                            ))
                            .expect("sessions");
                        assert_eq!(r.errors, 0, "{:?}", r.first_error);
                        r.stream
                    })
                    .sum()
            })
        });
    }
    group.finish();
}

async fn round_trip(peer: &mut proxy_core::peer::Peer) {
    let byte = bytes::Bytes::from_static(b"x");
    peer.outgoing
        .send(Msg::Data(Frame::new(Channel::Stdin, byte.clone())))
        .await
        .expect("session open");
    loop {
        match peer.incoming.recv().await.expect("session open") {
            Msg::Data(Frame {
                channel: Channel::Stdout,
                bytes,
            }) if !bytes.is_empty() => {
                assert_eq!(bytes, byte, "echo");
                return;
            }
            _ => {}
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
