//! The everyday pages over the router harness: home, sending files from a form (with and
//! without the page's script), the inbox and sent items with their filters and paging, a
//! transfer's page, and the forms that download, withdraw, remove and reply.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use pigeonpost::domain::Role;

use crate::support::app::TestApp;
use crate::support::router::web::WebSession;
use crate::support::router::{Harness, Reply, TestUser, SCHOOL_A, SCHOOL_B, TEAM};

const BOUNDARY: &str = "----pigeonpost-test-boundary-7d1f";
const CENSUS_XML: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Message><Header/></Message>\n";

/// A harness with the standard organisations, an office user at school A, one at school B and
/// an officer in the LA team.
async fn setup() -> (Harness, TestUser, TestUser, TestUser) {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let a = h.user(SCHOOL_A, "office.a", Role::SchoolUser).await;
    let b = h.user(SCHOOL_B, "office.b", Role::SchoolUser).await;
    let team = h.user(TEAM, "officer", Role::LaUser).await;
    (h, a, b, team)
}

/// A `multipart/form-data` body as a browser sends it: the fields in order, then the files.
fn multipart_body(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    for (filename, content) in files {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post_multipart(h: &Harness, path: &str, s: &WebSession, body: Vec<u8>, json: bool) -> Reply {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::HOST, "pigeonpost.test")
        .header(header::ORIGIN, "https://pigeonpost.test")
        .header("sec-fetch-site", "same-origin")
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
        .header(header::COOKIE, format!("{}={}", pigeonpost::web::session::COOKIE, s.cookie));
    if json {
        builder = builder.header(header::ACCEPT, "application/json");
    }
    h.send(builder.body(Body::from(body)).expect("valid request")).await
}

/// Sends files from the send page's form, token first as the page puts it.
async fn send_files(h: &Harness, s: &WebSession, channel: &str, to: &str, files: &[(&str, &[u8])]) -> Reply {
    let body = multipart_body(&[("csrf", &s.csrf), ("channel", channel), ("to", to), ("message", "")], files);
    post_multipart(h, "/send", s, body, false).await
}

/// The ids of a mailbox as the API lists it to `user`'s session.
async fn api_box(h: &Harness, user: &TestUser, mailbox: &str) -> Vec<serde_json::Value> {
    let session = h.login(user).await;
    let reply = h.get(&format!("/api/v1/transfers?box={mailbox}&limit=200"), &session.access).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["items"].as_array().cloned().unwrap_or_default()
}

fn names(items: &[serde_json::Value]) -> Vec<String> {
    items.iter().map(|t| t["filename"].as_str().unwrap_or_default().to_owned()).collect()
}

/// The transfer page links in a page's HTML, in order.
fn transfer_links(html: &str) -> Vec<String> {
    html.split("href=\"/transfers/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|id| !id.contains('/'))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn home_lists_the_channels_the_school_may_use_with_their_rules_in_words_and_what_is_new() {
    let (h, a, _, _) = setup().await;
    let team_key = h.api_key(TEAM, None).await;
    h.upload_ok(&team_key.token, SCHOOL_A, "budget-letter.txt").await;
    h.upload_ok(&team_key.token, SCHOOL_A, "training-dates.txt").await;
    let s = h.web_session(&a).await;
    let home = h.page("/", Some(&s)).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.text());
    let html = home.text();
    assert!(html.contains("<h1 class=\"govuk-heading-l\">Your channels</h1>"), "{html}");
    assert!(html.contains("School Census"), "{html}");
    assert!(html.contains("XML or ZIP, up to 500 MB, the file name must carry your DfE number 8252001"), "{html}");
    assert!(html.contains("School Census returns as exported by your MIS"), "the description from the catalogue");
    assert!(html.contains("2 new in your inbox"), "{html}");
    assert!(html.contains("href=\"/inbox?channel=general&#38;state=new\""), "{html}");
    assert!(!html.contains("DfE checking files"), "a channel the school neither sends nor receives on is left out");
}

#[tokio::test]
async fn two_files_sent_from_the_form_without_script_are_both_stored_and_each_is_named_on_the_result_page() {
    let (h, a, _, team) = setup().await;
    let s = h.web_session(&a).await;
    let form = h.page("/send?channel=general", Some(&s)).await;
    assert_eq!(form.status, StatusCode::OK);
    let form = form.text();
    let csrf_at = form.find("name=\"csrf\"").expect("a token field");
    let file_at = form.find("type=\"file\"").expect("a file field");
    assert!(csrf_at < file_at, "the token comes before the files, so it is checked before any is read");
    assert!(form.contains("<script type=\"module\" src=\"/assets/send.js\"></script>"), "{form}");
    assert!(!form.contains("style="), "no inline style");

    let reply = send_files(&h, &s, "general", TEAM, &[("minutes.txt", b"first file"), ("rota.txt", b"second")]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let html = reply.text();
    assert!(html.contains("minutes.txt") && html.contains("rota.txt"), "{html}");
    assert_eq!(html.matches(">Sent</strong>").count(), 2, "{html}");
    assert!(!html.contains("govuk-error-summary"), "{html}");
    let mut inbox = names(&api_box(&h, &team, "inbox").await);
    inbox.sort();
    assert_eq!(inbox, ["minutes.txt", "rota.txt"]);
}

#[tokio::test]
async fn a_wrongly_named_census_file_is_refused_with_the_services_message_and_the_next_file_is_still_stored() {
    let (h, a, _, _) = setup().await;
    let s = h.web_session(&a).await;
    let reply =
        send_files(&h, &s, "census", "", &[("8252002_SC3.xml", CENSUS_XML), ("8252001_SC3.xml", CENSUS_XML)]).await;
    assert_eq!(reply.status, StatusCode::OK, "one file was stored: {}", reply.text());
    let html = reply.text();
    assert!(html.contains("govuk-error-summary"), "{html}");
    assert!(html.contains("1 file was not sent"), "{html}");
    assert!(
        html.contains("The file name carries 825/2002 but this is 825/2001&#x27;s return")
            || html.contains("The file name carries 825/2002 but this is 825/2001&#39;s return"),
        "the service's own refusal: {html}"
    );
    assert!(html.contains("href=\"#file-1\""), "the summary links to the refused file");
    let sent = names(&api_box(&h, &a, "sent").await);
    assert_eq!(sent, ["8252001_SC3.xml"], "only the rightly named return was stored");

    // Alone, the refused file stores nothing, and the page answers with the service's status.
    let reply = send_files(&h, &s, "census", "", &[("8252002_SC3.xml", CENSUS_XML)]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(names(&api_box(&h, &a, "sent").await), ["8252001_SC3.xml"]);
}

#[tokio::test]
async fn with_the_script_each_file_is_answered_as_json_with_its_own_result() {
    let (h, a, _, _) = setup().await;
    let s = h.web_session(&a).await;
    let body = multipart_body(&[("csrf", &s.csrf), ("channel", "census")], &[("8252001_SC3.xml", CENSUS_XML)]);
    let ok = post_multipart(&h, "/send", &s, body, true).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text());
    assert_eq!(ok.json["results"][0]["stored"], true, "{}", ok.json);
    assert!(ok.json["results"][0]["href"].as_str().is_some_and(|h| h.starts_with("/transfers/")));
    let body = multipart_body(&[("csrf", &s.csrf), ("channel", "census")], &[("8252002_SC3.xml", CENSUS_XML)]);
    let refused = post_multipart(&h, "/send", &s, body, true).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.json["results"][0]["stored"], false);
    assert!(refused.json["results"][0]["error"].as_str().is_some_and(|e| e.contains("825/2002")), "{}", refused.json);
}

#[tokio::test]
async fn a_send_without_the_form_token_or_with_another_sessions_stores_nothing() {
    let (h, a, b, team) = setup().await;
    let s = h.web_session(&a).await;
    let other = h.web_session(&b).await;
    let files: &[(&str, &[u8])] = &[("minutes.txt", b"content")];
    let without = multipart_body(&[("channel", "general"), ("to", TEAM)], files);
    let reply = post_multipart(&h, "/send", &s, without, false).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let wrong = multipart_body(&[("csrf", &other.csrf), ("channel", "general"), ("to", TEAM)], files);
    let reply = post_multipart(&h, "/send", &s, wrong, false).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let late = multipart_body(&[("channel", "general"), ("to", TEAM), ("csrf", &s.csrf)], files);
    let reply = post_multipart(&h, "/send", &s, late, false).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "a token after other fields is not the form's first field");
    assert!(api_box(&h, &team, "inbox").await.is_empty());
    assert!(api_box(&h, &a, "sent").await.is_empty());
}

