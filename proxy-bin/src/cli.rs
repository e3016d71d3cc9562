//! The command line. Every configuration key of `serve` is also a flag; a flag overrides
//! the file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// kubewitness: the narrow, recorded door to a Kubernetes cluster for people and AI agents.
#[derive(Debug, Parser)]
#[command(name = "kubewitness", version, about)]
pub(crate) struct Cli {
    /// Log filter (tracing `EnvFilter` syntax; default `log.level` of `serve`'s
    /// configuration, else `info`); `KUBEWITNESS_LOG`, then `RUST_LOG`, override it.
    #[arg(long, global = true)]
    pub(crate) log_level: Option<String>,
    /// Log as JSON lines (`serve` does by default when its log is not a terminal).
    #[arg(long, global = true)]
    pub(crate) log_json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the proxy.
    Serve(ServeArgs),
    /// Check a policy file or explain a decision.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Mask secrets in a file or stdin, writing the result to stdout.
    Redact(RedactArgs),
    /// List recorded sessions.
    Sessions(SessionsArgs),
    /// Verify recordings: each session's chunks, chain, seal and signature, and the store's
    /// signed digests (missing, injected or altered sessions, digests and audit segments).
    Verify(VerifyArgs),
    /// Export a recorded session as text, JSON lines or an asciinema cast.
    Export(ExportArgs),
    /// Serve the MCP gateway for an AI agent over stdio, as the config file's `mcp.user`.
    Mcp(McpArgs),
    /// Access requests: ask for a grant, approve, deny, revoke, execute an approved write.
    Access(AccessArgs),
    /// Run a self-contained demo: a simulated API server with kubewitness in front of it.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
}

/// `kubewitness serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The YAML configuration file.
    #[arg(long, short = 'c')]
    pub(crate) config: Option<PathBuf>,
    /// `listen`: the address to listen on.
    #[arg(long)]
    pub(crate) listen: Option<SocketAddr>,
    /// `tls.cert`: PEM certificate chain.
    #[arg(long)]
    pub(crate) tls_cert: Option<PathBuf>,
    /// `tls.key`: PEM private key.
    #[arg(long)]
    pub(crate) tls_key: Option<PathBuf>,
    /// `tls.clientCA`: CA bundle for client certificates (CN = user, O = groups).
    #[arg(long)]
    pub(crate) tls_client_ca: Option<PathBuf>,
    /// `auth.tokenFile`: static tokens, kube-apiserver `--token-auth-file` format.
    #[arg(long)]
    pub(crate) token_file: Option<PathBuf>,
    /// `auth.tokenReview`: check unknown bearer tokens upstream with a TokenReview.
    #[arg(long)]
    pub(crate) token_review: Option<bool>,
    /// `upstream.kubeconfig`: the kubeconfig for the API server.
    #[arg(long)]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// `upstream.context`: the kubeconfig context.
    #[arg(long)]
    pub(crate) context: Option<String>,
    /// `admin.listen`: where `/healthz`, `/readyz` and `/metrics` are served (plain HTTP).
    #[arg(long, value_name = "ADDR")]
    pub(crate) admin_listen: Option<SocketAddr>,
    /// `shutdownGrace`: how long running sessions may go on after SIGTERM (`30s`, `2m`).
    #[arg(long, value_name = "DURATION")]
    pub(crate) shutdown_grace: Option<String>,
}

/// `kubewitness mcp`.
#[derive(Debug, Args)]
pub(crate) struct McpArgs {
    /// The YAML configuration file (with `mcp: {user, groups}`).
    #[arg(long, short = 'c')]
    pub(crate) config: PathBuf,
}

/// `kubewitness demo`.
#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where to write the demo's kubeconfig, certificates and tokens (default: a new
    /// temporary directory, removed on exit).
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// The address kubewitness listens on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub(crate) listen: SocketAddr,
    /// Stop after this many seconds (for scripted runs); default: run until Ctrl-C.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) r#for: Option<u64>,
}

/// `kubewitness policy`.
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Validate a policy file; exits 2 with every problem and its path.
    Check {
        /// The policy file.
        file: PathBuf,
    },
    /// Decide one request offline and print allow/deny, the rule and the reason
    /// (exit 0 allow, 3 deny).
    Explain(ExplainArgs),
}

/// `kubewitness policy explain`.
#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The policy file.
    #[arg(long)]
    pub(crate) policy: PathBuf,
    /// The caller's user name.
    #[arg(long)]
    pub(crate) user: String,
    /// The caller's groups (repeatable).
    #[arg(long)]
    pub(crate) group: Vec<String>,
    /// A label of the request's namespace, KEY=VALUE (repeatable), for namespaceSelector.
    #[arg(long)]
    pub(crate) namespace_label: Vec<String>,
    /// A label of the request's pod, KEY=VALUE (repeatable), for podSelector.
    #[arg(long)]
    pub(crate) pod_label: Vec<String>,
    /// `exec NS/POD [-c C] [-i] [-t] -- ARGV...`, `attach NS/POD`, `logs NS/POD [--tail N]`,
    /// `promql QUERY [--range 30m] [--step 15s]` (the Prometheus gateway), or `METHOD PATH`.
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) request: Vec<String>,
}

/// Where recordings are.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The store URL (`file:///dir`, `s3://bucket/prefix`, `gs://…`, `az://…`).
    #[arg(long)]
    pub(crate) store: String,
    /// A backend option, `KEY=VALUE` (`aws_endpoint=…`, `aws_region=…`); repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) store_option: Vec<String>,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    /// For people.
    Text,
    /// For programs.
    Json,
}

