//! The HTTPS client: reqwest over rustls, trusting only the server's development certificate,
//! HTTP/1.1 with keep-alive (the pool reuses connections), as an automated job would connect.

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::{stream, StreamExt};
use rand::RngCore;
use reqwest::{Client, Method, RequestBuilder};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Bodies are built from this block, repeated: generated on the fly, never held whole.
pub const BLOCK: usize = 1024 * 1024;

#[derive(Clone)]
pub struct Api {
    pub client: Client,
    pub base: String,
}

impl Api {
    pub fn new(base: String, cert_pem: &[u8]) -> anyhow::Result<Api> {
        let cert = reqwest::Certificate::from_pem(cert_pem).context("parsing the dev certificate")?;
        let client = Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(cert)
            .http1_only()
            .no_proxy()
            .pool_max_idle_per_host(128)
            .connect_timeout(Duration::from_secs(10))
            // No request of the benchmark should take this long; a hung server fails the run.
            .timeout(Duration::from_secs(600))
            .build()
            .context("building the HTTPS client")?;
        Ok(Api { client, base })
    }

    pub fn request(&self, method: Method, key: &str, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{}", self.base, path)).bearer_auth(key)
    }

    /// Uploads `body` and returns the transfer's JSON; any status but 201 fails the run.
    pub async fn upload(&self, key: &str, query: &[(&str, &str)], body: Body) -> anyhow::Result<Value> {
        let len = body.len;
        let resp = self
            .request(Method::POST, key, "/api/v1/transfers")
            .query(query)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body.into_reqwest())
            .send()
            .await
            .context("upload request failed")?;
        json_of(resp, reqwest::StatusCode::CREATED).await
    }

    /// Streams a transfer's content, hashing it as it comes; returns (bytes, SHA-256 hex).
    pub async fn download(&self, key: &str, id: &str) -> anyhow::Result<(u64, String)> {
        let resp = self
            .request(Method::GET, key, &format!("/api/v1/transfers/{id}/content"))
            .send()
            .await
            .context("download request failed")?;
        if !resp.status().is_success() {
            bail!("download answered {}: {}", resp.status(), resp.text().await.unwrap_or_default());
        }
        let mut hasher = Sha256::new();
        let mut n = 0u64;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.context("download stream broke")?;
            n += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok((n, hex::encode(hasher.finalize())))
    }
}

pub async fn json_of(resp: reqwest::Response, want: reqwest::StatusCode) -> anyhow::Result<Value> {
    let status = resp.status();
    let text = resp.text().await.context("reading the response")?;
    if status != want {
        bail!("expected {want}, got {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("response is not JSON: {text}"))
}

/// A body of `len` bytes: one random block repeated, sent as shared `Bytes` (no copies).
pub struct Body {
    pub len: u64,
    block: Bytes,
}

impl Body {
    pub fn new(len: u64, block: Bytes) -> Body {
        Body { len, block }
    }

    pub fn random_block() -> Bytes {
        let mut b = vec![0u8; BLOCK];
        rand::thread_rng().fill_bytes(&mut b);
        Bytes::from(b)
    }

    /// The SHA-256 of the body, computed the same way it is sent.
    pub fn sha256_hex(&self) -> String {
        let mut hasher = Sha256::new();
        for chunk in self.chunks() {
            hasher.update(&chunk);
        }
        hex::encode(hasher.finalize())
    }

    fn chunks(&self) -> impl Iterator<Item = Bytes> + Send + 'static {
        let block = self.block.clone();
        let full = self.len / block.len() as u64;
        let rest = (self.len % block.len() as u64) as usize;
        let tail = (rest > 0).then(|| block.slice(..rest));
        (0..full).map(move |_| block.clone()).chain(tail)
    }

    /// The body as one file part of a multipart form: `head` before it and `tail` after, still
    /// generated as it is sent. Returns the whole form's length and the form.
    pub fn framed(self, head: Bytes, tail: Bytes) -> (u64, reqwest::Body) {
        let len = head.len() as u64 + self.len + tail.len() as u64;
        let chunks = std::iter::once(head).chain(self.chunks()).chain(std::iter::once(tail));
        (len, reqwest::Body::wrap_stream(stream::iter(chunks.map(Ok::<Bytes, std::io::Error>))))
    }

    fn into_reqwest(self) -> reqwest::Body {
        let chunks = self.chunks().map(Ok::<Bytes, std::io::Error>);
        reqwest::Body::wrap_stream(stream::iter(chunks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_yields_exactly_its_length_in_block_sized_chunks() {
        let body = Body::new(2 * BLOCK as u64 + 10, Bytes::from(vec![1u8; BLOCK]));
        let lens: Vec<usize> = body.chunks().map(|c| c.len()).collect();
        assert_eq!(lens, vec![BLOCK, BLOCK, 10]);
        let small = Body::new(5, Bytes::from(vec![1u8; BLOCK]));
        assert_eq!(small.chunks().map(|c| c.len()).sum::<usize>(), 5);
    }
}
