//! [`Builder`]: the one way a [`Proxy`] is made, from a [`Config`] or from parts.
//!
//! Whatever the source, [`Builder::build`] runs the start-up safety steps before the proxy
//! takes a request: recording crash recovery (sealing what a crash or a failed store left in
//! the spool, then writing the digest the crash missed) and the watchers that reload the
//! policy and token files when they change. An embedder turns either off only by saying so
//! ([`Builder::recovery`], [`Builder::watch_files`]). With a recorder it also builds the
//! access-request broker ([`crate::grants::Grants`]: its objects live in the recording
//! store) and starts it; without one the access-request API answers 503.

use std::fmt;
use std::sync::Arc;

use tracing::info;

use super::session::{FilterList, SessionFilters};
use super::{Proxy, ProxyParts};
use crate::access::Access;
use crate::auth::{AddressLimit, Authenticator, OidcAuthenticator, TokenReviewer, TokenStore};
use crate::config::{Config, GrantsConfig, McpConfig, expand_home};
use crate::error::Error;
use crate::grants::{Grants, GrantsOptions};
use crate::policy::audit::AuditSink;
use crate::policy::store::{POLL_INTERVAL, PolicyStore};
use crate::prometheus::{Backend, Gateway};
use crate::record::Recorder;
use crate::upstream::Upstream;

