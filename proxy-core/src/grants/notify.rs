//! Telling people: the audit line of each step, and the optional webhook
//! (`grants.notify.url`), a JSON POST with a Slack-compatible `text`. Deliveries are
//! spawned: a slow or failing webhook never delays or fails a step; failures are logged.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::{AccessRequest, Grants};
use crate::auth::Identity;
use crate::config::NotifyConfig;
use crate::policy::audit::rfc3339;

/// How long one delivery may take when `timeout` is not set.
pub const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// The webhook client.
#[derive(Debug, Clone)]
pub struct Notifier {
    client: reqwest::Client,
    url: String,
    timeout: Duration,
}

/// One webhook body.
#[derive(Debug, Serialize)]
struct Notice<'a> {
    text: String,
    event: &'a str,
    request: &'a AccessRequest,
}

impl Notifier {
    /// A client for `cfg`, trusting the system's roots.
    pub fn new(cfg: &NotifyConfig) -> Result<Notifier, String> {
        let timeout = match cfg.timeout.as_deref() {
            Some(t) => humantime::parse_duration(t).map_err(|e| format!("{t}: {e}"))?,
            None => DEFAULT_NOTIFY_TIMEOUT,
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        let tls = crate::tls::client_builder(roots)?.with_no_client_auth();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| format!("grants.notify: {e}"))?;
        Ok(Notifier {
            client,
            url: cfg.url.clone(),
            timeout,
        })
    }

    /// Posts one notice; the error says why it was not delivered.
    pub async fn deliver(&self, event: &str, request: &AccessRequest) -> Result<(), String> {
        let notice = Notice {
            text: text(event, request),
            event,
            request,
        };
        let res = self
            .client
            .post(&self.url)
            .timeout(self.timeout)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&notice).map_err(|e| e.to_string())?)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(format!("the webhook answered {}", res.status()))
        }
    }
}

/// The one-line text: `kubewitness: alice requested payments-exec (01…) for 1h: reason`.
pub fn text(event: &str, r: &AccessRequest) -> String {
    let what = r.description.as_deref().unwrap_or(&r.grant);
    let by = match event {
        "approved" | "denied" => r
            .approvals
            .last()
            .map(|a| a.user.clone())
            .or_else(|| r.denial.as_ref().map(|d| d.user.clone()))
            .map_or(String::new(), |u| format!(" by {u}")),
        _ => String::new(),
    };
    format!(
        "kubewitness: access request {} ({what}) of {} {event}{by}: {}",
        r.id, r.requester, r.reason
    )
}

/// The audit line of one step.
#[derive(Debug, Serialize)]
pub struct GrantAudit<'a> {
    time: String,
    user: &'a str,
    groups: &'a [String],
    verb: String,
    resource: &'static str,
    id: &'a str,
    grant: &'a str,
    state: super::State,
    reason: &'a str,
}

/// The audit line for `verb` (`create`, `approve`, …) by `who` on `r`.
pub fn audit_line<'a>(
    verb: &str,
    who: &'a Identity,
    r: &'a AccessRequest,
    reason: &'a str,
) -> GrantAudit<'a> {
    GrantAudit {
        time: rfc3339(SystemTime::now()),
        user: &who.user,
        groups: &who.groups,
        verb: format!("accessrequest.{verb}"),
        resource: "accessrequests",
        id: &r.id,
        grant: &r.grant,
        state: r.state,
        reason,
    }
}

impl Grants {
    /// Tells the webhook, if any, without waiting.
    pub(super) fn notify(&self, event: &str, request: AccessRequest) {
        let Some(n) = self.notifier.clone() else {
            return;
        };
        let event = event.to_string();
        tokio::spawn(async move {
            if let Err(e) = n.deliver(&event, &request).await {
                tracing::warn!(id = %request.id, %event, error = %e, "grant notification failed");
            }
        });
    }
}
