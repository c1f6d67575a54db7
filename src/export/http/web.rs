//! The web configuration file (`--web-config FILE`): TLS and
//! authentication for the HTTP server, in the YAML format of Prometheus's
//! exporter-toolkit, so that the file a Prometheus exporter uses works
//! here too:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # PEM; relative to this file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # optional
//!   client_ca_file: clients.crt                    # with client_auth_type
//!   min_version: TLS12                             # or TLS13
//! http_server_config:
//!   headers:                       # added to every answer
//!     Strict-Transport-Security: max-age=31536000
//! basic_auth_users:                # user: bcrypt hash (htpasswd -nBC 10)
//!   prometheus: $2y$10$...
//! bearer_tokens:                   # mirrorwatch's addition: bcrypt hashes
//!   - $2y$10$...
//! ```
//!
//! With users or tokens configured every route needs `Authorization:
//! Basic` or `Bearer` (401 otherwise). A bcrypt check is costly on
//! purpose, so checks run off the async workers one at a time, and
//! credentials already verified are remembered (by SHA-256) so that a
//! scraper's requests cost nothing after the first.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use dashmap::DashMap;
use hyper::header::{HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// A web configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct WebConfigError {
    pub path: String,
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsFile>,
    http_server_config: Option<HttpServerFile>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
    #[serde(default)]
    bearer_tokens: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpServerFile {
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// Credentials remembered, verified or refused, before the caches are
/// emptied.
const REMEMBERED: usize = 4096;

/// TLS, authentication and extra headers for the HTTP server.
pub struct WebConfig {
    tls: Option<TlsAcceptor>,
    headers: Vec<(HeaderName, HeaderValue)>,
    users: BTreeMap<String, String>,
    tokens: Vec<String>,
    verified: DashMap<[u8; 32], bool>,
    bcrypt: Arc<Semaphore>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.len())
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

impl WebConfig {
    /// Reads and checks `path` (certificates and keys are loaded now, so
    /// that every mistake shows at start).
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let err = |message: String| WebConfigError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let file: File = if text.trim().is_empty() {
            File::default()
        } else {
            serde_yaml_ng::from_str(&text).map_err(|e| err(e.to_string()))?
        };
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let tls = file
            .tls_server_config
            .map(|t| tls_acceptor(&t, base).map_err(err))
            .transpose()?;
        let mut headers = Vec::new();
        for (k, v) in file
            .http_server_config
            .map(|h| h.headers)
            .unwrap_or_default()
        {
            let name = HeaderName::try_from(k.as_str())
                .map_err(|_| err(format!("http_server_config.headers: invalid name {k:?}")))?;
            let value = HeaderValue::try_from(v.as_str())
                .map_err(|_| err(format!("http_server_config.headers.{k}: invalid value")))?;
            headers.push((name, value));
        }
        for (user, hash) in &file.basic_auth_users {
            check_hash(hash).map_err(|m| err(format!("basic_auth_users.{user}: {m}")))?;
        }
        for (i, hash) in file.bearer_tokens.iter().enumerate() {
            check_hash(hash).map_err(|m| err(format!("bearer_tokens[{i}]: {m}")))?;
        }
        Ok(WebConfig {
            tls,
            headers,
            users: file.basic_auth_users,
            tokens: file.bearer_tokens,
            verified: DashMap::new(),
            bcrypt: Arc::new(Semaphore::new(1)),
        })
    }

    pub fn tls_acceptor(&self) -> Option<TlsAcceptor> {
        self.tls.clone()
    }

    pub fn has_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn has_auth(&self) -> bool {
        !self.users.is_empty() || !self.tokens.is_empty()
    }

    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// `Ok` when no credentials are configured or `authorization` carries
    /// valid ones; otherwise the `WWW-Authenticate` challenge to send.
    pub async fn authorize(&self, authorization: Option<&HeaderValue>) -> Result<(), &'static str> {
        if !self.has_auth() {
            return Ok(());
        }
        let challenge = if self.users.is_empty() {
            "Bearer realm=\"mirrorwatch\""
        } else {
            "Basic realm=\"mirrorwatch\", charset=\"UTF-8\""
        };
        let Some(credential) = authorization.and_then(Credential::parse) else {
            return Err(challenge);
        };
        let digest = credential.digest();
        if let Some(ok) = self.verified.get(&digest).map(|v| *v) {
            return if ok { Ok(()) } else { Err(challenge) };
        }
        let hashes: Vec<String> = match &credential {
            Credential::Basic { user, .. } => self.users.get(user).cloned().into_iter().collect(),
            Credential::Bearer(_) => self.tokens.clone(),
        };
        let Ok(_permit) = self.bcrypt.clone().acquire_owned().await else {
            return Err(challenge);
        };
        let secret = credential.secret().to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            hashes
                .iter()
                .any(|h| bcrypt::verify(&secret, h).unwrap_or(false))
        })
        .await
        .unwrap_or(false);
        if self.verified.len() >= REMEMBERED {
            self.verified.clear();
        }
        self.verified.insert(digest, ok);
        if ok { Ok(()) } else { Err(challenge) }
    }
}

fn check_hash(hash: &str) -> Result<(), String> {
    hash.parse::<bcrypt::HashParts>()
        .map(|_| ())
        .map_err(|e| format!("not a bcrypt hash ({e})"))
}

