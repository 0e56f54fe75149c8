//! What frames every signed-in page: the authority's and the service's names, who is signed
//! in, the navigation that person's organisation can use, and the form token for the
//! sign-out button.

use super::session::SignedIn;
use crate::domain::OrgKind;
use crate::service::AppState;

pub struct Chrome {
    pub authority: String,
    pub service: String,
    /// "Jo Bloggs, Oakfield Primary School"; empty on pages before sign-in.
    pub person: String,
    pub csrf: String,
    pub nav: Vec<NavItem>,
}

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// Where a page sits in the navigation, so its link is marked as the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Home,
    Send,
    Inbox,
    Sent,
    Collect,
    Collection,
    Batches,
    Quarantine,
    Fsm,
    Unclaimed,
    Account,
}

impl Chrome {
    pub fn signed_in(state: &AppState, who: &SignedIn, here: Section) -> Self {
        let web = &state.settings().web;
        let person = match who.principal.user() {
            Some(user) => format!("{}, {}", user.username, who.principal.org.name),
            None => who.principal.org.name.clone(),
        };
        let mut items = vec![
            (Section::Home, "/", "Home"),
            (Section::Send, "/send", "Send a file"),
            (Section::Inbox, "/inbox", "Inbox"),
            (Section::Sent, "/sent", "Sent"),
        ];
        // The teams' pages: the policy still decides on each page what a team may see there.
        if who.principal.org.kind == OrgKind::Team {
            items.extend([
                (Section::Collect, "/collect", "Collect"),
                (Section::Collection, "/collection", "Census returns"),
                (Section::Batches, "/batches", "Checking files"),
                (Section::Quarantine, "/quarantine", "Quarantine"),
                (Section::Fsm, "/fsm", "FSM requests"),
                (Section::Unclaimed, "/unclaimed", "Unclaimed"),
            ]);
        }
        Self {
            authority: web.authority_name.clone(),
            service: web.service_name.clone(),
            person,
            csrf: who.csrf.clone(),
            nav: items.into_iter().map(|(s, href, label)| NavItem { href, label, current: s == here }).collect(),
        }
    }

    /// The frame of the pages before sign-in: no one named, no navigation.
    pub fn anonymous(state: &AppState) -> Self {
        let web = &state.settings().web;
        Self {
            authority: web.authority_name.clone(),
            service: web.service_name.clone(),
            person: String::new(),
            csrf: String::new(),
            nav: Vec::new(),
        }
    }
}
