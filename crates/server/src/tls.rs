//! TLS configuration of both listeners (rustls on the aws-lc-rs provider).
//!
//! The Host API listener *requires* a client certificate chaining to one of the
//! configured Sigil CAs and checks it against their CRLs; the HTTPS listener
//! asks for one but also accepts password-only clients (browsers, admin CLI).
//! Configurations are rebuilt and swapped whole when the listener chain, the
//! client CAs or a CRL change, so new connections pick them up without a restart.

use std::sync::{Arc, RwLock};

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs8KeyDer,
};
use thiserror::Error;
use zeroize::Zeroizing;

/// Why a TLS configuration could not be built.
#[derive(Debug, Error)]
pub enum TlsError {
    /// No client CA is configured, so nobody could connect to the Host API.
    #[error(
        "the Host API needs at least one client CA: configure a Sigil CA whose certificates clients present"
    )]
    NoClientCa,
    /// A CA certificate was not accepted as a trust anchor.
    #[error("client CA certificate rejected: {0}")]
    BadClientCa(String),
    /// The client verifier could not be built (for example a malformed CRL).
    #[error("client certificate verifier: {0}")]
    Verifier(String),
    /// The listener certificate chain and key do not fit together.
    #[error("listener certificate or key rejected: {0}")]
    ListenerCertificate(String),
}

/// The certificate chain and private key a listener presents.
pub struct ListenerIdentity {
    /// Leaf first, then intermediates (the root may be included).
    pub chain: Vec<Vec<u8>>,
    /// The private key as unencrypted PKCS#8 DER.
    pub key_pkcs8: Zeroizing<Vec<u8>>,
}

/// The crypto provider used everywhere (one provider: the one that also signs).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Client-certificate policy of a listener.
pub enum ClientAuth<'a> {
    /// A client certificate from one of these CAs is required (Host API).
    Required {
        /// DER certificates of the accepted client CAs.
        cas: &'a [Vec<u8>],
        /// DER CRLs of those CAs.
        crls: &'a [Vec<u8>],
    },
    /// A client certificate from these CAs is verified when sent, but not required (HTTPS).
    Optional {
        /// DER certificates of the accepted client CAs.
        cas: &'a [Vec<u8>],
        /// DER CRLs of those CAs.
        crls: &'a [Vec<u8>],
    },
}

/// Builds a rustls server configuration (TLS 1.3 and 1.2, ALPN as given).
pub fn server_config(
    identity: &ListenerIdentity,
    client_auth: ClientAuth<'_>,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let (cas, crls, required) = match client_auth {
        ClientAuth::Required { cas, crls } => (cas, crls, true),
        ClientAuth::Optional { cas, crls } => (cas, crls, false),
    };
    let verifier = if cas.is_empty() {
        if required {
            return Err(TlsError::NoClientCa);
        }
        WebPkiClientVerifier::no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        for ca in cas {
            roots
                .add(CertificateDer::from(ca.clone()))
                .map_err(|e| TlsError::BadClientCa(e.to_string()))?;
        }
        let mut builder =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .with_crls(
                    crls.iter()
                        .map(|c| CertificateRevocationListDer::from(c.clone())),
                )
                // A CA that has never revoked anything may have no CRL yet.
                .allow_unknown_revocation_status();
        if !required {
            builder = builder.allow_unauthenticated();
        }
        builder
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?
    };

    let chain: Vec<CertificateDer<'static>> = identity
        .chain
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key_pkcs8.to_vec()));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::ListenerCertificate(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::ListenerCertificate(e.to_string()))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A server configuration that can be replaced while the listener runs.
#[derive(Clone)]
pub struct SwappableConfig(Arc<RwLock<Arc<ServerConfig>>>);

impl SwappableConfig {
    /// Starts with `config`.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        Self(Arc::new(RwLock::new(config)))
    }

    /// The configuration for the next handshake.
    pub fn current(&self) -> Arc<ServerConfig> {
        match self.0.read() {
            Ok(guard) => guard.clone(),
            // A writer panicked mid-swap; the Arc inside is still whole.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the configuration; connections already open keep theirs.
    pub fn replace(&self, config: Arc<ServerConfig>) {
        match self.0.write() {
            Ok(mut guard) => *guard = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
    }
}

/// The CN a client certificate (DER) binds to: its subject's only CN. `None` when the
/// certificate cannot be read, has no CN, or has several (`CN=nobody,CN=jenkins` binds to
/// nobody, rather than to whichever CN a reader happens to take first).
pub(crate) fn certificate_cn(der: &[u8]) -> Option<String> {
    use sigil_pki::x509_cert::der::Decode;
    let certificate = sigil_pki::x509_cert::Certificate::from_der(der).ok()?;
    sigil_pki::DistinguishedName::from(certificate.tbs_certificate().subject().clone())
        .sole_common_name()
}
