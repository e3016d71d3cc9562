//! `kw-bench`: the end-to-end comparison `benches/compare.sh` runs.
//!
//! * `kw-bench compare`: throughput of a large exec stdout, time to first byte of a 1-byte
//!   exec and interactive round trips, over WebSocket and SPDY, against every target
//!   (`direct`, `kubewitness`, `kubewitness-bare`, `kubectl-proxy`), A/B interleaved: each
//!   repetition visits the targets in a rotated order, so drift in the machine's load lands
//!   on all of them alike. Prints medians and ratios against `direct`.
//! * `kw-bench concurrency`: N sessions to one target in this process, idle memory, then all
//!   streaming at once; run once per process so peak memory belongs to that run alone.
//! * `kw-bench portforward`: bytes echoed through one forwarded connection, directly and
//!   through kubewitness (recorded), interleaved; medians and the ratio.

use std::time::Duration;

use clap::{Parser, Subcommand};
use kubewitness_benches::BenchError;
use kubewitness_benches::client::{Target, Transport};
use kubewitness_benches::e2e::{self, Env};
use kubewitness_benches::portforward;
use kubewitness_benches::stats::{self, median, mib_per_s, percentile};

#[derive(Debug, Parser)]
#[command(about = "kubewitness end-to-end benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Throughput, time to first byte and round trips against every target, interleaved.
    Compare {
        /// Stdout bytes per throughput run (rounded up to whole 8 MiB corpus copies).
        #[arg(long, default_value_t = 256 << 20)]
        bytes: u64,
        /// Throughput runs per target and transport.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        /// 1-byte execs per target and transport for time to first byte.
        #[arg(long, default_value_t = 20)]
        ttfb_runs: usize,
        /// Measured round trips per target and transport (after 100 unmeasured).
        #[arg(long, default_value_t = 2000)]
        rtt_rounds: usize,
        /// Leave out the `kubectl proxy` leg.
        #[arg(long)]
        no_kubectl: bool,
    },
    /// One or more large exec stdout streams to one target (for profilers).
    Stream {
        /// `direct`, `kubewitness` or `kubewitness-bare`.
        #[arg(long, default_value = "kubewitness")]
        target: String,
        /// `ws` or `spdy`.
        #[arg(long, default_value = "ws")]
        transport: String,
        /// Stdout bytes per run (rounded up to whole 8 MiB corpus copies).
        #[arg(long, default_value_t = 64 << 20)]
        bytes: u64,
        /// Runs.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
    },
    /// Port-forward: bytes echoed through one forwarded connection, direct vs kubewitness.
    Portforward {
        /// Bytes sent (and echoed back) per run.
        #[arg(long, default_value_t = 64 << 20)]
        bytes: u64,
        /// Runs per target.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// N concurrent streaming sessions to one target.
    Concurrency {
        /// `direct`, `kubewitness`, `kubewitness-bare` or `kubectl-proxy`.
        #[arg(long)]
        target: String,
        /// `ws` or `spdy`.
        #[arg(long, default_value = "ws")]
        transport: String,
        /// Concurrent sessions.
        #[arg(long)]
        sessions: usize,
        /// Stdout bytes each session streams (at most 8 MiB).
        #[arg(long, default_value_t = 256 << 10)]
        bytes_each: u64,
    },
}

fn main() -> Result<(), BenchError> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Compare {
                bytes,
                repeat,
                ttfb_runs,
                rtt_rounds,
                no_kubectl,
            } => compare(bytes, repeat, ttfb_runs, rtt_rounds, !no_kubectl).await,
            Command::Stream {
                target,
                transport,
                bytes,
                repeat,
            } => stream(&target, &transport, bytes, repeat).await,
            Command::Portforward { bytes, repeat } => portforward(bytes, repeat).await,
            Command::Concurrency {
                target,
                transport,
                sessions,
                bytes_each,
            } => concurrency(&target, &transport, sessions, bytes_each).await,
        }
    })
}

fn targets(env: &Env) -> Vec<Target> {
    [&env.direct, &env.full, &env.bare]
        .into_iter()
        .chain(env.kubectl.as_ref())
        .cloned()
        .collect()
}

