//! `kubewitness redact [FILE]`: the streaming redactor on a file or stdin, for cleaning logs
//! before sharing them. Output goes to stdout as it is read (constant memory); findings,
//! without the secrets, go to stderr as JSON lines with `--findings json`.

use std::io::{BufWriter, Read, Write};

use anyhow::Context;
use bytes::Bytes;
use proxy_core::redaction;

use crate::Failure;
use crate::cli::{FindingsFormat, RedactArgs};

/// How much is read at a time.
const READ_CHUNK: usize = 64 * 1024;

pub(crate) fn run(args: RedactArgs) -> Result<(), Failure> {
    let rules = match &args.rules {
        Some(path) => {
            Some(redaction::load_rules(path).map_err(|e| Failure::usage(anyhow::anyhow!(e)))?)
        }
        None => None,
    };
    let key = match &args.fingerprint_key {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("reading {}", path.display()))
                .map_err(Failure::usage)?,
        ),
        None => None,
    };
    let redactor =
        redaction::build(rules, key.as_deref()).map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
    let mut input: Box<dyn Read> = match &args.file {
        Some(path) => Box::new(
            std::fs::File::open(path)
                .with_context(|| format!("opening {}", path.display()))
                .map_err(Failure::usage)?,
        ),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut stdout = BufWriter::new(std::io::stdout().lock());
    let mut stderr = std::io::stderr().lock();
    let mut stream = redactor.stream();
    let (mut out, mut findings) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = input.read(&mut buf).context("reading input")?;
        if n == 0 {
            stream.finish(&mut out, &mut findings);
        } else {
            stream.push(Bytes::copy_from_slice(&buf[..n]), &mut out, &mut findings);
        }
        for chunk in out.drain(..) {
            stdout.write_all(&chunk).context("writing output")?;
        }
        if args.findings == Some(FindingsFormat::Json) {
            for f in findings.drain(..) {
                let line = serde_json::to_string(&f).context("encoding a finding")?;
                writeln!(stderr, "{line}").context("writing findings")?;
            }
        } else {
            findings.clear();
        }
        if n == 0 {
            break;
        }
    }
    stdout.flush().context("writing output")?;
    Ok(())
}