enum Credential {
    Basic { user: String, password: String },
    Bearer(String),
}

impl Credential {
    fn parse(v: &HeaderValue) -> Option<Credential> {
        let v = v.to_str().ok()?;
        let (scheme, rest) = v.split_once(' ')?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()?;
            let text = String::from_utf8(raw).ok()?;
            let (user, password) = text.split_once(':')?;
            Some(Credential::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            })
        } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            Some(Credential::Bearer(rest.to_owned()))
        } else {
            None
        }
    }

    fn secret(&self) -> &str {
        match self {
            Credential::Basic { password, .. } => password,
            Credential::Bearer(t) => t,
        }
    }

    fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        match self {
            Credential::Basic { user, password } => {
                h.update(b"basic\0");
                h.update(user.as_bytes());
                h.update(b"\0");
                h.update(password.as_bytes());
            }
            Credential::Bearer(t) => {
                h.update(b"bearer\0");
                h.update(t.as_bytes());
            }
        }
        h.finalize().into()
    }
}

fn tls_acceptor(t: &TlsFile, base: &Path) -> Result<TlsAcceptor, String> {
    let at = |p: &Path| {
        if p.is_absolute() {
            p.to_owned()
        } else {
            base.join(p)
        }
    };
    let cert_path = at(&t.cert_file);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("tls_server_config.cert_file {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_server_config.cert_file {}: no certificate in it",
            cert_path.display()
        ));
    }
    let key_path = at(&t.key_file);
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("tls_server_config.key_file {}: {e}", key_path.display()))?;
    let versions: &[&rustls::SupportedProtocolVersion] = match t.min_version.as_deref() {
        None | Some("TLS12") => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Some("TLS13") => &[&rustls::version::TLS13],
        Some(v) => {
            return Err(format!(
                "tls_server_config.min_version: {v:?} is not supported (TLS12 or TLS13)"
            ));
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let Some(ca) = &t.client_ca_file else {
                return Err(format!(
                    "tls_server_config.client_auth_type {auth} needs client_ca_file"
                ));
            };
            let ca = at(ca);
            let mut roots = rustls::RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(&ca)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("tls_server_config.client_ca_file {}: {e}", ca.display()))?;
            for c in cas {
                roots.add(c).map_err(|e| {
                    format!("tls_server_config.client_ca_file {}: {e}", ca.display())
                })?;
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let v = if auth == "VerifyClientCertIfGiven" {
                v.allow_unauthenticated()
            } else {
                v
            };
            let v = v
                .build()
                .map_err(|e| format!("tls_server_config.client_ca_file {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(v)
        }
        other => {
            return Err(format!(
                "tls_server_config.client_auth_type: {other:?} is not supported (NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"
            ));
        }
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: certificate and key: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mw-web-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    #[tokio::test]
    async fn basic_and_bearer_credentials() {
        let d = tmp("auth");
        let user_hash = bcrypt::hash("s3cret", 4).expect("hash");
        let token_hash = bcrypt::hash("tok-123", 4).expect("hash");
        let p = write(
            &d,
            "web.yml",
            &format!(
                "basic_auth_users:\n  prom: '{user_hash}'\nbearer_tokens:\n  - '{token_hash}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"
            ),
        );
        let w = WebConfig::load(&p).expect("loads");
        assert!(w.has_auth() && !w.has_tls());
        assert_eq!(w.headers().len(), 1);
        let basic = |u: &str, p: &str| {
            let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            HeaderValue::try_from(format!("Basic {b}")).expect("value")
        };
        assert!(w.authorize(Some(&basic("prom", "s3cret"))).await.is_ok());
        // Remembered: the second check is a lookup.
        assert!(w.authorize(Some(&basic("prom", "s3cret"))).await.is_ok());
        assert!(w.authorize(Some(&basic("prom", "wrong"))).await.is_err());
        assert!(w.authorize(Some(&basic("other", "s3cret"))).await.is_err());
        assert!(w.authorize(None).await.is_err());
        let bearer = HeaderValue::from_static("Bearer tok-123");
        assert!(w.authorize(Some(&bearer)).await.is_ok());
        let wrong = HeaderValue::from_static("Bearer tok-124");
        assert!(w.authorize(Some(&wrong)).await.is_err());
        let garbage = HeaderValue::from_static("Basic !!!");
        assert!(w.authorize(Some(&garbage)).await.is_err());
    }

    #[test]
    fn mistakes_name_the_file_and_field() {
        let d = tmp("bad");
        for (text, want) in [
            (
                "basic_auth_users:\n  a: plain\n",
                "basic_auth_users.a: not a bcrypt hash",
            ),
            (
                "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n",
                "tls_server_config.cert_file",
            ),
            ("basic_auth_userz: {}\n", "unknown field `basic_auth_userz`"),
            (
                "http_server_config:\n  headers:\n    'bad name': x\n",
                "invalid name",
            ),
        ] {
            let p = write(&d, "web.yml", text);
            let e = WebConfig::load(&p).expect_err(text).to_string();
            assert!(e.starts_with(&p.display().to_string()), "{e}");
            assert!(e.contains(want), "{text}: {e}");
        }
        let empty = write(&d, "empty.yml", "");
        assert!(!WebConfig::load(&empty).expect("empty is fine").has_auth());
    }
}