/// `items` rotated left by `by`.
fn rotated<T: Clone>(items: &[T], by: usize) -> Vec<T> {
    let mut v = items.to_vec();
    if !v.is_empty() {
        let by = by % v.len();
        v.rotate_left(by);
    }
    v
}

fn print_ratio_table(title: &str, unit: &str, rows: &[(String, Transport, f64)]) {
    println!("\n{title}");
    println!(
        "{:<18} {:>5} {:>12} {:>10}",
        "target", "proto", unit, "vs direct"
    );
    for (name, t, v) in rows {
        let base = rows
            .iter()
            .find(|(n, bt, _)| n == "direct" && bt == t)
            .map(|r| r.2);
        let ratio = base.map_or(String::from("-"), |b| format!("{:.3}", v / b));
        println!("{name:<18} {:>5} {v:>12.3} {ratio:>10}", t.name());
    }
}

async fn portforward(bytes: u64, repeat: usize) -> Result<(), BenchError> {
    let env = Env::start(false).await?;
    let targets = [env.direct.clone(), env.full.clone()];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    for r in 0..repeat {
        for target in rotated(&targets, r) {
            let idx = targets
                .iter()
                .position(|t| t.name == target.name)
                .unwrap_or(0);
            let elapsed = portforward::echo_throughput(&target, bytes).await?;
            let rate = mib_per_s(bytes, elapsed);
            eprintln!("  run {r} {}: {rate:.1} MiB/s", target.name);
            rates[idx].push(rate);
        }
    }
    let rows: Vec<_> = targets
        .iter()
        .zip(&rates)
        .map(|(t, r)| {
            (
                t.name.clone(),
                Transport::Spdy,
                median(r).unwrap_or(f64::NAN),
            )
        })
        .collect();
    print_ratio_table(
        &format!(
            "port-forward echo, {} MiB each way through one connection, median of {repeat} (MiB/s)",
            bytes >> 20
        ),
        "MiB/s",
        &rows,
    );
    Ok(())
}

async fn compare(
    bytes: u64,
    repeat: usize,
    ttfb_runs: usize,
    rtt_rounds: usize,
    kubectl: bool,
) -> Result<(), BenchError> {
    let env = Env::start(kubectl).await?;
    let targets = targets(&env);
    println!(
        "targets: {}",
        targets
            .iter()
            .map(|t| format!("{} ({})", t.name, t.addr))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Throughput, interleaved: every repetition visits each target once per transport.
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); targets.len() * 2];
    for r in 0..repeat {
        for (ti, transport) in Transport::ALL.into_iter().enumerate() {
            for (i, target) in rotated(&targets, r).iter().enumerate() {
                let idx = targets
                    .iter()
                    .position(|t| t.name == target.name)
                    .unwrap_or(i);
                let elapsed = e2e::throughput(&env, target, transport, bytes).await?;
                let rate = mib_per_s(bytes, elapsed);
                eprintln!(
                    "  run {r} {} {}: {rate:.1} MiB/s",
                    target.name,
                    transport.name()
                );
                rates[idx * 2 + ti].push(rate);
            }
        }
    }
    let mut rows = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        for (ti, transport) in Transport::ALL.into_iter().enumerate() {
            let m = median(&rates[i * 2 + ti]).unwrap_or(f64::NAN);
            rows.push((t.name.clone(), transport, m));
        }
    }
    print_ratio_table(
        &format!(
            "exec stdout, {} MiB of log text, median of {repeat} (MiB/s)",
            bytes >> 20
        ),
        "MiB/s",
        &rows,
    );

    // Time to first byte, interleaved per run.
    let mut ttfb: Vec<Vec<Duration>> = vec![Vec::new(); targets.len() * 2];
    for r in 0..ttfb_runs {
        for (ti, transport) in Transport::ALL.into_iter().enumerate() {
            for target in rotated(&targets, r) {
                let idx = targets
                    .iter()
                    .position(|t| t.name == target.name)
                    .unwrap_or(0);
                ttfb[idx * 2 + ti].push(e2e::time_to_first_byte(&target, transport).await?);
            }
        }
    }
    let rows: Vec<_> = targets
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            let ttfb = &ttfb;
            Transport::ALL.into_iter().enumerate().map(move |(ti, tr)| {
                let p50 = percentile(&ttfb[i * 2 + ti], 50.0).unwrap_or_default();
                (t.name.clone(), tr, p50.as_secs_f64() * 1e3)
            })
        })
        .collect();
    print_ratio_table(
        &format!("time to first byte of a 1-byte exec, median of {ttfb_runs} (ms)"),
        "ms",
        &rows,
    );

    // Round trips: one session per target and transport, in rotated order, in blocks so
    // each target's samples spread over the whole phase.
    const BLOCKS: usize = 4;
    let mut rtt: Vec<Vec<Duration>> = vec![Vec::new(); targets.len() * 2];
    for block in 0..BLOCKS {
        for (ti, transport) in Transport::ALL.into_iter().enumerate() {
            for target in rotated(&targets, block) {
                let idx = targets
                    .iter()
                    .position(|t| t.name == target.name)
                    .unwrap_or(0);
                let s = e2e::round_trips(&target, transport, 100, rtt_rounds / BLOCKS).await?;
                rtt[idx * 2 + ti].extend(s);
            }
        }
    }
    println!(
        "\ninteractive round trip (stdin byte → echoed stdout byte), {rtt_rounds} rounds (µs)"
    );
    println!(
        "{:<18} {:>5} {:>9} {:>9} {:>14} {:>14}",
        "target", "proto", "p50", "p99", "p50 added", "p99 added"
    );
    for (i, t) in targets.iter().enumerate() {
        for (ti, tr) in Transport::ALL.into_iter().enumerate() {
            let us =
                |p: f64, k: usize| percentile(&rtt[k], p).unwrap_or_default().as_secs_f64() * 1e6;
            let (p50, p99) = (us(50.0, i * 2 + ti), us(99.0, i * 2 + ti));
            let (b50, b99) = (us(50.0, ti), us(99.0, ti));
            println!(
                "{:<18} {:>5} {p50:>9.1} {p99:>9.1} {:>14.1} {:>14.1}",
                t.name,
                tr.name(),
                p50 - b50,
                p99 - b99
            );
        }
    }
    Ok(())
}

