//! Secret redaction on the hot path: a pipeline filter around [`redact::StreamRedactor`].
//!
//! Each output channel (stdout, stderr; the log body is stdout) has its own stream
//! redactor, so a secret split across frames of one channel is still caught, and bytes of
//! two channels never mix. Clean frames pass through as the same `Bytes`; only masks are new
//! buffers. Bytes the redactor holds back (a possible secret still arriving) are released
//! when the channel closes or the session finishes, before the final status — and on a
//! pause, so interactive output (a prompt, an echo) shows at once. When all it holds is the
//! start of a trigger literal (`AK`, `pass`: nothing secret), any pause will do — no
//! message waiting — so an echo is not delayed; otherwise the pause is
//! [`crate::pipeline::IDLE_FLUSH`]. The price of the pause rule: where a pause splits a
//! trigger, the mask starts after the part already shown (see
//! `StreamRedactor::flush_idle`); a candidate already seen (an open private key block, a
//! value still arriving) stays held across the pause.
//!
//! Findings go to the log (rule, channel, offset and length; never the secret) and, when
//! the session is recorded, into the recording with the keyed fingerprint.
//!
//! The [`Redactor`] is built once from the `redaction` configuration and shared by every
//! session: built-in detectors, optional user rules, and a fingerprint key.

use std::path::{Path, PathBuf};

use redact::{Redactor, RedactorBuilder, RulesFile, StreamRedactor};
use serde::Deserialize;
use tracing::{debug, warn};

use crate::channel::{Channel, Frame, Msg};
use crate::files::expand_home;
use crate::pipeline::{EndSession, Filter};
use crate::record::RecorderHandle;

pub mod json;
mod values;

/// The `redaction` configuration section.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RedactionConfig {
    /// Redact at all. Default true; policy rules may still turn it off for their sessions.
    pub enabled: bool,
    /// A YAML file of user rules, mask and allow-list (see `kubewitness redact --help`).
    pub rules: Option<PathBuf>,
    /// A file whose bytes key the findings' HMAC fingerprints. Without one, a random key is
    /// made at start, so fingerprints correlate only within one run.
    pub fingerprint_key: Option<PathBuf>,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig {
            enabled: true,
            rules: None,
            fingerprint_key: None,
        }
    }
}

impl RedactionConfig {
    /// Builds the redactor this configuration describes, or `None` when disabled.
    pub fn build(&self) -> Result<Option<Redactor>, String> {
        if !self.enabled {
            return Ok(None);
        }
        let key = match &self.fingerprint_key {
            Some(path) => read(path, "redaction.fingerprintKey")?,
            None => {
                warn!(
                    "no redaction.fingerprintKey: finding fingerprints correlate within this run only"
                );
                rand::random::<[u8; 32]>().to_vec()
            }
        };
        let rules = match &self.rules {
            Some(path) => Some(load_rules(path)?),
            None => None,
        };
        build(rules, Some(&key)).map(Some)
    }
}

/// Reads a user rules file.
pub fn load_rules(path: &Path) -> Result<RulesFile, String> {
    let bytes = read(path, "redaction rules")?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))?;
    RulesFile::from_yaml(&text).map_err(|e| format!("{}:\n{e}", path.display()))
}

/// Builds a redactor from optional user rules and an optional fingerprint key (without
/// one, findings carry no fingerprint).
pub fn build(rules: Option<RulesFile>, key: Option<&[u8]>) -> Result<Redactor, String> {
    let mut builder = RedactorBuilder::new();
    if let Some(key) = key {
        builder.fingerprint_key(key);
    }
    if let Some(rules) = rules {
        builder.rules(rules);
    }
    builder.build().map_err(|e| e.to_string())
}

/// Masks secrets in each argument of an argv, for what is written down about a session (the
/// recording's metadata, the audit log); the command itself runs with the real argv.
pub fn mask_argv(redactor: &Redactor, argv: &[String]) -> Vec<String> {
    argv.iter()
        .map(|arg| String::from_utf8_lossy(&redactor.redact_all(arg.as_bytes()).0).into_owned())
        .collect()
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    let path = expand_home(path);
    std::fs::read(&path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

/// Redacts stdout and stderr of one session.
pub struct RedactFilter {
    redactor: Redactor,
    stdout: Option<StreamRedactor>,
    stderr: Option<StreamRedactor>,
    recording: Option<RecorderHandle>,
    chunks: Vec<bytes::Bytes>,
    findings: Vec<redact::Finding>,
}

impl std::fmt::Debug for RedactFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedactFilter").finish_non_exhaustive()
    }
}

