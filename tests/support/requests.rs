//! The test app's requests over HTTPS: uploads, downloads and mailbox listings.

use reqwest::header::AUTHORIZATION;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use super::app::TestApp;
use super::replies::expect_json;

impl TestApp {
    pub fn request(&self, method: Method, key: &str, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).header(AUTHORIZATION, format!("Bearer {key}"))
    }

    pub fn upload_request(&self, key: &str, to: &str, filename: &str) -> RequestBuilder {
        self.request(Method::POST, key, "/api/v1/transfers").query(&[
            ("channel", "general"),
            ("to", to),
            ("filename", filename),
        ])
    }

    /// Like `upload_request` but through a given client (e.g. an HTTP/1.1-only one).
    pub fn upload_request_via(&self, client: &Client, key: &str, to: &str, filename: &str) -> RequestBuilder {
        client.post(self.url("/api/v1/transfers")).header(AUTHORIZATION, format!("Bearer {key}")).query(&[
            ("channel", "general"),
            ("to", to),
            ("filename", filename),
        ])
    }

    pub async fn upload(&self, key: &str, to: &str, filename: &str, body: impl Into<reqwest::Body>) -> Response {
        self.upload_request(key, to, filename)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload {filename:?} failed at transport level: {e:?}"))
    }

    /// Upload and insist on 201; returns the transfer JSON.
    pub async fn upload_ok(&self, key: &str, to: &str, filename: &str, body: Vec<u8>) -> Value {
        let resp = self.upload(key, to, filename, body).await;
        expect_json(resp, StatusCode::CREATED).await
    }

    pub async fn download(&self, key: &str, id: &str) -> Response {
        self.request(Method::GET, key, &format!("/api/v1/transfers/{id}/content"))
            .send()
            .await
            .expect("download request")
    }

    pub async fn download_range(&self, key: &str, id: &str, range: &str) -> Response {
        self.request(Method::GET, key, &format!("/api/v1/transfers/{id}/content"))
            .header(reqwest::header::RANGE, range)
            .send()
            .await
            .expect("ranged download request")
    }

    /// Download fully into memory, insisting on 200.
    pub async fn download_bytes(&self, key: &str, id: &str) -> Vec<u8> {
        let resp = self.download(key, id).await;
        let status = resp.status();
        let body = resp.bytes().await.expect("download body");
        assert_eq!(status, StatusCode::OK, "download {id}: {}", String::from_utf8_lossy(&body));
        body.to_vec()
    }

    pub async fn metadata(&self, key: &str, id: &str) -> Response {
        self.request(Method::GET, key, &format!("/api/v1/transfers/{id}")).send().await.expect("metadata request")
    }

    pub async fn delete(&self, key: &str, id: &str) -> Response {
        self.request(Method::DELETE, key, &format!("/api/v1/transfers/{id}")).send().await.expect("delete request")
    }

    pub async fn list_page(&self, key: &str, mailbox: &str, limit: Option<u32>, cursor: Option<&str>) -> Value {
        let mut q: Vec<(&str, String)> = vec![("box", mailbox.to_string())];
        if let Some(l) = limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(c) = cursor {
            q.push(("cursor", c.to_string()));
        }
        let resp = self.request(Method::GET, key, "/api/v1/transfers").query(&q).send().await.expect("list request");
        expect_json(resp, StatusCode::OK).await
    }

    /// Follow cursors until the end; returns every item in order.
    pub async fn list_all(&self, key: &str, mailbox: &str, limit: Option<u32>) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let page = self.list_page(key, mailbox, limit, cursor.as_deref()).await;
            let page_items = page["items"].as_array().expect("items array").clone();
            if let Some(l) = limit {
                assert!(page_items.len() <= l as usize, "page larger than limit {l}");
            }
            items.extend(page_items);
            match &page["next_cursor"] {
                Value::Null => return items,
                Value::String(c) => cursor = Some(c.clone()),
                other => panic!("next_cursor must be a string or null, got {other}"),
            }
        }
        panic!("pagination did not terminate after 1000 pages");
    }

    pub async fn list_ids(&self, key: &str, mailbox: &str) -> Vec<String> {
        self.list_all(key, mailbox, Some(200)).await.iter().map(|t| t["id"].as_str().expect("id").to_string()).collect()
    }
}
