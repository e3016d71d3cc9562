//! Raw HTTP/1.1 over TLS from a chosen local address (`127.0.0.2` stands for an attacker's
//! machine, so per-address limits do not touch the kubectl on `127.0.0.1`), and a count of
//! the connections kubewitness holds open from an address, read from `/proc/net/tcp`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use kubewitness_sim::testbed::Testbed;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;

use crate::support::{IO_TIMEOUT, Response, Tls, read_response, timed};

/// The attacker's address.
pub(crate) const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

fn connector(bed: &Testbed, alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(bed.ca.ca_pem().as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA cert");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(proxy_core::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

/// A TCP connection to kubewitness from `from`.
pub(crate) async fn tcp_from(
    bed: &Testbed,
    from: IpAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    timed("tcp connect", socket.connect(bed.addr)).await
}

/// A TLS connection from `from` (HTTP/1.1, or HTTP/2 with `h2`); `None` when kubewitness
/// closed it first.
pub(crate) async fn tls_from(bed: &Testbed, from: IpAddr, h2: bool) -> Option<Tls> {
    let tcp = tcp_from(bed, from).await.ok()?;
    let alpn: &[&[u8]] = if h2 { &[b"h2"] } else { &[] };
    let name = ServerName::try_from("localhost").expect("name");
    tokio::time::timeout(IO_TIMEOUT, connector(bed, alpn).connect(name, tcp))
        .await
        .ok()?
        .ok()
}

/// Sends `head` (a whole request, `\r\n` line ends) from `from` and reads the response.
pub(crate) async fn send(bed: &Testbed, from: IpAddr, head: &str) -> Response {
    let mut io = tls_from(bed, from, false).await.expect("TLS handshake");
    timed("write", io.write_all(head.as_bytes()))
        .await
        .expect("write");
    read_response(&mut io).await.0
}

/// A GET of `target` with `token` and extra header lines, from `127.0.0.1`.
pub(crate) async fn get(bed: &Testbed, target: &str, token: &str, extra: &str) -> Response {
    let head = format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n{extra}Connection: close\r\n\r\n"
    );
    send(bed, "127.0.0.1".parse().unwrap(), &head).await
}

/// The `message` of a `Status` body.
pub(crate) fn message(res: &Response) -> String {
    serde_json::from_str::<serde_json::Value>(&res.body)
        .ok()
        .and_then(|v| v["message"].as_str().map(String::from))
        .unwrap_or_else(|| panic!("not a Status: {res:?}"))
}

/// Sockets kubewitness holds open (a descriptor, not yet closed) for connections from
/// `from` to its port.
pub(crate) fn held_from(bed: &Testbed, from: IpAddr) -> usize {
    let IpAddr::V4(v4) = from else { return 0 };
    let port = format!("{:04X}", bed.addr.port());
    let remote = format!("{:08X}", u32::from_le_bytes(v4.octets()));
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address, rem_address, st, …, inode (0 once nobody holds the socket).
            f.len() > 9
                && f[1].ends_with(&format!(":{port}"))
                && f[2].starts_with(&remote)
                && f[9] != "0"
        })
        .count()
}
