//! The browser's inbox page over the same seeded mailbox as the API listing: what a school
//! office sees when it opens Pigeonpost, rendered on the server from the same service.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::client::{json_of, Api};
use crate::report::{Report, Target};
use crate::stats::summarise;

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
    use super::next_link;

    #[test]
    fn the_next_link_is_found_and_unescaped() {
        let html = r#"<a class="govuk-link" href="/inbox?channel=general&amp;after=v1%3A42" rel="next">Next</a>"#;
        assert_eq!(next_link(html).as_deref(), Some("/inbox?channel=general&after=v1%3A42"));
        let askama = r#"<a href="/inbox?cursor=190051&#38;trail=190101" rel="next">Next</a>"#;
        assert_eq!(next_link(askama).as_deref(), Some("/inbox?cursor=190051&trail=190101"));
        assert_eq!(next_link("<p>no more</p>"), None);
    }
}
