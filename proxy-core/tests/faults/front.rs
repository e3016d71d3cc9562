//! A second kubewitness in front of a testbed's simulated cluster, identical to the
//! testbed's own (same token file, policy, TLS, signing key, redaction) except for the
//! recording: its store and spool are chosen by the test, so storage can be made to fail.
//!
//! [`Front::restart`] stops it the way a crash-and-restart would look to the recorder: a new
//! `Recorder` over the same spool runs `recover`, as `Builder::build` does at start.

use std::path::PathBuf;
use std::sync::Arc;

use kubewitness_sim::testbed::{Testbed, client_kubeconfig};
use proxy_core::auth::{Authenticator, TokenFile};
use proxy_core::policy::Policy;
use proxy_core::policy::audit::AuditSink;
use proxy_core::policy::store::PolicyStore;
use proxy_core::record::{RecordStore, Recorder, RecordingConfig, SealSigner};
use proxy_core::upstream::Upstream;
use proxy_core::{Proxy, Server};
use tokio::sync::watch;

/// A running second proxy. Dropping it stops serving.
#[derive(Debug)]
pub(crate) struct Front {
    /// A kubeconfig for kubectl through this proxy, as the testbed's first caller.
    pub(crate) kubeconfig: PathBuf,
    /// The recording configuration it runs with.
    pub(crate) recording: RecordingConfig,
    stop: watch::Sender<bool>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The testbed's signing key.
pub(crate) fn signer(bed: &Testbed) -> SealSigner {
    SealSigner::load(&bed.dir().join("recording.key")).expect("the testbed's key loads")
}

impl Front {
    /// Starts a proxy recording to `store`, spooling in `spool`; `name` keeps its files
    /// (kubeconfig, audit log) apart from other fronts on the same testbed.
    pub(crate) async fn start(
        bed: &Testbed,
        name: &str,
        store: RecordStore,
        spool: PathBuf,
    ) -> Front {
        let cfg = &bed.config;
        // Small chunks and a window of two, whatever the defaults, so that a few MB of
        // output span many chunks and the store's pace shows at the client.
        let recording = RecordingConfig {
            store: store.url().to_string(),
            spool_dir: Some(spool),
            chunk_bytes: Some(256 << 10),
            window_bytes: Some(512 << 10),
            ..RecordingConfig::default()
        };
        let upstream = Upstream::from_config(&cfg.upstream)
            .await
            .expect("upstream config");
        let tokens = TokenFile::load(cfg.auth.token_file.as_ref().expect("token file"))
            .expect("token file loads");
        let policy = match &cfg.policy {
            Some(path) => PolicyStore::from_file(path).expect("policy loads"),
            None => PolicyStore::fixed(Policy::builtin()),
        };
        let audit = AuditSink::file(&bed.dir().join(format!("{name}-audit.jsonl")))
            .expect("audit log opens");
        let redactor = cfg.redaction.build().expect("redaction builds");
        let recorder = Recorder::new(recording.clone(), store, Some(signer(bed)));
        // Recovery is this test's to drive ([`Front::restart`]), so the builder skips it.
        let mut builder = Proxy::builder();
        builder
            .authenticator(Authenticator::new(Some(tokens), None))
            .upstream(upstream)
            .policy(Arc::new(policy))
            .audit(audit)
            .recorder(recorder)
            .recovery(false)
            .watch_files(false);
        if let Some(redactor) = redactor {
            builder.redactor(redactor);
        }
        let proxy = builder.build().await.expect("the proxy builds");
        let tls = proxy_core::tls::server_config(cfg.tls.as_ref().expect("TLS")).expect("TLS");
        let server = Server::bind("127.0.0.1:0".parse().unwrap(), Some(tls), proxy)
            .await
            .expect("binds");
        let addr = server.local_addr().expect("address");
        let (stop, mut stopped) = watch::channel(false);
        let served = tokio::spawn(server.serve(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        let caller = &bed.callers[0];
        let kubeconfig = bed.dir().join(format!("{name}.kubeconfig"));
        std::fs::write(
            &kubeconfig,
            client_kubeconfig(addr, bed.ca.ca_pem(), &caller.user, &caller.token),
        )
        .expect("kubeconfig written");
        Front {
            kubeconfig,
            recording,
            stop,
            served: Some(served),
        }
    }

    /// Stops serving (draining), then recovers what the spool holds into `store` with a
    /// fresh recorder, as the next start would. Returns the sessions it sealed.
    pub(crate) async fn restart(&mut self, bed: &Testbed, store: RecordStore) -> Vec<String> {
        let _ = self.stop.send(true);
        if let Some(served) = self.served.take() {
            let _ = served.await;
        }
        Recorder::new(self.recording.clone(), store, Some(signer(bed)))
            .recover()
            .await
            .expect("recovery runs")
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
