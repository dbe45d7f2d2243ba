//! TLS setup: a rustls server config from PEM files, and a local CA plus a localhost server
//! certificate generated once into the data folder (the SDKs refuse plain HTTP with a bearer
//! token, so local use needs a certificate the client can be told to trust).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Datelike, Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Where `self_signed` keeps its files, under the data folder.
pub const TLS_DIR: &str = "tls";

/// The files of a generated local CA and server certificate.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// The CA certificate clients must trust.
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// Whether this call created them (false: reused from an earlier run).
    pub created: bool,
}

fn other(context: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{context}: {e}"))
}

/// A rustls server config serving the PEM certificate chain and private key, offering HTTP/2
/// and HTTP/1.1 by ALPN.
pub fn server_config(cert: &Path, key: &Path) -> io::Result<Arc<rustls::ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| other(&format!("reading {}", cert.display()), e))?
        .collect::<Result<_, _>>()
        .map_err(|e| other(&format!("parsing {}", cert.display()), e))?;
    if certs.is_empty() {
        return Err(other(&cert.display().to_string(), "no certificate found"));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| other(&format!("reading the private key {}", key.display()), e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| other("TLS protocol versions", e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| other("TLS certificate and key", e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Generates `<data>/tls/{ca.pem, ca-key.pem, server.pem, server-key.pem}` unless they exist;
/// the server certificate covers `localhost`, `127.0.0.1` and `::1`. Delete the folder to
/// generate new ones.
pub fn self_signed(data_dir: &Path) -> io::Result<SelfSigned> {
    let dir = data_dir.join(TLS_DIR);
    let files = SelfSigned {
        ca_cert: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server-key.pem"),
        created: false,
    };
    if files.ca_cert.exists() && files.server_cert.exists() && files.server_key.exists() {
        return Ok(files);
    }
    fs::create_dir_all(&dir)?;
    let err = |e: rcgen::Error| other("generating certificates", e);

    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = name("twingraph local development CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut ca, 3650);
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;

    let key = KeyPair::generate().map_err(err)?;
    let mut server = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(err)?;
    server.distinguished_name = name("localhost");
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    validity(&mut server, 825);
    let server_cert = server.signed_by(&key, &ca_cert, &ca_key).map_err(err)?;

    write_private(&dir.join("ca-key.pem"), &ca_key.serialize_pem())?;
    write_private(&files.server_key, &key.serialize_pem())?;
    fs::write(&files.server_cert, server_cert.pem())?;
    // The CA last: its presence is what marks the set complete.
    fs::write(&files.ca_cert, ca_cert.pem())?;
    Ok(SelfSigned {
        created: true,
        ..files
    })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "twingraph");
    dn
}

/// Valid from yesterday (tolerates clock skew) for `days` days.
fn validity(params: &mut CertificateParams, days: i64) {
    let ymd = |t: chrono::DateTime<Utc>| {
        // Day clamped to 28 so every (year, month, day) exists.
        rcgen::date_time_ymd(t.year(), t.month() as u8, t.day().min(28) as u8)
    };
    let now = Utc::now();
    params.not_before = ymd(now - Duration::days(1));
    params.not_after = ymd(now + Duration::days(days));
}

fn write_private(path: &Path, text: &str) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    io::Write::write_all(&mut options.open(path)?, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let first = self_signed(dir.path()).unwrap();
        assert!(first.created);
        let again = self_signed(dir.path()).unwrap();
        assert!(!again.created);
        assert_eq!(
            fs::read(&first.ca_cert).unwrap(),
            fs::read(&again.ca_cert).unwrap()
        );
        let config = server_config(&first.server_cert, &first.server_key).unwrap();
        assert_eq!(config.alpn_protocols[0], b"h2");
    }
}