/// Builds a [`Proxy`]; made by [`Proxy::builder`].
///
/// From a configuration:
///
/// ```no_run
/// # async fn run(cfg: proxy_core::config::Config) -> Result<(), proxy_core::Error> {
/// let proxy = proxy_core::Proxy::builder().config(cfg).build().await?;
/// # Ok(()) }
/// ```
///
/// From parts (only the upstream and the authenticator are required; without a policy the
/// built-in one applies, without an audit sink audit lines go to stdout):
///
/// ```no_run
/// # async fn run(
/// #     upstream: proxy_core::upstream::Upstream,
/// #     auth: proxy_core::auth::Authenticator,
/// # ) -> Result<(), proxy_core::Error> {
/// let proxy = proxy_core::Proxy::builder()
///     .upstream(upstream)
///     .authenticator(auth)
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct Builder {
    config: Option<Box<Config>>,
    upstream: Option<Upstream>,
    auth: Option<Authenticator>,
    policy: Option<Arc<PolicyStore>>,
    audit: Option<AuditSink>,
    recorder: Option<Recorder>,
    redactor: Option<redact::Redactor>,
    prometheus: Option<Gateway>,
    grants: Option<GrantsConfig>,
    filters: FilterList,
    skip_recovery: bool,
    skip_watch: bool,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config.is_some())
            .field("upstream", &self.upstream.is_some())
            .field("filters", &self.filters.len())
            .field("recovery", &!self.skip_recovery)
            .field("watch_files", &!self.skip_watch)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Builds everything `cfg` describes: upstream, authentication (token file, TokenReview),
    /// policy, audit log, recording, redaction and the Prometheus gateway. Parts set on the
    /// builder as well are an error at [`Builder::build`]: one source or the other.
    pub fn config(&mut self, cfg: Config) -> &mut Self {
        self.config = Some(Box::new(cfg));
        self
    }

    /// Where requests go (required when building from parts).
    pub fn upstream(&mut self, upstream: Upstream) -> &mut Self {
        self.upstream = Some(upstream);
        self
    }

    /// Who callers are (required when building from parts).
    pub fn authenticator(&mut self, auth: Authenticator) -> &mut Self {
        self.auth = Some(auth);
        self
    }

    /// What callers may do. Default: the built-in policy. A store loaded from a file is
    /// watched for changes unless [`Builder::watch_files`] turns that off.
    pub fn policy(&mut self, policy: Arc<PolicyStore>) -> &mut Self {
        self.policy = Some(policy);
        self
    }

    /// Where every decision is written. Default: stdout, one JSON line each.
    pub fn audit(&mut self, audit: AuditSink) -> &mut Self {
        self.audit = Some(audit);
        self
    }

    /// Records every session.
    pub fn recorder(&mut self, recorder: Recorder) -> &mut Self {
        self.recorder = Some(recorder);
        self
    }

    /// Masks secrets in session output and in recorded argv (policy rules may opt their
    /// sessions out).
    pub fn redactor(&mut self, redactor: redact::Redactor) -> &mut Self {
        self.redactor = Some(redactor);
        self
    }

    /// Serves the Prometheus gateway under `/prometheus/`.
    pub fn prometheus(&mut self, gateway: Gateway) -> &mut Self {
        self.prometheus = Some(gateway);
        self
    }

    /// How approved access requests reach the API server (the breakglass group) and who
    /// hears about them (`grants:` in the configuration). Access requests need a
    /// [`Builder::recorder`]: their state is kept, signed, in the recording store.
    ///
    /// ```no_run
    /// # async fn run(
    /// #     upstream: proxy_core::upstream::Upstream,
    /// #     auth: proxy_core::auth::Authenticator,
    /// #     recorder: proxy_core::record::Recorder,
    /// # ) -> Result<(), proxy_core::Error> {
    /// let grants = proxy_core::config::GrantsConfig {
    ///     breakglass_group: Some("acme:breakglass".into()),
    ///     ..Default::default()
    /// };
    /// let proxy = proxy_core::Proxy::builder()
    ///     .upstream(upstream)
    ///     .authenticator(auth)
    ///     .recorder(recorder)
    ///     .grants(grants)
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn grants(&mut self, grants: GrantsConfig) -> &mut Self {
        self.grants = Some(grants);
        self
    }

    /// Adds the embedder's own filters to every session: `filters` is asked for them when
    /// a session starts. They run after redaction and the policy limits and before the
    /// recording filter, in the order added; see [`SessionFilters`] for the contract.
    pub fn session_filters(&mut self, filters: impl SessionFilters + 'static) -> &mut Self {
        self.filters.push(Arc::new(filters));
        self
    }

    /// Whether [`Builder::build`] runs recording crash recovery and starts the digest
    /// ledger (default: yes). Turning it off leaves interrupted recordings unsealed until a
    /// later start recovers them; only tests that drive recovery themselves want that.
    pub fn recovery(&mut self, on: bool) -> &mut Self {
        self.skip_recovery = !on;
        self
    }

    /// Whether the policy and token files are watched and reloaded on change (default: yes).
    /// [`Proxy::reload`] reloads them either way.
    pub fn watch_files(&mut self, on: bool) -> &mut Self {
        self.skip_watch = !on;
        self
    }

    /// Builds the proxy, running the start-up steps; the builder is left empty.
    ///
    /// Errors: [`Error::is_config`] for an invalid setting or file, [`Error::is_upstream`]
    /// when the API server's client cannot be set up, [`Error::is_storage`] when crash
    /// recovery or the digest ledger cannot use the recording store, [`Error::is_io`] when
    /// the audit log cannot be opened.
    pub async fn build(&mut self) -> Result<Arc<Proxy>, Error> {
        let mut this = std::mem::take(self);
        let (parts, mcp) = match this.config.take() {
            Some(cfg) => {
                if this.has_parts() {
                    return Err(Error::config(
                        "proxy builder",
                        "a configuration and parts were both given",
                    ));
                }
                let mcp = cfg.mcp.clone();
                (this.parts_from_config(&cfg).await?, mcp)
            }
            None => (this.parts()?, McpConfig::default()),
        };
        if !this.skip_watch {
            watch(&parts);
        }
        if !this.skip_recovery
            && let Some(recorder) = &parts.recorder
        {
            recover(recorder, parts.access.audit()).await?;
        }
        if let Some(grants) = &parts.grants {
            parts.access.attach_grants(grants.clone());
            grants.start();
        }
        Ok(Arc::new(Proxy::assemble(
            parts,
            mcp,
            this.prometheus,
            this.filters,
        )))
    }

    /// Whether any part was set one by one (a configuration would silently replace it).
    fn has_parts(&self) -> bool {
        self.upstream.is_some()
            || self.auth.is_some()
            || self.policy.is_some()
            || self.audit.is_some()
            || self.recorder.is_some()
            || self.redactor.is_some()
            || self.prometheus.is_some()
            || self.grants.is_some()
    }

    /// The parts set one by one.
    fn parts(&mut self) -> Result<ProxyParts, Error> {
        let upstream = self
            .upstream
            .take()
            .ok_or_else(|| Error::config("proxy builder", "no upstream"))?;
        let auth = self
            .auth
            .take()
            .ok_or_else(|| Error::config("proxy builder", "no authenticator"))?;
        let policy = self
            .policy
            .take()
            .unwrap_or_else(|| Arc::new(PolicyStore::fixed(crate::policy::Policy::builtin())));
        let audit = self.audit.take().unwrap_or_else(AuditSink::stdout);
        let redactor = self.redactor.take();
        let access = Access::new(policy, audit).with_argv_redactor(redactor.clone());
        let recorder = self.recorder.take().map(Arc::new);
        let grants_config = self.grants.take().unwrap_or_default();
        let grants = recorder.as_ref().map(|recorder| {
            Arc::new(Grants::new(GrantsOptions {
                recorder: recorder.clone(),
                policy: access.store().clone(),
                audit: AuditSink::sharing(access.audit_shared().clone()),
                config: grants_config.clone(),
            }))
        });
        Ok(ProxyParts {
            auth,
            upstream,
            access,
            recorder,
            grants,
            grants_config,
            redactor,
        })
    }

    /// The parts a configuration describes (parts set on the builder too are refused).
    async fn parts_from_config(&mut self, cfg: &Config) -> Result<ProxyParts, Error> {
        let upstream = Upstream::from_config(&cfg.upstream)
            .await
            .map_err(|e| Error::upstream("", e))?;
        let tokens = match &cfg.auth.token_file {
            Some(path) => Some(Arc::new(
                TokenStore::from_file(&expand_home(path))
                    .map_err(|e| Error::config(path.display().to_string(), e))?,
            )),
            None => None,
        };
        let review = cfg.auth.token_review.then(|| {
            TokenReviewer::new(upstream.client().clone()).with_audiences(cfg.auth.audiences.clone())
        });
        self.policy = match &cfg.policy {
            Some(path) => Some(Arc::new(
                PolicyStore::from_file(&expand_home(path))
                    .map_err(|e| Error::config(format!("policy {}", path.display()), e))?,
            )),
            None => None,
        };
        self.audit = match &cfg.audit.path {
            Some(path) => Some(
                AuditSink::file(&expand_home(path))
                    .map_err(|e| Error::io(format!("audit log {}", path.display()), e))?,
            ),
            None => None,
        };
        self.recorder = match &cfg.recording {
            Some(rc) => Some(Recorder::from_config(rc).map_err(|e| Error::config("recording", e))?),
            None => None,
        };
        self.redactor = cfg
            .redaction
            .build()
            .map_err(|e| Error::config("redaction", e))?;
        if let Some(p) = &cfg.prometheus {
            let backend = Backend::from_config(p).map_err(|e| Error::config("prometheus", e))?;
            self.prometheus = Some(Gateway::new(backend));
        }
        let mut auth = Authenticator::with_store(tokens, review)
            .with_address_limit(AddressLimit::from_config(&cfg.auth));
        if let Some(oidc) = &cfg.auth.oidc {
            let oidc = OidcAuthenticator::from_config(oidc)
                .await
                .map_err(|e| Error::config("auth.oidc", e))?;
            auth = auth.with_oidc(Arc::new(oidc));
        }
        self.grants = Some(cfg.grants.clone());
        self.upstream = Some(upstream);
        self.auth = Some(auth);
        self.parts()
    }
}

