//! What frames every page: the headers, the stylesheets and scripts, and what an unknown
//! address answers on either side of `/api/`.

use axum::http::StatusCode;

use crate::support::app::TestApp;

#[tokio::test]
async fn an_unknown_page_is_a_page_that_says_so_and_an_unknown_api_path_stays_json() {
    let h = TestApp::builder().router().await;
    let page = h.page("/no-such-page", None).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.header("content-type").is_some_and(|c| c.starts_with("text/html")), "{:?}", page.headers);
    assert!(page.text().contains("Page not found"), "{}", page.text());
    let api = h.page("/api/v1/no-such-thing", None).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED, "strangers still cannot explore the API's routes");
    assert_eq!(api.error(), "credentials_required");
}

#[tokio::test]
async fn pages_allow_only_their_own_scripts_and_styles_and_no_frames() {
    let h = TestApp::builder().router().await;
    let page = h.page("/no-such-page", None).await;
    let csp = page.header("content-security-policy").expect("a CSP on every page");
    assert!(csp.contains("script-src 'self'") && csp.contains("style-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(page.header("referrer-policy"), Some("same-origin"));
}

#[tokio::test]
async fn every_asset_is_served_with_its_type_and_revalidated_by_its_etag() {
    let h = TestApp::builder().router().await;
    for name in pigeonpost::web::assets::names() {
        let reply = h.page(&format!("/assets/{name}"), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}");
        let kind = reply.header("content-type").unwrap_or_default();
        let expected = if name.ends_with(".css") { "text/css" } else { "text/javascript" };
        assert!(kind.starts_with(expected), "{name}: {kind}");
        let etag = reply.header("etag").expect("an ETag").to_owned();
        let again = h
            .send(
                axum::http::Request::get(format!("/assets/{name}"))
                    .header("if-none-match", &etag)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{name}");
    }
    assert_eq!(h.page("/assets/../Cargo.toml", None).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(h.page("/assets/secret.key", None).await.status, StatusCode::NOT_FOUND);
}
