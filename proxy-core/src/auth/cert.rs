//! Identity from a verified TLS client certificate: CN is the user, each O a group, as
//! kube-apiserver's x509 authenticator reads them.

use x509_parser::prelude::{FromDer, X509Certificate};

use super::Identity;

/// Reads the identity from a DER certificate that rustls has already verified.
/// `None` if it cannot be parsed or has no CN.
pub fn identity_from_cert(der: &[u8]) -> Option<Identity> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let subject = cert.subject();
    let user = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    if user.is_empty() {
        return None;
    }
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok())
        .map(String::from)
        .collect();
    Some(Identity {
        user,
        uid: None,
        groups,
        extra: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cn_is_user_and_o_are_groups() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "alice");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "sre");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let id = identity_from_cert(cert.der()).unwrap();
        assert_eq!(id.user, "alice");
        assert_eq!(id.groups, ["sre"]);
        assert_eq!(identity_from_cert(b"not a certificate"), None);
    }
}
