//! The development certificate authority of `--tls`: a CA kept in `--tls-dir` across runs (so a
//! client or test trusts `dev-ca.pem` once) and a fresh server certificate for `localhost`,
//! `127.0.0.1` and `::1` signed by it at every start.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct DevTls {
    pub server_config: Arc<rustls::ServerConfig>,
    pub ca_pem: String,
}

fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "uPay mock development CA");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "uPay developers");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

pub fn load_or_create(dir: &Path) -> anyhow::Result<DevTls> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key_path = dir.join("dev-ca-key.pem");
    let ca_path = dir.join("dev-ca.pem");
    let (ca_key, ca_pem) = match (
        std::fs::read_to_string(&key_path),
        std::fs::read_to_string(&ca_path),
    ) {
        (Ok(key), Ok(cert)) => (
            KeyPair::from_pem(&key).context("reading the dev CA key")?,
            cert,
        ),
        _ => {
            let key = KeyPair::generate()?;
            let cert = ca_params()?.self_signed(&key)?;
            write_private(&key_path, &key.serialize_pem())?;
            std::fs::write(&ca_path, cert.pem())?;
            (key, cert.pem())
        }
    };
    // Same name and key as the stored CA certificate, so what it signs chains to that file.
    let issuer = Issuer::new(ca_params()?, ca_key);

    let leaf_key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "uPay mock server");
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![
                leaf_cert.der().clone(),
                CertificateDer::from_pem_slice_or_der(&ca_pem)?,
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )?;
    Ok(DevTls {
        server_config: Arc::new(config),
        ca_pem,
    })
}

trait FromPemOrDer: Sized {
    fn from_pem_slice_or_der(pem: &str) -> anyhow::Result<Self>;
}

impl FromPemOrDer for CertificateDer<'static> {
    fn from_pem_slice_or_der(pem: &str) -> anyhow::Result<Self> {
        use rustls::pki_types::pem::PemObject;
        Ok(CertificateDer::from_pem_slice(pem.as_bytes())?)
    }
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(text.as_bytes())?;
    Ok(())
}