#[tokio::test]
async fn the_inbox_lists_filters_and_pages_through_more_than_one_page() {
    let (h, a, _, _) = setup().await;
    let team_key = h.api_key(TEAM, None).await;
    let mut ids = Vec::new();
    for n in 0..27 {
        ids.push(h.upload_ok(&team_key.token, SCHOOL_A, &format!("letter-{n:02}.txt")).await);
        h.advance_secs(60);
    }
    let s = h.web_session(&a).await;
    let first = h.page("/inbox", Some(&s)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let html = first.text();
    let first_ids = transfer_links(&html);
    assert_eq!(first_ids.len(), 25, "a page of 25 rows");
    assert_eq!(first_ids[0], ids[26], "newest first");
    assert!(html.contains("School Management Support Team (smst)"), "who sent it");
    assert!(html.contains("2 Mar 2026, "), "when, in UK time");
    assert!(html.contains(">New</strong>"), "{html}");
    assert!(!html.contains("rel=\"prev\""), "no previous page on the first");
    let next = html.split("rel=\"next\"").next().and_then(|b| b.rsplit("href=\"").next()).expect("a next link");
    let next = next.split('"').next().unwrap_or_default().replace("&amp;", "&");
    let second = h.page(&next, Some(&s)).await;
    let html2 = second.text();
    let second_ids = transfer_links(&html2);
    assert_eq!(second_ids, [ids[1].clone(), ids[0].clone()], "the rest, with none repeated");
    assert!(!html2.contains("rel=\"next\""));
    assert!(html2.contains("rel=\"prev\""), "{html2}");
    let prev = html2.split("rel=\"prev\"").next().and_then(|b| b.rsplit("href=\"").next()).expect("a previous link");
    let prev = prev.split('"').next().unwrap_or_default().replace("&amp;", "&");
    assert_eq!(transfer_links(&h.page(&prev, Some(&s)).await.text()), first_ids, "previous goes back to page one");

    // Downloading one makes it no longer new.
    let download = h.page(&format!("/transfers/{}/download", ids[3]), Some(&s)).await;
    assert_eq!(download.status, StatusCode::OK);
    let downloaded = transfer_links(&h.page("/inbox?state=downloaded", Some(&s)).await.text());
    assert_eq!(downloaded, [ids[3].clone()]);
    let new = transfer_links(&h.page("/inbox?state=new", Some(&s)).await.text());
    assert!(!new.contains(&ids[3]) && new.len() == 25, "{new:?}");
    let from_team = transfer_links(&h.page("/inbox?from=smst&channel=general", Some(&s)).await.text());
    assert_eq!(from_team.len(), 25);
    let from_b = h.page("/inbox?from=825%2F2002", Some(&s)).await.text();
    assert!(transfer_links(&from_b).is_empty() && from_b.contains("Nothing matches these filters"), "{from_b}");
    let later = h.page("/inbox?since=2030-01-01", Some(&s)).await.text();
    assert!(transfer_links(&later).is_empty());
    let unknown = h.page("/inbox?channel=no-such-channel", Some(&s)).await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert!(unknown.text().contains("govuk-error-summary"), "a filter naming nothing is said so");
}

#[tokio::test]
async fn a_second_school_never_sees_the_first_schools_transfers() {
    let (h, a, b, _) = setup().await;
    let s = h.web_session(&a).await;
    let reply = send_files(&h, &s, "general", TEAM, &[("secret-return.txt", b"pupil data")]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let team_key = h.api_key(TEAM, None).await;
    let to_a = h.upload_ok(&team_key.token, SCHOOL_A, "for-a-only.txt").await;
    let sent_id = transfer_links(&h.page("/sent", Some(&s)).await.text()).remove(0);

    let other = h.web_session(&b).await;
    for path in ["/inbox", "/sent", "/"] {
        let html = h.page(path, Some(&other)).await.text();
        assert!(!html.contains("secret-return.txt") && !html.contains("for-a-only.txt"), "{path}: {html}");
    }
    for id in [&sent_id, &to_a] {
        for path in [format!("/transfers/{id}"), format!("/transfers/{id}/download")] {
            let reply = h.page(&path, Some(&other)).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
            assert!(!reply.text().contains(".txt"), "{path}");
        }
        let removed = h.submit(&format!("/transfers/{id}/remove"), Some(&other), &[]).await;
        assert_eq!(removed.status, StatusCode::NOT_FOUND);
        let withdrawn = h.submit(&format!("/transfers/{id}/withdraw"), Some(&other), &[]).await;
        assert_eq!(withdrawn.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(h.page(&format!("/transfers/{to_a}/download"), Some(&s)).await.status, StatusCode::OK, "still there");
}

#[tokio::test]
async fn a_download_streams_the_bytes_under_the_original_name() {
    let (h, a, _, _) = setup().await;
    let team_key = h.api_key(TEAM, None).await;
    let content = b"the allocation list, with its pupils";
    let reply = h.upload(&team_key.token, SCHOOL_A, "Allocations%20%C3%A9t%C3%A9.txt", content).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let id = reply.json["id"].as_str().expect("id").to_owned();
    let s = h.web_session(&a).await;
    let download = h.page(&format!("/transfers/{id}/download"), Some(&s)).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(&download.body[..], content);
    let disposition = download.header("content-disposition").expect("Content-Disposition");
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(disposition.contains("filename*=UTF-8''Allocations%20%C3%A9t%C3%A9.txt"), "{disposition}");
    assert!(download.header("content-digest").is_some_and(|d| d.starts_with("sha-256=:")));
    let page = h.page(&format!("/transfers/{id}"), Some(&s)).await.text();
    assert!(page.contains("Allocations été.txt"), "{page}");
}

#[tokio::test]
async fn a_school_replies_with_a_message_and_the_thread_shows_it_and_a_sender_withdraws() {
    let (h, a, _, team) = setup().await;
    let team_key = h.api_key(TEAM, None).await;
    let question = h.upload_ok(&team_key.token, SCHOOL_A, "query-about-return.txt").await;
    let s = h.web_session(&a).await;
    let page = h.page(&format!("/transfers/{question}"), Some(&s)).await.text();
    assert!(page.contains(&format!("action=\"/transfers/{question}/reply\"")), "a reply form: {page}");
    assert!(page.contains(
        "<li class=\"govuk-breadcrumbs__list-item\"><a class=\"govuk-breadcrumbs__link\" href=\"/inbox\">Inbox</a>"
    ));

    let body = multipart_body(&[("csrf", &s.csrf), ("message", "Corrected, sending again tomorrow.")], &[("", b"")]);
    let replied = post_multipart(&h, &format!("/transfers/{question}/reply"), &s, body, false).await;
    assert_eq!(replied.status, StatusCode::SEE_OTHER, "{}", replied.text());
    assert_eq!(replied.header("location"), Some(format!("/transfers/{question}?done=replied").as_str()));
    let thread = h.page(&format!("/transfers/{question}?done=replied"), Some(&s)).await.text();
    assert!(thread.contains("Your reply was sent."), "{thread}");
    assert!(thread.contains("Corrected, sending again tomorrow."), "the reply in the thread: {thread}");
    let team_inbox = api_box(&h, &team, "inbox").await;
    assert_eq!(team_inbox.len(), 1);
    assert_eq!(team_inbox[0]["reply_to"], question.as_str());

    // A reply without its token does nothing.
    let body = multipart_body(&[("message", "forged")], &[]);
    let forged = post_multipart(&h, &format!("/transfers/{question}/reply"), &s, body, false).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(api_box(&h, &team, "inbox").await.len(), 1);

    // The school withdraws a file it sent; the team can no longer fetch it.
    send_files(&h, &s, "general", TEAM, &[("sent-by-mistake.txt", b"oops")]).await;
    let id = transfer_links(&h.page("/sent", Some(&s)).await.text()).remove(0);
    let no_token = h.submit(&format!("/transfers/{id}/withdraw"), Some(&s), &[("csrf", "00")]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let withdrawn = h.submit(&format!("/transfers/{id}/withdraw"), Some(&s), &[]).await;
    assert_eq!(withdrawn.status, StatusCode::SEE_OTHER);
    assert_eq!(withdrawn.header("location"), Some("/sent?done=withdrawn"));
    let team_session = h.login(&team).await;
    let gone = h.get(&format!("/api/v1/transfers/{id}/content"), &team_session.access).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "a withdrawn file is no longer there for its recipient");

    // And removes the question from its inbox.
    let removed = h.submit(&format!("/transfers/{question}/remove"), Some(&s), &[]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert!(!transfer_links(&h.page("/inbox", Some(&s)).await.text()).contains(&question));
}

#[tokio::test]
async fn file_names_and_messages_with_markup_overrides_or_control_characters_are_shown_harmless() {
    let (h, a, _, team) = setup().await;
    let s = h.web_session(&a).await;
    let hostile = "<script>alert(1)</script>\u{202e}gpj.exe";
    let reply =
        send_files(&h, &s, "general", TEAM, &[(hostile, b"x"), ("<img src=x onerror=alert(1)>.txt", b"y")]).await;
    let html = reply.text();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains('\u{202e}'), "the override is written out, not obeyed");
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;[U+202E]gpj.exe"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");

    let team_key = h.api_key(TEAM, None).await;
    let team_s = h.web_session(&team).await;
    let inbox = h.page("/inbox", Some(&team_s)).await.text();
    assert!(inbox.contains("&#60;img src=x onerror=alert(1)&#62;.txt"), "{inbox}");
    assert!(!inbox.contains("<img src=x"), "{inbox}");
    let stored = transfer_links(&inbox).remove(0);
    let page = h.page(&format!("/transfers/{stored}"), Some(&team_s)).await.text();
    assert!(!page.contains("<img src=x") && page.contains("&#60;img src=x"), "{page}");
    let body =
        serde_json::json!({"channel": "general", "to": SCHOOL_A, "message": "<script>alert(2)</script> see you"});
    let message = h.post("/api/v1/messages", &team_key.token, body).await;
    assert_eq!(message.status, StatusCode::CREATED, "{}", message.json);
    let id = message.json["id"].as_str().expect("id");
    let page = h.page(&format!("/transfers/{id}"), Some(&s)).await.text();
    assert!(!page.contains("<script>alert(2)") && page.contains("&#60;script&#62;alert(2)"), "{page}");
}

#[tokio::test]
async fn sent_items_are_filtered_by_recipient_on_the_page_and_through_the_api() {
    let (h, _, _, team) = setup().await;
    let team_key = h.api_key(TEAM, None).await;
    let to_a = h.upload_ok(&team_key.token, SCHOOL_A, "letter-for-a.txt").await;
    let to_b = h.upload_ok(&team_key.token, SCHOOL_B, "letter-for-b.txt").await;
    let s = h.web_session(&team).await;

    let all = h.page("/sent", Some(&s)).await.text();
    assert_eq!(transfer_links(&all), [to_b.clone(), to_a.clone()], "{all}");
    assert!(all.contains("id=\"to\" name=\"to\""), "the sent page asks for a recipient: {all}");
    assert!(!all.contains("name=\"from\""), "and not for a sender");
    let inbox = h.page("/inbox", Some(&s)).await.text();
    assert!(inbox.contains("name=\"from\"") && !inbox.contains("name=\"to\""), "{inbox}");

    for to in ["825%2F2002", "8252002"] {
        let only_b = h.page(&format!("/sent?to={to}"), Some(&s)).await.text();
        assert_eq!(transfer_links(&only_b), [to_b.as_str()], "{to}: {only_b}");
        assert!(only_b.contains("value=\"825/2002\"") || only_b.contains("value=\"8252002\""), "the filter is kept");
    }
    let only_a = transfer_links(&h.page("/sent?to=825%2F2001&channel=general", Some(&s)).await.text());
    assert_eq!(only_a, [to_a.as_str()]);
    let nobody = h.page("/sent?to=825%2F2999", Some(&s)).await;
    assert_eq!(nobody.status, StatusCode::OK);
    assert!(nobody.text().contains("govuk-error-summary"), "a recipient that names nothing is said so");
    assert!(transfer_links(&nobody.text()).is_empty());
    let garbled = h.page("/sent?to=%3Cnot%20a%20number%3E", Some(&s)).await.text();
    assert!(garbled.contains("govuk-error-summary") && garbled.contains("Enter a DfE number"), "{garbled}");

    // The API's listing takes the same filter, for sent items only.
    let session = h.login(&team).await;
    let listed = h.get("/api/v1/transfers?box=sent&to=825/2002", &session.access).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.json);
    let ids: Vec<&str> =
        listed.json["items"].as_array().expect("items").iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(ids, [to_b.as_str()]);
    let inbox = h.get("/api/v1/transfers?box=inbox&to=825/2002", &session.access).await;
    assert_eq!(inbox.status, StatusCode::BAD_REQUEST, "{}", inbox.json);
    assert_eq!(inbox.error(), "invalid_filter");
}

/// The transfer ids of a page's thread, in order, and the one marked as this page's.
fn thread_steps(html: &str) -> (Vec<String>, Option<usize>) {
    let thread = html.split("class=\"govuk-list app-thread\"").nth(1).and_then(|t| t.split("</ol>").next());
    let Some(thread) = thread else { return (Vec::new(), None) };
    let mut ids = Vec::new();
    let mut current = None;
    for (i, item) in thread.split("<li class=\"app-thread__item").skip(1).enumerate() {
        if item.starts_with(" app-thread__item--current") {
            current = Some(i);
            ids.push(String::new());
        } else {
            ids.extend(transfer_links(item).into_iter().take(1));
        }
    }
    (ids, current)
}

#[tokio::test]
async fn a_transfer_page_shows_its_whole_thread_oldest_first_from_any_message_in_it() {
    let (h, a, b, _) = setup().await;
    let team_key = h.api_key(TEAM, None).await;
    let question = h.upload_ok(&team_key.token, SCHOOL_A, "query-about-return.txt").await;
    h.advance_secs(60);
    let s = h.web_session(&a).await;
    let body = multipart_body(&[("csrf", &s.csrf), ("message", "Which return do you mean?")], &[("", b"")]);
    let replied = post_multipart(&h, &format!("/transfers/{question}/reply"), &s, body, false).await;
    assert_eq!(replied.status, StatusCode::SEE_OTHER, "{}", replied.text());
    let answer = api_box(&h, &a, "sent").await[0]["id"].as_str().expect("the school's answer").to_owned();
    h.advance_secs(60);
    let body = multipart_body(&[("csrf", &s.csrf), ("message", "And the spring one.")], &[("", b"")]);
    let replied = post_multipart(&h, &format!("/transfers/{question}/reply"), &s, body, false).await;
    assert_eq!(replied.status, StatusCode::SEE_OTHER, "{}", replied.text());
    let beside = api_box(&h, &a, "sent").await[0]["id"].as_str().expect("the second answer").to_owned();

    // From any message in it, the whole thread, oldest first, this one marked and not linked.
    let everything = [question.clone(), answer.clone(), beside.clone()];
    for (n, id) in everything.iter().enumerate() {
        let page = h.page(&format!("/transfers/{id}"), Some(&s)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        let html = page.text();
        let (steps, current) = thread_steps(&html);
        assert_eq!(current, Some(n), "{id} is marked as this one: {html}");
        let mut expected = everything.to_vec();
        expected[n] = String::new();
        assert_eq!(steps, expected, "the thread from {id}");
    }
    let html = h.page(&format!("/transfers/{answer}"), Some(&s)).await.text();
    for text in ["Which return do you mean?", "And the spring one."] {
        assert!(html.contains(text), "{text} in the thread: {html}");
    }

    // Another school sees none of it, from any message.
    let other = h.web_session(&b).await;
    assert_eq!(h.page(&format!("/transfers/{answer}"), Some(&other)).await.status, StatusCode::NOT_FOUND);
}
