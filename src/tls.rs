//! TLS for the client side of a session: which server certificates to trust.
//!
//! Always built with an explicit crypto provider: both ring and aws-lc-rs end up
//! enabled in the dependency graph, so `ClientConfig::builder()` would panic.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::{Code, Error, Result};
use crate::log;

/// What to trust. Empty roots and no pins = the system's root store.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM files; every certificate in every file is trusted as a root.
    pub root_cert_files: Vec<PathBuf>,
    /// SHA-256 of acceptable server (end-entity) certificates, hex, colons allowed.
    /// When set, the pin match replaces the chain check; the handshake
    /// signature is still verified.
    pub server_cert_sha256: Vec<String>,
    /// Accept any certificate. Development only; logged loudly.
    pub disable_verify: bool,
}

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls client config for `options`, offering `alpn`.
pub fn client_config(options: &TlsOptions, alpn: &[u8]) -> Result<rustls::ClientConfig> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::new(Code::Tls, format!("TLS 1.3 unavailable: {e}")))?;

    let mut config = if options.disable_verify {
        log::warn(
            "TLS certificate verification is DISABLED for this session (TlsConfig::disable_verify); \
             anyone on the path can impersonate the server. Use root_cert_files or \
             server_cert_sha256 instead outside development.",
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny { provider }))
            .with_no_client_auth()
    } else if !options.server_cert_sha256.is_empty() {
        let pins = options
            .server_cert_sha256
            .iter()
            .map(|pin| parse_pin(pin))
            .collect::<Result<Vec<_>>>()?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinVerifier { pins, provider }))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(root_store(&options.root_cert_files)?)
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(config)
}

fn root_store(files: &[PathBuf]) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    if files.is_empty() {
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // A system store commonly holds a few certificates rustls cannot
            // parse; skipping them is what every rustls client does.
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(Error::new(
                Code::Tls,
                "no system root certificates found; install ca-certificates or set \
                 TlsConfig::root_cert_files",
            ));
        }
        return Ok(roots);
    }
    for file in files {
        for cert in read_pem_certs(file)? {
            roots.add(cert).map_err(|e| {
                Error::new(
                    Code::Tls,
                    format!("root certificate in {} is unusable: {e}", file.display()),
                )
            })?;
        }
    }
    Ok(roots)
}

fn read_pem_certs(file: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let data = std::fs::read(file).map_err(|e| {
        Error::invalid_argument(format!(
            "cannot read root certificate file {}: {e}",
            file.display()
        ))
    })?;
    let certs = rustls_pemfile::certs(&mut data.as_slice())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::invalid_argument(format!("{} is not valid PEM: {e}", file.display()))
        })?;
    if certs.is_empty() {
        return Err(Error::invalid_argument(format!(
            "{} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)",
            file.display()
        )));
    }
    Ok(certs)
}

fn parse_pin(pin: &str) -> Result<[u8; 32]> {
    let hex_digits: String = pin.chars().filter(|c| *c != ':').collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(&hex_digits, &mut out).map_err(|_| {
        Error::invalid_argument(format!(
            "server_cert_sha256 entry \"{pin}\" is not a SHA-256 in hex (64 hex digits, \
             colons allowed)"
        ))
    })?;
    Ok(out)
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Trusts exactly the pinned certificates; still checks the handshake signature.
#[derive(Debug)]
struct PinVerifier {
    pins: Vec<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let digest = sha256(end_entity.as_ref());
        if self.pins.contains(&digest) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "server certificate SHA-256 {} matches no pin in server_cert_sha256",
                hex::encode(digest)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `disable_verify`: accepts any certificate and signature.
#[derive(Debug)]
struct AcceptAny {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_with_or_without_colons() {
        let hex64 = "00".repeat(32);
        assert!(parse_pin(&hex64).is_ok());
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_pin(&colons).unwrap(), [0xab; 32]);
        assert!(parse_pin("abc").is_err());
    }
}
