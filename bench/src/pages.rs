//! The browser's inbox page over the same seeded mailbox as the API listing: what a school
//! office sees when it opens Pigeonpost, rendered on the server from the same service.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::client::{json_of, Api, Body};
use crate::report::{Report, Target};
use crate::server::Server;
use crate::stats::{mb_per_s, summarise};
use crate::workloads::{mib, reset_peak, GIB, UPLOAD_RSS_CEILING_MIB};

/// The school office's account, made with the rest of the installation.
pub const OFFICE_USER: &str = "bench-office";
pub const OFFICE_PASSWORD: &str = "a long benchmark passphrase, not a real one";

/// Signs the office in through the API and returns its session's secret: the value a browser
/// holds in the session cookie.
pub async fn office_cookie(api: &Api) -> anyhow::Result<String> {
    let resp = api
        .client
        .request(Method::POST, format!("{}/api/v1/session", api.base))
        .json(&json!({ "username": OFFICE_USER, "password": OFFICE_PASSWORD }))
        .send()
        .await
        .context("signing the office in")?;
    let v = json_of(resp, StatusCode::CREATED).await?;
    let pending = v["pending"].as_array().map_or(0, Vec::len);
    ensure!(pending == 0, "the office owes steps before it may see its inbox: {}", v["pending"]);
    Ok(v["refresh_token"].as_str().context("no session in the sign-in answer")?.to_owned())
}

/// The inbox page, first and deep, `repeats` times each.
pub async fn inbox(api: &Api, cookie: &str, repeats: usize, report: &mut Report) -> anyhow::Result<()> {
    let get = |path: String| {
        let req =
            api.client.get(format!("{}{}", api.base, path)).header("cookie", format!("__Host-pigeonpost={cookie}"));
        async move {
            let t = Instant::now();
            let resp = req.send().await.context("inbox page request failed")?;
            ensure!(resp.status() == StatusCode::OK, "the inbox page answered {}", resp.status());
            let html = resp.text().await.context("reading the inbox page")?;
            anyhow::Ok((t.elapsed(), html))
        }
    };
    let mut first = Vec::new();
    let mut html = String::new();
    for _ in 0..repeats {
        let (t, page) = get("/inbox".into()).await?;
        first.push(t);
        html = page;
    }
    ensure!(html.contains("<table"), "the inbox page listed no transfers");
    // Follow the next-page links some way in, then time the page reached.
    let mut path = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut pages = 1;
    while pages < 200 && Instant::now() < deadline {
        let Some(next) = next_link(&html) else { break };
        let (_, page) = get(next.clone()).await?;
        html = page;
        path = Some(next);
        pages += 1;
    }
    let path = path.context("the inbox page had no link to a next page")?;
    let mut deep = Vec::new();
    for _ in 0..repeats {
        deep.push(get(path.clone()).await?.0);
    }
    let (f, d) = (summarise(&first), summarise(&deep));
    let w = "inbox page (browser)";
    report.note(format!("inbox page: followed {pages} pages of next links; the deep page is {path}"));
    report.add(w, "first page p50", f.p50_ms, "ms");
    report.add(w, "first page p99", f.p99_ms, "ms").target(Target::Below(50.0));
    report.add(w, &format!("page {pages} p50"), d.p50_ms, "ms");
    report.add(w, &format!("page {pages} p99"), d.p99_ms, "ms").target(Target::Below(50.0));
    Ok(())
}

/// One file of `size` bytes sent through the browser's send form (`POST /send`, multipart,
/// with the session cookie and the form's token), to the team on `general`, with the server's
/// peak memory: the same ceiling as the API's upload of the same size.
pub async fn send_form_upload(
    api: &Api,
    server: &Server,
    cookie: &str,
    size: u64,
    report: &mut Report,
) -> anyhow::Result<()> {
    let label = format!("{} GiB", size / GIB);
    let session = format!("__Host-pigeonpost={cookie}");
    let page = api
        .client
        .get(format!("{}/send?channel=general", api.base))
        .header("cookie", &session)
        .send()
        .await
        .context("send page request failed")?;
    ensure!(page.status() == StatusCode::OK, "the send page answered {}", page.status());
    let html = page.text().await.context("reading the send page")?;
    let token = form_token(&html).context("the send page has no form token")?;
    let boundary = "pigeonpost-bench-form-7f3a";
    let text = |name: &str, value: &str| {
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let head = format!(
        "{}{}{}--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"form-{}gib.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n",
        text("csrf", &token),
        text("channel", "general"),
        text("to", "smst"),
        size / GIB
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let (len, body) = Body::new(size, Body::random_block()).framed(head.into(), tail.into());
    reset_peak(server, report, "send form upload");
    let start = Instant::now();
    let resp = api
        .client
        .post(format!("{}/send", api.base))
        .header("cookie", &session)
        .header("origin", &api.base)
        .header("sec-fetch-site", "same-origin")
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .header("content-length", len)
        .body(body)
        .send()
        .await
        .context("send form upload failed")?;
    let status = resp.status();
    let answer = resp.text().await.context("reading the send form's result page")?;
    let took = start.elapsed();
    let (hwm, _) = server.memory()?;
    ensure!(status == StatusCode::OK && answer.contains("/transfers/"), "the send form answered {status}: {answer}");
    report.add("large", &format!("upload {label} through the send form (browser)"), mb_per_s(size, took), "MB/s");
    report
        .add("large", &format!("server peak RSS, upload {label} through the send form"), mib(hwm), "MiB")
        .target(Target::Below(UPLOAD_RSS_CEILING_MIB));
    Ok(())
}

/// The value of the form's hidden `csrf` field.
fn form_token(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\"")?;
    let value = html[at..].split("value=\"").nth(1)?.split('"').next()?;
    Some(value.to_owned()).filter(|v| !v.is_empty())
}

/// The address of the link marked `rel="next"`, unescaped from the HTML.
fn next_link(html: &str) -> Option<String> {
    let at = html.find("rel=\"next\"")?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..at + html[at..].find('>')?];
    let href = tag.split("href=\"").nth(1)?.split('"').next()?;
    // Templates escape `&` as `&amp;` or, as askama does, `&#38;`.
    Some(href.replace("&amp;", "&").replace("&#38;", "&").replace("&#x3D;", "=").replace("&#61;", "="))
}

#[cfg(test)]
mod tests {
    use super::{form_token, next_link};

    #[test]
    fn the_form_token_is_read_from_its_hidden_field() {
        let html = r#"<form><input type="hidden" name="csrf" value="ab12cd"><input name="channel" value="general">"#;
        assert_eq!(form_token(html).as_deref(), Some("ab12cd"));
        assert_eq!(form_token(r#"<input type="hidden" name="csrf" value="">"#), None);
        assert_eq!(form_token("<p>signed out</p>"), None);
    }

    #[test]
    fn the_next_link_is_found_and_unescaped() {
        let html = r#"<a class="govuk-link" href="/inbox?channel=general&amp;after=v1%3A42" rel="next">Next</a>"#;
        assert_eq!(next_link(html).as_deref(), Some("/inbox?channel=general&after=v1%3A42"));
        let askama = r#"<a href="/inbox?cursor=190051&#38;trail=190101" rel="next">Next</a>"#;
        assert_eq!(next_link(askama).as_deref(), Some("/inbox?cursor=190051&trail=190101"));
        assert_eq!(next_link("<p>no more</p>"), None);
    }
}
