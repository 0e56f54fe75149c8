//! Deterministic content of any length for uploads, and the controls a test streams it with:
//! a pace, progress, a running hash and a gate that holds the stream until the test opens it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use sha2::{Digest, Sha256};

const BLOCK: usize = 64 * 1024;
const BASE_LEN: usize = 1024 * 1024;
const STRIDE: u64 = 4099 * 16;

/// Deterministic pseudo-random content of any length, cheap to generate at any offset.
///
/// Byte `p` belongs to 64 KiB block `c = p / 65536`; the first 8 bytes of every block hold `c`
/// (so reordered or repeated blocks are detected), the rest is a window into a 1 MiB
/// splitmix64 base buffer whose offset depends on `c`.
#[derive(Clone)]
pub struct Pattern {
    base: Arc<Vec<u8>>,
    pub len: u64,
}

impl Pattern {
    pub fn new(seed: u64, len: u64) -> Pattern {
        let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut base = Vec::with_capacity(BASE_LEN + BLOCK);
        while base.len() < BASE_LEN + BLOCK {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            base.extend_from_slice(&z.to_le_bytes());
        }
        Pattern { base: Arc::new(base), len }
    }

    /// Fill `buf` with the bytes starting at absolute offset `offset`.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        let mut pos = offset;
        let mut i = 0;
        while i < buf.len() {
            let block = pos / BLOCK as u64;
            let within = (pos % BLOCK as u64) as usize;
            let n = (BLOCK - within).min(buf.len() - i);
            let start = ((block.wrapping_mul(STRIDE)) % BASE_LEN as u64) as usize;
            buf[i..i + n].copy_from_slice(&self.base[start + within..start + within + n]);
            let tag = block.to_le_bytes();
            for j in within..8.min(within + n) {
                buf[i + j - within] = tag[j];
            }
            i += n;
            pos += n as u64;
        }
    }

    pub fn slice(&self, start: u64, end_exclusive: u64) -> Vec<u8> {
        assert!(start <= end_exclusive && end_exclusive <= self.len);
        let mut v = vec![0u8; (end_exclusive - start) as usize];
        self.fill(start, &mut v);
        v
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.slice(0, self.len)
    }

    pub fn sha256_hex(&self) -> String {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; BLOCK * 16];
        let mut pos = 0;
        while pos < self.len {
            let n = ((self.len - pos) as usize).min(buf.len());
            self.fill(pos, &mut buf[..n]);
            hasher.update(&buf[..n]);
            pos += n as u64;
        }
        hex::encode(hasher.finalize())
    }

    /// A body stream of `chunk`-sized pieces (no delays).
    pub fn stream(&self, chunk: usize) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        self.stream_with(chunk, StreamControl::default())
    }

    /// A body stream with progress reporting, hashing, optional per-chunk delay and an
    /// optional gate: once `gate_at` bytes were produced, the stream waits until `gate` is
    /// notified (use it to stall an upload forever, or until the test says go).
    pub fn stream_with(
        &self,
        chunk: usize,
        ctl: StreamControl,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        let pat = self.clone();
        futures_util::stream::unfold((0u64, pat, ctl), move |(pos, pat, ctl)| async move {
            if pos >= pat.len {
                return None;
            }
            if let (Some(at), Some(gate)) = (ctl.gate_at, ctl.gate.as_ref()) {
                if pos >= at && !gate.is_open() {
                    gate.wait().await;
                }
            }
            if let Some(d) = ctl.delay {
                tokio::time::sleep(d).await;
            }
            let mut n = ((pat.len - pos) as usize).min(chunk);
            if let Some(at) = ctl.gate_at {
                if pos < at && pos + n as u64 > at {
                    n = (at - pos) as usize;
                }
            }
            let mut buf = vec![0u8; n];
            pat.fill(pos, &mut buf);
            if let Some(h) = &ctl.hasher {
                h.lock().unwrap().update(&buf);
            }
            let new_pos = pos + n as u64;
            if let Some(p) = &ctl.progress {
                p.store(new_pos, Ordering::SeqCst);
            }
            Some((Ok(Bytes::from(buf)), (new_pos, pat, ctl)))
        })
    }
}

/// A one-shot latch: `open()` releases every current and future `wait()`.
#[derive(Clone, Default)]
pub struct Gate {
    inner: Arc<(std::sync::atomic::AtomicBool, tokio::sync::Notify)>,
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }
    pub fn open(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }
    pub fn is_open(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
    }
    pub async fn wait(&self) {
        loop {
            let notified = self.inner.1.notified();
            if self.is_open() {
                return;
            }
            notified.await;
        }
    }
}

#[derive(Clone, Default)]
pub struct StreamControl {
    pub delay: Option<Duration>,
    pub progress: Option<Arc<AtomicU64>>,
    pub hasher: Option<Arc<std::sync::Mutex<Sha256>>>,
    pub gate_at: Option<u64>,
    pub gate: Option<Gate>,
}