/// `kubewitness sessions`.
#[derive(Debug, Args)]
pub(crate) struct SessionsArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Only sessions started since: a duration (`2h`) or a time (`2025-01-31T12:00:00Z`).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Only this user's sessions.
    #[arg(long)]
    pub(crate) user: Option<String>,
    /// List access requests (`grants/`) instead of sessions.
    #[arg(long)]
    pub(crate) grants: bool,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub(crate) output: Output,
}

/// `kubewitness verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Only this session (default: the whole store, digests and audit segments included).
    #[arg(long)]
    pub(crate) session: Option<String>,
    /// A trusted signing key: a PEM public key or 64 hex digits (repeatable; rotations
    /// recorded in the digests extend the trust).
    #[arg(long)]
    pub(crate) public_key: Vec<PathBuf>,
    /// A file of trusted keys, one per line as 64 hex digits (`#` comments).
    #[arg(long)]
    pub(crate) keyring: Option<PathBuf>,
    /// Only sessions and digests from this time on: a duration ago (`2h`) or a time.
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Only up to this time; the digests must cover it (a tail cut off is reported).
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Only this instance's digests and the sessions they list.
    #[arg(long)]
    pub(crate) instance: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub(crate) output: Output,
}

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExportFormat {
    /// stdout and stderr as the client saw them.
    Text,
    /// One JSON object per event.
    Jsonl,
    /// An asciinema v2 cast (TTY sessions).
    Asciicast,
}

/// `kubewitness export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The session.
    #[arg(long)]
    pub(crate) session: String,
    /// What to write.
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: ExportFormat,
}

/// `kubewitness redact`.
#[derive(Debug, Args)]
pub(crate) struct RedactArgs {
    /// The file to redact (default: stdin).
    pub(crate) file: Option<PathBuf>,
    /// Write findings (rule, offset, length, fingerprint — never the secret) to stderr.
    #[arg(long, value_enum)]
    pub(crate) findings: Option<FindingsFormat>,
    /// A YAML file of user rules, mask and allow-list, added to the built-in detectors.
    #[arg(long)]
    pub(crate) rules: Option<PathBuf>,
    /// A file whose bytes key the findings' HMAC-SHA256 fingerprints (default: no fingerprints).
    #[arg(long)]
    pub(crate) fingerprint_key: Option<PathBuf>,
}

/// How findings are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FindingsFormat {
    /// One JSON object per line.
    Json,
}

/// `kubewitness access`: talks to kubewitness's access-request API through a kubeconfig.
#[derive(Debug, Args)]
pub(crate) struct AccessArgs {
    /// The kubeconfig pointing at kubewitness (default `$KUBECONFIG`, then ~/.kube/config).
    #[arg(long, global = true)]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long, global = true)]
    pub(crate) context: Option<String>,
    #[command(subcommand)]
    pub(crate) command: AccessCommand,
}

/// `kubewitness access …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AccessCommand {
    /// Ask for a grant; prints the new request's id alone on the first line.
    Request(AccessRequestArgs),
    /// List the requests you made or may approve, newest first.
    List(AccessListArgs),
    /// Show one request.
    Get(AccessGetArgs),
    /// Approve a request.
    Approve(AccessReviewArgs),
    /// Deny a request.
    Deny(AccessReviewArgs),
    /// Revoke a request (its requester or an approver).
    Revoke(AccessRevokeArgs),
    /// Execute an approved write (once); prints the API server's answer.
    Execute(AccessIdArgs),
}

/// `kubewitness access request`.
#[derive(Debug, Args)]
pub(crate) struct AccessRequestArgs {
    /// The grant's name (`grants:` in the policy).
    pub(crate) grant: String,
    /// Why you need it (shown to approvers and recorded).
    #[arg(long)]
    pub(crate) reason: String,
    /// How long (`15m`, `1h`; default and at most the grant's maxTTL).
    #[arg(long)]
    pub(crate) ttl: Option<String>,
    /// For a write grant: evict, delete, restart, scale, cordon or uncordon (may be left
    /// out when the grant gives one action).
    #[arg(long)]
    pub(crate) action: Option<String>,
    /// For a write: the object's namespace (not for cordon/uncordon).
    #[arg(long, short = 'n')]
    pub(crate) namespace: Option<String>,
    /// For a write: the object's name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// For restart and scale: deployment (default) or statefulset.
    #[arg(long)]
    pub(crate) kind: Option<String>,
    /// For scale: the replica count.
    #[arg(long)]
    pub(crate) replicas: Option<i32>,
}

/// `kubewitness access list`.
#[derive(Debug, Args)]
pub(crate) struct AccessListArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub(crate) output: Output,
}

/// `kubewitness access get`.
#[derive(Debug, Args)]
pub(crate) struct AccessGetArgs {
    /// The request's id.
    pub(crate) id: String,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub(crate) output: Output,
}

/// `kubewitness access approve|deny`.
#[derive(Debug, Args)]
pub(crate) struct AccessReviewArgs {
    /// The request's id.
    pub(crate) id: String,
    /// Why (recorded).
    #[arg(long)]
    pub(crate) reason: String,
}

/// `kubewitness access revoke`.
#[derive(Debug, Args)]
pub(crate) struct AccessRevokeArgs {
    /// The request's id.
    pub(crate) id: String,
    /// Why (recorded).
    #[arg(long)]
    pub(crate) reason: Option<String>,
}

/// `kubewitness access execute`.
#[derive(Debug, Args)]
pub(crate) struct AccessIdArgs {
    /// The request's id.
    pub(crate) id: String,
}
