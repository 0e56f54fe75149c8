//! `GET /`: per channel the person can use, what is new for them, what they sent lately, and
//! the channel's rules in words.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::Method;
use axum::routing::get;

use super::links::with_query;
use super::rows::Row;
use super::rules;
use crate::domain::{ChannelSlug, Mailbox};
use crate::service::browse::receipts;
use crate::service::mailbox::{self, ListFilter, MAX_PAGE};
use crate::service::{channels, AppState};
use crate::store::meta::DownloadState;
use crate::web::chrome::{Chrome, Section};
use crate::web::error::PageError;
use crate::web::session::SignedIn;
use crate::web::Page;

/// How many of the latest sent items each channel shows.
const RECENT: u32 = 3;

pub fn pages() -> Vec<Page> {
    vec![Page::new(Method::GET, "/", get(home))]
}

struct ChannelCard {
    name: String,
    description: String,
    rules: String,
    can_send: bool,
    send_href: String,
    /// "3 new", "200 or more new"; empty when nothing is new.
    new_text: String,
    inbox_href: String,
    sent: Vec<Row>,
}

#[derive(Template, WebTemplate)]
#[template(path = "mail/home.html")]
struct HomePage {
    chrome: Chrome,
    cards: Vec<ChannelCard>,
}

async fn home(State(state): State<AppState>, who: SignedIn) -> Result<HomePage, PageError> {
    let mut cards = Vec::new();
    for offer in channels::offered(&state, &who.principal)? {
        let Some(slug) = ChannelSlug::parse(&offer.channel.slug) else { continue };
        let new_filter =
            ListFilter { channel: Some(slug.clone()), download_state: Some(DownloadState::New), ..Default::default() };
        let new = mailbox::list(&state, &who.principal, Mailbox::Inbox, new_filter, None, Some(MAX_PAGE)).await?;
        let sent_filter = ListFilter { channel: Some(slug), ..Default::default() };
        let sent = mailbox::list(&state, &who.principal, Mailbox::Sent, sent_filter, None, Some(RECENT)).await?;
        if offer.route.is_none() && new.items.is_empty() && sent.items.is_empty() {
            continue;
        }
        let records: Vec<_> = sent.items.iter().map(|e| &e.transfer).collect();
        let sent_receipts = receipts::for_transfers(&state, &who.principal, &records).await?;
        let sent = records.iter().zip(sent_receipts).map(|(t, r)| Row::new(&state, t, r)).collect();
        let new_text = match (new.items.len(), new.next_cursor) {
            (0, _) => String::new(),
            (n, Some(_)) => format!("{n} or more new"),
            (n, None) => format!("{n} new"),
        };
        let c = &offer.channel;
        cards.push(ChannelCard {
            rules: rules::in_words(c, offer.route.as_ref(), offer.max_size_bytes, &who.principal),
            can_send: offer.route.is_some(),
            send_href: with_query("/send", &[("channel", &c.slug)]),
            new_text,
            inbox_href: with_query("/inbox", &[("channel", &c.slug), ("state", "new")]),
            sent,
            name: c.name.clone(),
            description: c.description.clone(),
        });
    }
    Ok(HomePage { chrome: Chrome::signed_in(&state, &who, Section::Home), cards })
}
