//! The rustls connector for each `sslmode`. tokio-postgres itself only knows
//! disable/prefer/require, so certificate checking is decided here:
//!
//! - `allow`, `prefer`, `require`: encrypt, do not check the certificate (as libpq does
//!   when no root certificate is given); with `sslrootcert` set, `require` checks the
//!   chain like `verify-ca`, again as libpq does.
//! - `verify-ca`: the chain must lead to `sslrootcert`; the host name is not checked.
//! - `verify-full`: chain and host name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::SettingsError;
use crate::settings::{ConnSettings, SslMode};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the connector for these settings, or `None` for `sslmode=disable`.
pub(crate) fn connector(
    settings: &ConnSettings,
) -> Result<Option<MakeRustlsConnect>, SettingsError> {
    Ok(client_config(settings)?.map(MakeRustlsConnect::new))
}

/// The rustls configuration for these settings, or `None` for `sslmode=disable`.
pub(crate) fn client_config(
    settings: &ConnSettings,
) -> Result<Option<ClientConfig>, SettingsError> {
    let verifier: Arc<dyn ServerCertVerifier> = match settings.sslmode {
        SslMode::Disable => return Ok(None),
        SslMode::Allow | SslMode::Prefer => Arc::new(AcceptAnyCertificate(provider())),
        SslMode::Require => match &settings.sslrootcert {
            Some(path) => Arc::new(ChainOnly(webpki_verifier(path)?)),
            None => Arc::new(AcceptAnyCertificate(provider())),
        },
        SslMode::VerifyCa => Arc::new(ChainOnly(webpki_verifier(root_cert(settings)?)?)),
        SslMode::VerifyFull => webpki_verifier(root_cert(settings)?)?,
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| SettingsError::Tls {
            path: PathBuf::new(),
            reason: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&settings.sslcert, &settings.sslkey) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| SettingsError::Tls {
                path: key.clone(),
                reason: e.to_string(),
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| SettingsError::Tls {
                    path: cert.clone(),
                    reason: e.to_string(),
                })?
        }
        (Some(path), None) | (None, Some(path)) => {
            return Err(SettingsError::Tls {
                path: path.clone(),
                reason: "sslcert and sslkey must be given together".into(),
            });
        }
        (None, None) => builder.with_no_client_auth(),
    };
    Ok(Some(config))
}

fn root_cert(settings: &ConnSettings) -> Result<&Path, SettingsError> {
    settings
        .sslrootcert
        .as_deref()
        .ok_or_else(|| SettingsError::InvalidValue {
            key: "sslrootcert".into(),
            value: String::new(),
            reason: format!(
                "sslmode={} needs a root certificate (sslrootcert=/path/to/ca.pem)",
                settings.sslmode.as_str()
            ),
        })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, SettingsError> {
    let bad = |reason: String| SettingsError::Tls {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate found".into()));
    }
    Ok(certs)
}

fn webpki_verifier(root: &Path) -> Result<Arc<WebPkiServerVerifier>, SettingsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(root)? {
        roots.add(cert).map_err(|e| SettingsError::Tls {
            path: root.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| SettingsError::Tls {
            path: root.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Encrypts without authenticating the server (libpq's `require` without a root cert).
/// Handshake signatures are still checked, so the session key is bound to the certificate.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
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
        verify_tls12_signature(
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
        verify_tls13_signature(
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

/// `verify-ca`: the full WebPKI chain check, with a host-name mismatch forgiven.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
