//! The machine's own limits, measured in the same run as the server so the ratios mean
//! something on any machine: the upload pipeline's crypto on one core, the download
//! pipeline's crypto on one core, and TLS over loopback with no storage behind it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use pigeonpost::crypto::segment::{Opener, Sealer, SEGMENT_SIZE};
use pigeonpost::crypto::DataKey;
use rand::RngCore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::stats::mb_per_s;

/// Each ceiling runs at least this long, so one scheduler hiccup on a shared machine does not
/// dominate it.
const MIN_TIME: Duration = Duration::from_secs(2);

/// SHA-256 plus ChaCha20-Poly1305 sealing of 64 KiB segments, as an upload does, in memory on
/// this thread: MB/s of plaintext.
pub fn seal_mb_s() -> f64 {
    let key = DataKey::generate();
    let mut plain = vec![0u8; SEGMENT_SIZE];
    rand::thread_rng().fill_bytes(&mut plain);
    let mut sealer = Sealer::new(&key, &[7u8; 16]);
    let mut hasher = Sha256::new();
    let mut out = Vec::with_capacity(SEGMENT_SIZE + 16);
    let start = Instant::now();
    let mut bytes = 0u64;
    while start.elapsed() < MIN_TIME {
        // 64 segments between clock reads keeps the timing overhead out of the figure.
        for _ in 0..64 {
            hasher.update(&plain);
            out.clear();
            if sealer.seal_next(&plain, false, &mut out).is_err() {
                // 2^32 segments would take days; start a new object rather than stop.
                sealer = Sealer::new(&key, &[7u8; 16]);
            }
            bytes += SEGMENT_SIZE as u64;
        }
    }
    let elapsed = start.elapsed();
    std::hint::black_box(hasher.finalize());
    mb_per_s(bytes, elapsed)
}

/// ChaCha20-Poly1305 opening of 64 KiB segments, as a download does (it sends the stored
/// digest rather than hashing again), in memory on this thread: MB/s of plaintext.
pub fn open_mb_s() -> anyhow::Result<f64> {
    const SEGMENTS: u64 = 64;
    let key = DataKey::generate();
    let id = [9u8; 16];
    let mut plain = vec![0u8; SEGMENT_SIZE];
    rand::thread_rng().fill_bytes(&mut plain);
    let mut sealer = Sealer::new(&key, &id);
    let header = sealer.header();
    let mut sealed = Vec::new();
    for _ in 0..SEGMENTS {
        let mut one = Vec::new();
        sealer.seal_next(&plain, false, &mut one).context("sealing the open ceiling's object")?;
        sealed.push(one);
    }
    let opener = Opener::new(&key, &id, &header).context("opening the ceiling's object")?;
    let mut out = Vec::with_capacity(SEGMENT_SIZE);
    let start = Instant::now();
    let mut bytes = 0u64;
    while start.elapsed() < MIN_TIME {
        for (index, segment) in (0..SEGMENTS).zip(&sealed) {
            out.clear();
            opener.open_segment_into(index, segment, false, &mut out).context("open ceiling: authentication")?;
            bytes += SEGMENT_SIZE as u64;
        }
    }
    Ok(mb_per_s(bytes, start.elapsed()))
}

/// Durable writes in a row on the disk under `dir`: 4 KiB appended, then fdatasync, as one
/// writer committing one small transaction after another would. The limit of any store that
/// makes each acknowledged upload durable before answering and commits them one at a time.
pub fn fsync_per_s(dir: &std::path::Path) -> anyhow::Result<f64> {
    use std::io::Write;
    let path = dir.join("fsync-ceiling");
    let mut f = std::fs::File::create(&path).context("creating the fsync ceiling's file")?;
    let block = [0x5au8; 4096];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < MIN_TIME {
        f.write_all(&block)?;
        f.sync_data()?;
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(rate)
}

/// Durable new files, `writers` at once, on the disk under `dir`: what the local object store
/// does for each upload (64 KiB written to a new file, fsync, rename into one of 256 shard
/// directories, fsync of that directory), with no HTTP, crypto or database. The limit of the
/// object half of concurrent small uploads, whatever the metadata store does. The files are
/// left for ops/bench to remove with the work directory: deleting thousands of files here
/// would make every file created in the next half minute slower (ext4 without a journal
/// steps over recently deleted inodes).
pub fn object_writes_per_s(dir: &std::path::Path, writers: usize) -> anyhow::Result<f64> {
    let root = dir.join("object-ceiling");
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    for shard in 0..256 {
        std::fs::create_dir_all(root.join(format!("{shard:02x}")))?;
    }
    let mut body = vec![0u8; 64 * 1024 + 40];
    rand::thread_rng().fill_bytes(&mut body);
    let start = Instant::now();
    let counts = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..writers)
            .map(|_| {
                let (root, tmp, body) = (&root, &tmp, &body);
                scope.spawn(move || -> anyhow::Result<u64> {
                    use std::io::Write;
                    let mut n = 0u64;
                    while start.elapsed() < MIN_TIME {
                        let name = uuid::Uuid::new_v4().simple().to_string();
                        let partial = tmp.join(format!("{name}.partial"));
                        let mut f = std::fs::File::create_new(&partial)?;
                        f.write_all(body)?;
                        f.sync_all()?;
                        drop(f);
                        let shard = root.join(&name[..2]);
                        std::fs::rename(&partial, shard.join(&name))?;
                        std::fs::File::open(&shard)?.sync_all()?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().map_err(|_| anyhow::anyhow!("a writer panicked"))?)
            .sum::<anyhow::Result<u64>>()
    })?;
    Ok(counts as f64 / start.elapsed().as_secs_f64())
}

/// One TLS stream over loopback into a rustls server in this process that discards what it
/// reads: the transport's limit with no HTTP, crypto pipeline or storage. MB/s.
pub async fn tls_sink_mb_s(total: u64) -> anyhow::Result<f64> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).context("making a certificate")?;
    let cert_der = CertificateDer::from(cert.cert.der().to_vec());
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());

    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key_der)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let sink = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = acceptor.accept(tcp).await?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut seen = 0u64;
        loop {
            let n = tls.read(&mut buf).await?;
            if n == 0 {
                return anyhow::Ok(seen);
            }
            seen += n as u64;
        }
    });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der)?;
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut tls = connector.connect(ServerName::try_from("localhost")?, tcp).await?;
    let mut chunk = vec![0u8; 256 * 1024];
    rand::thread_rng().fill_bytes(&mut chunk);
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        tls.write_all(&chunk).await?;
        sent += chunk.len() as u64;
    }
    tls.shutdown().await?;
    let seen = sink.await.context("the TLS sink task failed")??;
    let elapsed = start.elapsed();
    anyhow::ensure!(seen == sent, "the TLS sink read {seen} bytes of {sent}");
    Ok(mb_per_s(seen, elapsed))
}
