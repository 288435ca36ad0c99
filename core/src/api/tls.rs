//! TLS with rustls on ring only (one crypto library, no OpenSSL, no platform verifier needing
//! JNI on Android): webpki roots plus an optional extra CA (the mock's development CA), and
//! optional SPKI pinning checked inside the verifier, after the normal chain and name checks.

use std::sync::Arc;

use ring::digest;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme,
};

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("the extra CA is not a valid PEM certificate")]
    BadCa,
    #[error("TLS configuration failed")]
    Config,
}

/// Installs ring as the process's rustls provider (idempotent); reqwest is built without one.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[derive(Debug)]
struct PinningVerifier {
    inner: Arc<WebPkiServerVerifier>,
    /// SHA-256 of acceptable SubjectPublicKeyInfo DER; empty = no pinning.
    pins: Vec<[u8; 32]>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        if self.pins.is_empty() {
            return Ok(verified);
        }
        // Pins may name the leaf's key or an intermediate's (a pin on the issuing CA survives
        // certificate renewals).
        for cert in std::iter::once(end_entity).chain(intermediates) {
            let Ok(parsed) = webpki::EndEntityCert::try_from(cert) else {
                continue;
            };
            let spki = parsed.subject_public_key_info();
            let hash = digest::digest(&digest::SHA256, spki.as_ref());
            if self.pins.iter().any(|p| p.as_slice() == hash.as_ref()) {
                return Ok(verified);
            }
        }
        tracing::warn!("server key does not match any pin");
        Err(TlsError::General("certificate pin mismatch".into()))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

pub fn client_config(
    extra_ca_pem: Option<&str>,
    pins: &[[u8; 32]],
) -> Result<ClientConfig, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = extra_ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|_| TlsSetupError::BadCa)?;
            roots.add(cert).map_err(|_| TlsSetupError::BadCa)?;
            added += 1;
        }
        if added == 0 {
            return Err(TlsSetupError::BadCa);
        }
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|_| TlsSetupError::Config)?;
    let verifier = PinningVerifier {
        inner,
        pins: pins.to_vec(),
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| TlsSetupError::Config)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Base64 SHA-256 of a certificate's SubjectPublicKeyInfo: the pin format of the config.
pub fn spki_pin_of(cert_der: &[u8]) -> Option<String> {
    use base64::Engine;
    let der = CertificateDer::from(cert_der);
    let parsed = webpki::EndEntityCert::try_from(&der).ok()?;
    let hash = digest::digest(&digest::SHA256, parsed.subject_public_key_info().as_ref());
    Some(base64::engine::general_purpose::STANDARD.encode(hash.as_ref()))
}
