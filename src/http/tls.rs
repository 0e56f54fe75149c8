//! TLS settings: the configured certificate, or a self-signed development certificate made on
//! first start and reused afterwards. TLS 1.2 and 1.3 only, with rustls's safe defaults.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tracing::{info, warn};

use crate::config::Settings;

pub fn dev_cert_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("dev-cert.pem"), dir.join("dev-key.pem"))
}

pub fn server_config(settings: &Settings) -> anyhow::Result<Arc<ServerConfig>> {
    let (cert_path, key_path) = match settings.tls_files() {
        Some((cert, key)) => {
            if cert.as_os_str().is_empty() || key.as_os_str().is_empty() {
                bail!("set both tls.cert_path and tls.key_path, or neither to use a development certificate");
            }
            info!(cert = %cert.display(), "using the configured TLS certificate");
            (cert, key)
        }
        None => {
            let (cert, key) = dev_cert_paths(&settings.data_dir);
            if cert.exists() && key.exists() {
                warn!(cert = %cert.display(), "no TLS certificate configured: reusing the self-signed development certificate; set tls.cert_path and tls.key_path for real use");
            } else {
                generate_dev_cert(&cert, &key)?;
                warn!(cert = %cert.display(), "no TLS certificate configured: generated a self-signed development certificate for localhost; clients must trust it explicitly; set tls.cert_path and tls.key_path for real use");
            }
            (cert, key)
        }
    };
    let certs = load_certs(&cert_path)?;
    let key = load_key(&key_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not form a usable pair")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn generate_dev_cert(cert_path: &Path, key_path: &Path) -> anyhow::Result<()> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let certified =
        rcgen::generate_simple_self_signed(names).context("could not generate a development certificate")?;
    if let Some(dir) = cert_path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    }
    let mut key_file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(key_path)
        .with_context(|| format!("could not write {}", key_path.display()))?;
    key_file.write_all(certified.key_pair.serialize_pem().as_bytes())?;
    key_file.sync_all()?;
    fs::write(cert_path, certified.cert.pem()).with_context(|| format!("could not write {}", cert_path.display()))?;
    Ok(())
}

fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = fs::read(path).with_context(|| format!("could not read the TLS certificate {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok(certs)
}

fn load_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = fs::read(path).with_context(|| format!("could not read the TLS key {}", path.display()))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .with_context(|| format!("{} is not a PEM private key", path.display()))?
        .with_context(|| format!("{} holds no private key", path.display()))
}