impl RedactFilter {
    /// A filter using `redactor`, reporting findings to `recording` when set.
    pub fn new(redactor: Redactor, recording: Option<RecorderHandle>) -> RedactFilter {
        RedactFilter {
            redactor,
            stdout: None,
            stderr: None,
            recording,
            chunks: Vec::new(),
            findings: Vec::new(),
        }
    }

    fn stream(&mut self, channel: Channel) -> Option<&mut StreamRedactor> {
        let slot = match channel {
            Channel::Stdout => &mut self.stdout,
            Channel::Stderr => &mut self.stderr,
            _ => return None,
        };
        Some(slot.get_or_insert_with(|| self.redactor.stream()))
    }

    /// Moves what the redactor released into `out` and reports the findings.
    fn emit(&mut self, channel: Channel, out: &mut Vec<Msg>) {
        for bytes in self.chunks.drain(..) {
            if !bytes.is_empty() {
                out.push(Msg::Data(Frame::new(channel, bytes)));
            }
        }
        for f in self.findings.drain(..) {
            debug!(
                rule = %f.rule,
                channel = channel.stream_type(),
                offset = f.offset,
                len = f.len,
                "secret redacted"
            );
            if let Some(rec) = &self.recording {
                let finding = crate::record::Finding {
                    rule: f.rule.to_string(),
                    channel: channel.index(),
                    offset: f.offset,
                    len: f.len,
                    fingerprint: f.fingerprint.map(|p| p.to_hex()).unwrap_or_default(),
                };
                // The redacted bytes themselves are recorded by the record filter, which
                // fails the session closed; a finding that cannot be queued is only logged.
                if let Err(e) = rec.finding(finding) {
                    warn!(error = %e, "a redaction finding could not be recorded");
                }
            }
        }
    }

    fn finish_channel(&mut self, channel: Channel, out: &mut Vec<Msg>) {
        let slot = match channel {
            Channel::Stdout => self.stdout.take(),
            Channel::Stderr => self.stderr.take(),
            _ => None,
        };
        if let Some(mut stream) = slot {
            stream.finish(&mut self.chunks, &mut self.findings);
            self.emit(channel, out);
        }
    }
}

impl Filter for RedactFilter {
    fn on_msg(&mut self, msg: Msg, out: &mut Vec<Msg>) -> Result<(), EndSession> {
        match msg {
            Msg::Data(frame) if matches!(frame.channel, Channel::Stdout | Channel::Stderr) => {
                let channel = frame.channel;
                let (mut chunks, mut findings) = (
                    std::mem::take(&mut self.chunks),
                    std::mem::take(&mut self.findings),
                );
                if let Some(stream) = self.stream(channel) {
                    stream.push(frame.bytes, &mut chunks, &mut findings);
                }
                self.chunks = chunks;
                self.findings = findings;
                self.emit(channel, out);
            }
            Msg::Close(channel) => {
                self.finish_channel(channel, out);
                out.push(Msg::Close(channel));
            }
            other => out.push(other),
        }
        Ok(())
    }

    fn holds(&self) -> bool {
        let held = |s: &Option<StreamRedactor>| s.as_ref().is_some_and(|s| s.held_bytes() > 0);
        held(&self.stdout) || held(&self.stderr)
    }

    fn releases_at_any_pause(&self) -> bool {
        let only_trigger_start = |s: &Option<StreamRedactor>| {
            s.as_ref()
                .is_none_or(|s| s.held_bytes() == 0 || s.holds_only_trigger_start())
        };
        only_trigger_start(&self.stdout) && only_trigger_start(&self.stderr)
    }

    fn on_idle(&mut self, out: &mut Vec<Msg>) {
        for channel in [Channel::Stdout, Channel::Stderr] {
            let (mut chunks, mut findings) = (
                std::mem::take(&mut self.chunks),
                std::mem::take(&mut self.findings),
            );
            if let Some(stream) = match channel {
                Channel::Stdout => self.stdout.as_mut(),
                _ => self.stderr.as_mut(),
            } {
                stream.flush_idle(&mut chunks, &mut findings);
            }
            self.chunks = chunks;
            self.findings = findings;
            self.emit(channel, out);
        }
    }

    fn on_finish(&mut self, out: &mut Vec<Msg>) {
        self.finish_channel(Channel::Stdout, out);
        self.finish_channel(Channel::Stderr, out);
    }
}

#[cfg(test)]
mod tests;
