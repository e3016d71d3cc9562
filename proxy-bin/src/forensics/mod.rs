//! `kubewitness sessions`, `verify` and `export`: offline forensics over a recording store.
//!
//! Exit codes: `verify` exits 0 only if everything checked is intact (every session, and,
//! for a whole store, every digest chain, listing and audit segment), 1 otherwise (2 for
//! bad usage, like every command). A session sealed `interrupted` by crash recovery
//! is intact when nothing in it was altered: its record is complete up to what was stored
//! before kubewitness died, and the seal says so. It verifies as `ok (interrupted)` and does
//! not make `verify` fail; tampering, missing or unsealed sessions do.

use anyhow::{Context, anyhow};
use proxy_core::record::seal::Seal;
use proxy_core::record::store::{chunk_name, seal_name};
use proxy_core::record::{Event, RecordStore, chunk, export};

use crate::Failure;
use crate::cli::{ExportArgs, ExportFormat, Output, SessionsArgs, StoreArgs};

mod grants;
mod verify;
pub(crate) use verify::verify;

pub(super) fn open(args: &StoreArgs) -> Result<RecordStore, Failure> {
    let mut options = Vec::new();
    for o in &args.store_option {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| Failure::usage(anyhow!("--store-option {o}: expected KEY=VALUE")))?;
        options.push((k.to_string(), v.to_string()));
    }
    RecordStore::open(&args.store, &options, None).map_err(Failure::usage)
}

/// `kubewitness sessions`.
pub(crate) async fn sessions(args: SessionsArgs) -> Result<(), Failure> {
    let store = open(&args.store)?;
    if args.grants {
        return grants::list(&store, &args).await;
    }
    let since_ms = match &args.since {
        Some(t) => Some(parse_time("--since", t).map_err(Failure::usage)?),
        None => None,
    };
    let mut rows = Vec::new();
    for id in store.sessions().await.context("listing sessions")? {
        let obj = match store.get(&chunk_name(&id, 0)).await {
            Ok(o) => o,
            Err(_) => continue,
        };
        let Ok((_, events)) = chunk::decode(&obj) else {
            continue;
        };
        let Some(Event::Start(meta)) = events.first().map(|e| &e.event) else {
            continue;
        };
        if since_ms.is_some_and(|s| meta.start_ms < s)
            || args.user.as_ref().is_some_and(|u| *u != meta.user)
        {
            continue;
        }
        let end = match store.get(&seal_name(&id)).await {
            Ok(obj) => Seal::parse(&obj)
                .map(|s| s.body.end.reason)
                .unwrap_or_else(|_| "bad seal".into()),
            Err(_) => "unsealed".into(),
        };
        rows.push(serde_json::json!({
            "session": id, "start": rfc3339(meta.start_ms), "user": meta.user,
            "kind": meta.kind, "namespace": meta.namespace, "pod": meta.pod,
            "container": meta.container, "argv": meta.argv, "tty": meta.tty, "port": meta.port,
            "end": end,
        }));
    }
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&rows).context("json")?);
        return Ok(());
    }
    println!(
        "{:<26}  {:<20}  {:<12}  {:<11}  {:<30}  {:<11}  COMMAND",
        "SESSION", "START", "USER", "KIND", "POD", "END"
    );
    for r in rows {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        let argv: Vec<&str> = r["argv"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str())
            .collect();
        // A port-forward session has no command: show the pod port it forwarded.
        let command = match r["port"].as_u64() {
            Some(port) if argv.is_empty() => format!("port {port}"),
            _ => argv.join(" "),
        };
        println!(
            "{:<26}  {:<20}  {:<12}  {:<11}  {:<30}  {:<11}  {}",
            s("session"),
            s("start"),
            s("user"),
            s("kind"),
            format!("{}/{}", s("namespace"), s("pod")),
            s("end"),
            command
        );
    }
    Ok(())
}

/// `kubewitness export`.
pub(crate) async fn export(args: ExportArgs) -> Result<(), Failure> {
    let store = open(&args.store)?;
    if grants::is_request(&store, &args.session).await {
        return grants::export(&store, &args.session).await;
    }
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let done = match args.format {
        ExportFormat::Text => export::text(&store, &args.session, &mut out, &mut err).await,
        ExportFormat::Jsonl => export::jsonl(&store, &args.session, &mut out).await,
        ExportFormat::Asciicast => export::asciicast(&store, &args.session, &mut out).await,
    };
    done.map_err(|e| anyhow!(e).into())
}

/// A time flag: a duration ago (`2h`) or a time (`2025-01-31T12:00:00Z`), as Unix ms.
pub(super) fn parse_time(flag: &str, t: &str) -> Result<u64, anyhow::Error> {
    let now = std::time::SystemTime::now();
    let at = match humantime::parse_duration(t) {
        Ok(d) => now - d,
        Err(_) => humantime::parse_rfc3339_weak(t)
            .map_err(|_| anyhow!("{flag} {t}: a duration (2h) or a time (2025-01-31T12:00:00Z)"))?,
    };
    Ok(at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64))
}

fn rfc3339(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(t).to_string()
}
