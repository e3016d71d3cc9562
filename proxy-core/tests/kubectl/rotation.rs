//! The serving certificate rotated in place (as cert-manager does) is served to new
//! connections while a running `kubectl exec` goes on to its end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

use crate::support::*;

/// The leaf certificate kubewitness presents to a new TLS connection.
async fn served_leaf(addr: std::net::SocketAddr, ca_pem: &str) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn a_rotated_certificate_is_served_to_new_connections_while_an_exec_goes_on() {
    let bed = testbed().await;
    let first = served_leaf(bed.addr, bed.ca.ca_pem()).await;
    let exec = async {
        let run = kubectl(
            &bed,
            Client::WebSocket,
            &[
                "exec",
                "web-0",
                "--",
                "sh",
                "-c",
                "echo started; sleep 12; echo finished",
            ],
        )
        .await;
        (run, Instant::now())
    };
    let rotate = async {
        // Let the exec get going before the files change under it.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let next = bed.ca.server_cert().unwrap();
        std::fs::write(bed.dir().join("server.key"), &next.key_pem).unwrap();
        std::fs::write(bed.dir().join("server.crt"), &next.cert_pem).unwrap();
        let want = CertificateDer::from_pem_slice(next.cert_pem.as_bytes())
            .unwrap()
            .to_vec();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let served = served_leaf(bed.addr, bed.ca.ca_pem()).await;
            if served == want {
                break (served, Instant::now());
            }
            assert_eq!(served, first, "neither the old nor the new certificate");
            assert!(
                Instant::now() < deadline,
                "the rotated certificate was not served"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let ((run, exec_ended), (served, rotated_at)) = tokio::join!(exec, rotate);
    assert_ne!(served, first);
    assert!(
        rotated_at < exec_ended,
        "the exec ended before the rotation was served"
    );
    run.ok();
    assert_eq!(run.stdout_str(), "started\nfinished\n");
    // kubectl, on a new connection, trusts the rotated certificate as it did the first.
    kubectl(&bed, Client::WebSocket, &["get", "pods"])
        .await
        .ok();
}
