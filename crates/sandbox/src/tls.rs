//! The sandbox's TLS: its identity, which client certificates it asks for,
//! and what a connection's certificate is worth to client authentication
//! (RFC 8705 §2.1 `tls_client_auth` needs one the client CA signed, §2.2
//! `self_signed_tls_client_auth` one registered for the client).

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConnection, SignatureScheme};

use crate::config::ClientAuthMethod;

/// The sandbox's TLS identity and client certificate policy (PEM texts).
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// The server certificate chain, leaf first.
    pub cert_pem: String,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
    /// Ask for client certificates signed by this CA (for mTLS and
    /// `tls_client_auth`); unless `self_signed_client_certs`, a presented
    /// certificate it did not sign fails the handshake.
    pub client_ca_pem: Option<String>,
    /// Ask for client certificates and accept any, self-signed ones too
    /// (for `self_signed_tls_client_auth`): the handshake still proves the
    /// client holds the certificate's key, and the token endpoint decides
    /// whose it is.
    pub self_signed_client_certs: bool,
    /// Refuse connections without a client certificate (with
    /// `self_signed_client_certs`, any certificate will do).
    pub require_client_cert: bool,
}

impl TlsSettings {
    /// The client authentication methods its certificate policy allows.
    pub(crate) fn certificate_auth(&self) -> Vec<ClientAuthMethod> {
        let mut methods = Vec::new();
        if self.client_ca_pem.is_some() {
            methods.push(ClientAuthMethod::TlsClientAuth);
        }
        if self.self_signed_client_certs {
            methods.push(ClientAuthMethod::SelfSignedTlsClientAuth);
        }
        methods
    }
}

/// A client certificate presented in a TLS handshake.
#[derive(Debug)]
pub(crate) struct ClientCert {
    /// DER, end entity.
    pub der: Vec<u8>,
    /// Signed by the client CA: what `tls_client_auth` accepts.
    pub ca_signed: bool,
}

impl ClientCert {
    /// RFC 8705 §3.1 `x5t#S256`: the base64url SHA-256 of the DER.
    pub fn thumbprint(&self) -> String {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&self.der))
    }
}

/// Accepts TLS connections, and tells what their client certificates are.
#[derive(Clone)]
pub(crate) struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// Verifies against the client CA, if there is one.
    client_ca: Option<Arc<dyn ClientCertVerifier>>,
}

impl Tls {
    pub fn new(settings: &TlsSettings) -> Result<Tls, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = CertificateDer::pem_slice_iter(settings.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("TLS certificate: {e}"))?;
        if certs.is_empty() {
            return Err("TLS certificate: no certificate in the PEM".into());
        }
        let key = PrivateKeyDer::from_pem_slice(settings.key_pem.as_bytes())
            .map_err(|e| format!("TLS key: {e}"))?;
        let client_ca = match &settings.client_ca_pem {
            Some(pem) => Some(client_ca(pem, settings.require_client_cert, &provider)?),
            None => None,
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match (&client_ca, settings.self_signed_client_certs) {
            (_, true) => builder.with_client_cert_verifier(Arc::new(AnyClientCert {
                mandatory: settings.require_client_cert,
                // Clients that pick a certificate by CA still see the CA.
                hints: (client_ca.as_ref())
                    .map(|ca| ca.root_hint_subjects().to_vec())
                    .unwrap_or_default(),
                algorithms: provider.signature_verification_algorithms,
            })),
            (Some(ca), false) => builder.with_client_cert_verifier(ca.clone()),
            (None, false) => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("TLS certificate and key: {e}"))?;
        // axum serves HTTP/1.1 here (no `http2` feature).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            client_ca,
        })
    }

    /// The certificate the client of a finished handshake presented.
    pub fn client_cert(&self, conn: &ServerConnection) -> Option<ClientCert> {
        let (end_entity, intermediates) = conn.peer_certificates()?.split_first()?;
        // Checked again here because with self-signed certificates allowed
        // the handshake let anything through.
        let ca_signed = self.client_ca.as_ref().is_some_and(|ca| {
            ca.verify_client_cert(end_entity, intermediates, UnixTime::now())
                .is_ok()
        });
        Some(ClientCert {
            der: end_entity.to_vec(),
            ca_signed,
        })
    }
}

fn client_ca(
    pem: &str,
    mandatory: bool,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("client CA: {e}"))?;
        roots.add(cert).map_err(|e| format!("client CA: {e}"))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    );
    let verifier = if mandatory {
        verifier
    } else {
        verifier.allow_unauthenticated()
    };
    verifier.build().map_err(|e| format!("client CA: {e}"))
}

/// Any client certificate whose key signs the handshake.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