fn transport(name: &str) -> Result<Transport, BenchError> {
    Transport::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .ok_or_else(|| format!("unknown transport {name} (ws, spdy)").into())
}

async fn stream(
    target: &str,
    transport: &str,
    bytes: u64,
    repeat: usize,
) -> Result<(), BenchError> {
    let transport = self::transport(transport)?;
    let env = Env::start(false).await?;
    let t = env.target(target).ok_or("unknown target")?.clone();
    for _ in 0..repeat {
        let elapsed = e2e::throughput(&env, &t, transport, bytes).await?;
        println!(
            "stream target={target} proto={} bytes={bytes} s={:.3} mib_s={:.1}",
            transport.name(),
            elapsed.as_secs_f64(),
            mib_per_s(bytes, elapsed)
        );
    }
    Ok(())
}

async fn concurrency(
    target: &str,
    transport: &str,
    sessions: usize,
    bytes_each: u64,
) -> Result<(), BenchError> {
    let transport = self::transport(transport)?;
    let kubectl = target == "kubectl-proxy";
    let env = Env::start(kubectl).await?;
    let t = env.target(target).ok_or("unknown target")?.clone();
    // Warm up every path once so one-time allocations are not charged to the sessions.
    e2e::time_to_first_byte(&t, transport).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = stats::memory(None).ok_or("no /proc")?;
    let r = e2e::concurrency(&env, &t, transport, sessions, bytes_each, 64).await?;
    let after = stats::memory(None).ok_or("no /proc")?;
    let idle = r.idle.unwrap_or_default();
    let per_session = (idle.rss_kib.saturating_sub(before.rss_kib)) as f64 / sessions as f64;
    println!(
        "concurrency target={target} proto={} sessions={sessions} bytes_each={bytes_each} \
         open_s={:.3} stream_s={:.3} mib_s={:.1} errors={} rss_before_kib={} rss_idle_kib={} \
         idle_kib_per_session={per_session:.1} peak_kib={}",
        transport.name(),
        r.open.as_secs_f64(),
        r.stream.as_secs_f64(),
        mib_per_s(r.bytes, r.stream),
        r.errors,
        before.rss_kib,
        idle.rss_kib,
        after.peak_kib,
    );
    if let Some(e) = r.first_error {
        println!("first error: {e}");
    }
    Ok(())
}
