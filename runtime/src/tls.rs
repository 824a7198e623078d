//! TLS with rustls (ring as the crypto provider): client configs from a component's `tls`
//! field (system roots plus `root_cas`/`root_cas_file`, `skip_cert_verify`, `client_certs`),
//! and server configs from certificate and key files (the API's `http.cert_file`/`key_file`).

use std::sync::{Arc, Once};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::config::stream::Field;

/// Why TLS settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("tls: cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// PEM text holds no usable certificate or key.
    #[error("tls: {0}")]
    Pem(String),
    /// rustls refused the settings.
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Makes ring the process's crypto provider (once; every TLS config needs one).
pub fn install_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another provider installed first is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    install_provider();
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

fn read(path: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_string(),
        source,
    })
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(format!("{}: {}", what, e)))?;
    if certs.is_empty() {
        return Err(TlsError::Pem(format!("{}: no PEM certificate found", what)));
    }
    Ok(certs)
}

fn private_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError::Pem(format!("{}: {}", what, e)))
}

/// The system's root certificates (unreadable ones are skipped).
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    roots
}

/// The client config a component's `tls` field describes; with the field absent or
/// `enabled: false`, the system roots and nothing else.
pub fn client_config(tls: Option<&Field>) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let on = |name: &str| tls.and_then(|t| t.get(name));
    let enabled = on("enabled").and_then(Field::as_bool).unwrap_or(false);
    let text = |name: &str| {
        on(name)
            .and_then(Field::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let builder = if enabled && on("skip_cert_verify").and_then(Field::as_bool) == Some(true) {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        let mut roots = system_roots();
        if enabled {
            let mut extra = Vec::new();
            if let Some(pem) = text("root_cas") {
                extra.extend(certificates(pem.as_bytes(), "root_cas")?);
            }
            if let Some(path) = text("root_cas_file") {
                extra.extend(certificates(&read(&path)?, &path)?);
            }
            for cert in extra {
                roots.add(cert)?;
            }
        }
        builder.with_root_certificates(roots)
    };
    let client_cert = if enabled {
        let certs = on("client_certs")
            .and_then(Field::as_array)
            .unwrap_or_default();
        if certs.len() > 1 {
            return Err(TlsError::Pem(
                "client_certs: only one client certificate is supported".into(),
            ));
        }
        certs.first().map(client_certificate).transpose()?
    } else {
        None
    };
    if enabled && on("enable_renegotiation").and_then(Field::as_bool) == Some(true) {
        tracing::warn!("tls.enable_renegotiation is ignored: rustls never renegotiates");
    }
    Ok(match client_cert {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    })
}

/// One `client_certs` entry: inline PEM (`cert`, `key`) or files (`cert_file`, `key_file`).
fn client_certificate(
    entry: &Field,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let text = |name: &str| {
        entry
            .get(name)
            .and_then(Field::as_str)
            .filter(|s| !s.is_empty())
    };
    if text("password").is_some() {
        return Err(TlsError::Pem(
            "client_certs: password-encrypted private keys are not supported; decrypt the key"
                .into(),
        ));
    }
    let cert = match (text("cert"), text("cert_file")) {
        (Some(pem), _) => pem.as_bytes().to_vec(),
        (None, Some(path)) => read(path)?,
        (None, None) => return Err(TlsError::Pem("client_certs: no cert or cert_file".into())),
    };
    let key = match (text("key"), text("key_file")) {
        (Some(pem), _) => pem.as_bytes().to_vec(),
        (None, Some(path)) => read(path)?,
        (None, None) => return Err(TlsError::Pem("client_certs: no key or key_file".into())),
    };
    Ok((
        certificates(&cert, "client_certs.cert")?,
        private_key(&key, "client_certs.key")?,
    ))
}

/// A server config from PEM certificate chain and key files.
pub fn server_config(cert_file: &str, key_file: &str) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(&read(cert_file)?, cert_file)?;
    let key = private_key(&read(key_file)?, key_file)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `skip_cert_verify: true`: any certificate is accepted (signatures are still checked, so
/// the handshake itself stays sound).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
