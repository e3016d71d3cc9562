//! `kubewitness`: the recording, policy-enforcing proxy for `kubectl exec`, `attach` and
//! `logs`.
//!
//! The binary is thin: it parses the command line, sets up tracing, builds the proxy from
//! the library, serves until a signal and drains, and maps errors to exit codes:
//! 0 success, 1 runtime failure, 2 bad usage or configuration.
#![forbid(unsafe_code)]

mod access_cmd;
mod access_fmt;
#[cfg(test)]
mod access_tests;
mod cli;
#[cfg(feature = "demo")]
mod demo;
mod forensics;
mod mcp_cmd;
mod policy_cmd;
mod promql_cmd;
mod redact_cmd;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use proxy_core::config::{LogConfig, LogFormat};

/// Exit code for a runtime failure.
const EXIT_FAILURE: u8 = 1;
/// Exit code for bad usage or configuration.
const EXIT_USAGE: u8 = 2;
/// Exit code of `policy explain` when the request is denied.
const EXIT_DENIED: u8 = 3;

/// An error with the exit code it maps to.
#[derive(Debug)]
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    fn usage(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: EXIT_USAGE,
            error: error.into(),
        }
    }
}

impl Failure {
    /// The exit code a library error maps to: an invalid setting or file is bad usage (2);
    /// an unreachable API server or recording store, or a port in use, is a runtime
    /// failure (1).
    fn from_core(error: proxy_core::Error) -> Failure {
        Failure {
            code: if error.is_config() {
                EXIT_USAGE
            } else {
                EXIT_FAILURE
            },
            error: error.into(),
        }
    }

    /// A denial from `policy explain` (already printed).
    fn denied() -> Failure {
        Failure {
            code: EXIT_DENIED,
            error: anyhow::anyhow!("denied"),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure {
            code: EXIT_FAILURE,
            error,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kubewitness: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Policy(cmd) => policy_cmd::run(cmd),
            Command::Redact(args) => redact_cmd::run(args),
            Command::Sessions(args) => forensics::sessions(args).await,
            Command::Verify(args) => forensics::verify(args).await,
            Command::Export(args) => forensics::export(args).await,
            Command::Mcp(args) => mcp_cmd::run(args).await,
            Command::Access(args) => access_cmd::run(args).await,
            #[cfg(feature = "demo")]
            Command::Demo(args) => demo::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `policy explain` already printed the denial.
        Err(Failure {
            code: EXIT_DENIED, ..
        }) => ExitCode::from(EXIT_DENIED),
        Err(Failure { code, error }) => {
            eprintln!("kubewitness: {error:#}");
            ExitCode::from(code)
        }
    }
}

/// Logs go to stderr. The level: `KUBEWITNESS_LOG`, else `RUST_LOG`, else `--log-level`,
/// else `serve`'s `log.level`, else `info`. The format: JSON with `--log-json` or
/// `log.format: json`; for `serve` with `log.format: auto` (the default), JSON unless stderr
/// is a terminal, so a container runtime or a log file gets one JSON object a line. Colour
/// codes only ever go to a terminal (and not with `NO_COLOR`).
fn init_tracing(cli: &Cli) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;

    let (log, server) = match &cli.command {
        Command::Serve(args) => (serve::log_config(args), true),
        _ => (LogConfig::default(), false),
    };
    let level = cli
        .log_level
        .clone()
        .or(log.level)
        .unwrap_or_else(|| "info".to_string());
    let filter = EnvFilter::try_from_env("KUBEWITNESS_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(&level));
    let terminal = std::io::stderr().is_terminal();
    let json = cli.log_json
        || match log.format {
            LogFormat::Json => true,
            LogFormat::Text => false,
            LogFormat::Auto => server && !terminal,
        };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(terminal && std::env::var_os("NO_COLOR").is_none());
    if json {
        builder.json().with_ansi(false).init();
    } else {
        builder.init();
    }
}