/// What the builder put together, for health and metrics (the OIDC rejection counts, the
/// minted upstream token's expiry).
impl Proxy {
    /// Who callers are.
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// The minted upstream token's validity and expiry, with `upstream.tokenRequest`.
    pub fn upstream_credential(&self) -> Option<&crate::upstream::CredentialStatus> {
        self.upstream.credential()
    }
}

/// Starts polling the policy and token files that came from a file.
fn watch(parts: &ProxyParts) {
    let policy = parts.access.store();
    if policy.path().is_some() {
        policy.watch(POLL_INTERVAL);
    }
    if let Some(tokens) = parts.auth.tokens()
        && tokens.path().is_some()
    {
        tokens.watch(POLL_INTERVAL);
    }
}

/// Seals what a crash or a failed store left behind, then starts the digest ledger (its
/// audit segments tee the audit log), before any new session.
async fn recover(recorder: &Recorder, audit: &AuditSink) -> Result<(), Error> {
    let store = recorder.store().url().to_string();
    let recovered = recorder
        .recover()
        .await
        .map_err(|e| Error::storage(&store, e))?;
    if !recovered.is_empty() {
        info!(sessions = recovered.len(), "sealed interrupted recordings");
    }
    let ledger = recorder
        .start_digests()
        .await
        .map_err(|e| Error::storage(&store, e))?;
    audit.tee(ledger);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A part the configuration would replace (here the audit sink) is refused, not dropped.
    #[tokio::test]
    async fn a_configuration_with_any_part_beside_it_is_refused() {
        let err = Proxy::builder()
            .config(Config::default())
            .audit(AuditSink::stdout())
            .build()
            .await
            .unwrap_err();
        assert!(err.is_config(), "{err}");
        assert!(err.to_string().contains("both given"), "{err}");
    }
}
