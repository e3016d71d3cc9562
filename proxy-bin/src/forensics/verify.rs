//! `kubewitness verify`: one session (`--session`), or the whole store: every session, every
//! instance's digest chain, what the digests list and the audit segments
//! (`docs/RECORDING-FORMAT.md`, "Verifying a store").

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, anyhow};
use proxy_core::record::seal::{load_public_key, parse_public_key};
use proxy_core::record::{
    SessionReport, StoreCheck, StoreReport, VerifyingKey, verify_session, verify_store,
};

use super::{open, parse_time};
use crate::Failure;
use crate::cli::{Output, VerifyArgs};

/// The most keys a keyring file may hold.
const MAX_KEYRING_KEYS: usize = 1024;

/// `kubewitness verify`.
pub(crate) async fn verify(args: VerifyArgs) -> Result<(), Failure> {
    let store = open(&args.store)?;
    let keys = keys(&args)?;
    let bar = progress(args.output)?;
    let objects = std::sync::atomic::AtomicU64::new(0);
    let tick = || {
        let n = objects.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if let Some(b) = &bar {
            b.set_message(n.to_string());
        }
    };
    let report = match &args.session {
        Some(id) => {
            if keys.len() > 1 {
                return Err(Failure::usage(anyhow!(
                    "--session checks one seal: give at most one --public-key"
                )));
            }
            let r = verify_session(&store, id, keys.first(), &tick).await;
            StoreReport {
                sessions: vec![r],
                ..StoreReport::default()
            }
        }
        None => {
            let check = StoreCheck {
                keys: keys.clone(),
                since_ms: time(args.since.as_deref(), "--since")?,
                until_ms: time(args.until.as_deref(), "--until")?,
                instance: args.instance.clone(),
            };
            let mut r = verify_store(&store, &check, &tick)
                .await
                .map_err(|e| anyhow!(e))?;
            proxy_core::grants::verify::check_store(&store, &mut r, &check, &tick)
                .await
                .map_err(|e| anyhow!(e))?;
            r
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    print(&args, &report, !keys.is_empty())?;
    if report.intact() {
        return Ok(());
    }
    let bad = report.sessions.iter().filter(|r| !r.intact).count();
    let n = report.sessions.len();
    Err(match report.findings.len() {
        0 => anyhow!("{bad} of {n} sessions failed verification"),
        f => anyhow!("{bad} of {n} sessions failed verification; {f} findings about the store"),
    }
    .into())
}

fn time(flag: Option<&str>, name: &str) -> Result<Option<u64>, Failure> {
    flag.map(|t| parse_time(name, t).map_err(Failure::usage))
        .transpose()
}

/// The trusted keys: every `--public-key`, then every line of `--keyring`.
fn keys(args: &VerifyArgs) -> Result<Vec<VerifyingKey>, Failure> {
    let mut keys = Vec::new();
    for p in &args.public_key {
        keys.push(load_public_key(p).map_err(|e| Failure::usage(anyhow!(e)))?);
    }
    if let Some(path) = &args.keyring {
        keys.extend(keyring(path).map_err(Failure::usage)?);
    }
    Ok(keys)
}

/// A keyring: one public key per line as 64 hex digits; `#` comments and blank lines.
fn keyring(path: &Path) -> Result<Vec<VerifyingKey>, anyhow::Error> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.len() != 64 {
            return Err(anyhow!("{}:{}: not 64 hex digits", path.display(), n + 1));
        }
        let key =
            parse_public_key(line).map_err(|e| anyhow!("{}:{}: {e}", path.display(), n + 1))?;
        keys.push(key);
        if keys.len() > MAX_KEYRING_KEYS {
            return Err(anyhow!(
                "{}: more than {MAX_KEYRING_KEYS} keys",
                path.display()
            ));
        }
    }
    Ok(keys)
}

fn progress(output: Output) -> Result<Option<indicatif::ProgressBar>, Failure> {
    if !std::io::stderr().is_terminal() || output == Output::Json {
        return Ok(None);
    }
    let b = indicatif::ProgressBar::new_spinner();
    b.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} objects")
            .map_err(|e| anyhow!(e))?,
    );
    Ok(Some(b))
}

fn print(args: &VerifyArgs, report: &StoreReport, pinned: bool) -> Result<(), Failure> {
    if args.output == Output::Json {
        let json = match &args.session {
            // One session: its report, as before version 2.
            Some(_) => serde_json::to_string_pretty(&report.sessions),
            None => serde_json::to_string_pretty(report),
        };
        println!("{}", json.context("json")?);
        return Ok(());
    }
    for r in &report.sessions {
        let key = match (&r.signer, r.pinned) {
            (None, _) => "unsigned".to_string(),
            (Some(fp), true) if pinned => format!("key {} (pinned)", short(fp)),
            (Some(fp), true) => format!("key {} (trusted by the digests)", short(fp)),
            (Some(fp), false) => format!("key {} (not pinned)", short(fp)),
        };
        let end = r.end_reason.as_deref().unwrap_or("-");
        println!(
            "{}  {}  chunks={} end={} {}",
            r.session,
            summary(r),
            r.chunks,
            end,
            key
        );
        for p in r.problems.iter().skip(1) {
            println!("    also: {p}");
        }
    }
    if args.session.is_none() {
        match report.instances.len() {
            0 => println!("no digests: a version 1 store; deleted sessions cannot be detected"),
            n => println!("digests: {} from {n} instances", report.digests),
        }
    }
    if args.session.is_none() && !report.grants.is_empty() {
        let bad = report.grants.iter().filter(|g| !g.intact).count();
        println!(
            "access requests: {} checked, {bad} with problems",
            report.grants.len()
        );
    }
    for f in &report.findings {
        println!("FAIL  {f}");
    }
    Ok(())
}

fn short(fp: &str) -> &str {
    &fp[..16.min(fp.len())]
}

/// The verdict for people: the report's summary, and `interrupted` on an intact record of
/// a session that crash recovery sealed.
fn summary(r: &SessionReport) -> String {
    let interrupted = r.intact && r.end_reason.as_deref() == Some("interrupted");
    match (interrupted, r.signer.is_some()) {
        (false, _) => r.summary(),
        (true, true) => "ok (interrupted)".into(),
        (true, false) => "ok (unsigned, interrupted)".into(),
    }
}
