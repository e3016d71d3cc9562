//! `kubewitness policy check FILE` and `kubewitness policy explain`: the policy engine
//! the server runs, offline. `explain` is `kubectl auth can-i` for kubewitness: it builds
//! the same request the server would see and prints the decision, the rule and the reason.
//! Label selectors cannot be resolved offline; labels are given with `--namespace-label`
//! and `--pod-label` (a selector without them does not match, as a failed lookup would not).

use std::path::Path;

use anyhow::anyhow;
use proxy_core::policy::{Facts, Labels, Lookup, Policy, Request};
use proxy_core::request::StreamOptions;
use proxy_core::request::{RequestInfo, StreamRequest, percent_encode};

use crate::Failure;
use crate::cli::{ExplainArgs, PolicyCommand};

pub(crate) fn run(cmd: PolicyCommand) -> Result<(), Failure> {
    match cmd {
        PolicyCommand::Check { file } => check(&file),
        PolicyCommand::Explain(args) => explain(args),
    }
}

fn load(file: &Path) -> Result<Policy, Failure> {
    Policy::load(file).map_err(|e| {
        let lines: Vec<String> = e
            .problems()
            .iter()
            .map(|(at, p)| {
                if at.is_empty() {
                    p.clone()
                } else {
                    format!("{at}: {p}")
                }
            })
            .collect();
        Failure::usage(anyhow!(
            "{} is invalid:\n  {}",
            file.display(),
            lines.join("\n  ")
        ))
    })
}

fn check(file: &Path) -> Result<(), Failure> {
    let policy = load(file)?;
    for (at, warning) in policy.warnings() {
        eprintln!("warning: {at}: {warning}");
    }
    println!("{}: valid, {} rules", file.display(), policy.rules().len());
    for g in policy.grants() {
        println!(
            "grant {}: {}, maxTTL {}, {} approval{}",
            g.name,
            g.kind(),
            humantime::format_duration(g.max_ttl),
            g.approvals,
            if g.approvals == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

fn labels(pairs: &[String]) -> Result<Labels, Failure> {
    pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Failure::usage(anyhow!("label `{p}`: expected KEY=VALUE")))
        })
        .collect()
}

/// Turns the request words into method, path and query.
fn request_line(words: &[String]) -> Result<(http::Method, String, String), Failure> {
    let usage = || {
        Failure::usage(anyhow!(
            "request: `exec NS/POD [-c C] [-i] [-t] -- ARGV...`, `attach NS/POD [-c C] [-i] [-t]`, `logs NS/POD [-c C] [--tail N]`, `promql QUERY [--range D] [--step D]`, or `METHOD PATH[?QUERY]`"
        ))
    };
    let (kind, rest) = words.split_first().ok_or_else(usage)?;
    match kind.as_str() {
        "exec" | "attach" | "logs" => {
            let (target, mut rest) = rest.split_first().ok_or_else(usage)?;
            let (ns, pod) = target.split_once('/').ok_or_else(usage)?;
            let mut query: Vec<(String, String)> = Vec::new();
            let mut opts = StreamOptions {
                stdout: true,
                stderr: true,
                ..StreamOptions::default()
            };
            let mut argv: &[String] = &[];
            while let Some((w, tail)) = rest.split_first() {
                match w.as_str() {
                    "-c" => {
                        let (c, t) = tail.split_first().ok_or_else(usage)?;
                        query.push(("container".into(), c.clone()));
                        rest = t;
                        continue;
                    }
                    "--tail" => {
                        let (n, t) = tail.split_first().ok_or_else(usage)?;
                        query.push(("tailLines".into(), n.clone()));
                        rest = t;
                        continue;
                    }
                    "-i" => opts.stdin = true,
                    "-t" => opts.tty = true,
                    "-it" | "-ti" => (opts.stdin, opts.tty) = (true, true),
                    "--" => {
                        argv = tail;
                        break;
                    }
                    _ => return Err(usage()),
                }
                rest = tail;
            }
            if kind == "exec" {
                query.extend(argv.iter().map(|a| ("command".to_string(), a.clone())));
            }
            if kind != "logs" {
                for (k, on) in [
                    ("stdin", opts.stdin),
                    ("stdout", true),
                    ("stderr", !opts.tty),
                    ("tty", opts.tty),
                ] {
                    if on {
                        query.push((k.into(), "true".into()));
                    }
                }
            }
            let sub = if kind == "logs" { "log" } else { kind.as_str() };
            let method = if kind == "logs" {
                http::Method::GET
            } else {
                http::Method::POST
            };
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{k}={}", percent_encode(v)))
                .collect();
            Ok((
                method,
                format!("/api/v1/namespaces/{ns}/pods/{pod}/{sub}"),
                q.join("&"),
            ))
        }
        method => {
            let [url] = rest else { return Err(usage()) };
            let method = http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .map_err(|_| usage())?;
            let (path, query) = url.split_once('?').unwrap_or((url, ""));
            Ok((method, path.to_string(), query.to_string()))
        }
    }
}

fn explain(args: ExplainArgs) -> Result<(), Failure> {
    let policy = load(&args.policy)?;
    if args.request.first().is_some_and(|w| w == "promql") {
        return crate::promql_cmd::explain(&policy, &args);
    }
    let (method, path, query) = request_line(&args.request)?;
    let info = match RequestInfo::classify(&method, &path, &query) {
        Ok(i) => i,
        Err(why) => {
            println!("deny\nrule: -\nreason: request refused: {why}");
            return Err(Failure::denied());
        }
    };
    // The server's router asks the same question (`RequestInfo::dispatch`).
    let stream = if info.dispatch().is_stream() {
        match StreamRequest::parse(&info, &query) {
            Ok(s) => Some(s),
            Err(why) => {
                println!("deny\nrule: -\nreason: request refused: {why}");
                return Err(Failure::denied());
            }
        }
    } else {
        None
    };
    let req = Request::new(&args.user, &args.group, &info, stream.as_ref());
    let needs = policy.needs(&req);
    let facts = Facts {
        namespace: match needs.namespace {
            Some(_) => Lookup::Found(labels(&args.namespace_label)?),
            None => Lookup::NotNeeded,
        },
        pod: match needs.pod {
            Some(_) => Lookup::Found(labels(&args.pod_label)?),
            None => Lookup::NotNeeded,
        },
    };
    let d = policy.decide(&req, &facts);
    println!("{}", if d.allowed { "allow" } else { "deny" });
    println!(
        "request: {} {path}{}{query}",
        method,
        if query.is_empty() { "" } else { "?" }
    );
    println!("rule: {}", d.rule.as_deref().unwrap_or("-"));
    println!("reason: {}", d.reason);
    if let Some(l) = &d.limits {
        let s = l.session;
        if let Some(b) = s.max_output_bytes {
            println!("limit: maxOutputBytes {b}");
        }
        if let Some(t) = s.max_duration {
            println!("limit: maxDuration {}s", t.as_secs_f64());
        }
        if let Some(t) = s.idle_timeout {
            println!("limit: idleTimeout {}s", t.as_secs_f64());
        }
        if let Some(n) = l.logs.max_tail_lines {
            println!("limit: maxTailLines {n}");
        }
    }
    if d.allowed {
        Ok(())
    } else {
        println!("message: {}", d.message);
        Err(Failure::denied())
    }
}
