//! An LA of 300 open schools, imported from a GIAS export through the register service in one
//! transaction, and a census term's files written straight through the repository in one more:
//! the volume the collection report and the inbox filters are meant for, built in a second.
//!
//! The pattern, for school number `i` (825/2000+i, URN 100000+i):
//! - `i % 3 == 1`: two census files this term, on 20 January and 10 February 2026;
//! - `i % 3 == 2`: one census file this term, on 20 January 2026;
//! - `i % 6 == 0`: one census file last term (5 October 2025) and none since;
//! - `i % 6 == 3`: never a census file; school 3's one file this term was withdrawn.
//!
//! School 6 also sends a workforce census file this term, which the census does not count.
//! Beyond the 300: 825/2301 sent a census file this term and then closed, and 825/2302 is
//! proposed to open; neither is expected to send.

use pigeonpost::audit::{Actor, AuditEvent};
use pigeonpost::crypto::WrappedKey;
use pigeonpost::domain::{ChannelSlug, FileName, OrgKind, Organisation, Sha256Digest, TransferId};
use pigeonpost::service::register::import_gias;
use pigeonpost::store::meta::{NewDownload, NewTransfer};
use time::macros::datetime;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Harness;

pub const SCHOOLS: u32 = 300;
/// A name a spreadsheet would run as a formula, given to school 7.
pub const FORMULA_NAME: &str = "=HYPERLINK(\"http://evil.example\",\"Open\")";

pub const JAN_20: OffsetDateTime = datetime!(2026-01-20 10:00 UTC);
pub const FEB_10: OffsetDateTime = datetime!(2026-02-10 09:00 UTC);
pub const LAST_AUTUMN: OffsetDateTime = datetime!(2025-10-05 14:30 UTC);

/// The DfE number of school `i`, as 825/2001 is written.
pub fn dfe(i: u32) -> String {
    format!("825/{}", 2000 + i)
}

pub fn urn(i: u32) -> u32 {
    100_000 + i
}

pub fn name(i: u32) -> String {
    if i == 7 {
        FORMULA_NAME.to_owned()
    } else {
        format!("School {i} Primary")
    }
}

/// The census files this term of school `i` (1..=300), newest first.
pub fn census_this_term(i: u32) -> Vec<OffsetDateTime> {
    match i % 3 {
        1 => vec![FEB_10, JAN_20],
        2 => vec![JAN_20],
        _ => Vec::new(),
    }
}

/// What was written: the team the census goes to, and the transfers by school number.
pub struct Register {
    pub smst: Organisation,
    /// Every census file delivered to smst and still available, newest first: (school number,
    /// transfer, time). The closed school's file is among them: its school closed, not the file.
    pub census: Vec<(u32, TransferId, OffsetDateTime)>,
    /// School 6's workforce census file.
    pub workforce: TransferId,
}

fn csv_field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn establishments(rows: &[(u32, &str)]) -> Vec<u8> {
    let mut csv = String::from(
        "URN,LA (code),LA (name),EstablishmentNumber,EstablishmentName,TypeOfEstablishment (name),\
         EstablishmentTypeGroup (name),PhaseOfEducation (name),EstablishmentStatus (name),OpenDate,CloseDate\n",
    );
    for (i, status) in rows {
        csv.push_str(&format!(
            "{},825,Buckinghamshire,{},{},Community school,Local authority maintained schools,Primary,{},01-09-1990,\n",
            urn(*i),
            2000 + i,
            csv_field(&name(*i)),
            status
        ));
    }
    csv.into_bytes()
}

/// Imports the register and writes the census term; the clock is left where it was.
pub async fn census_term(h: &Harness) -> Register {
    let mut rows: Vec<(u32, &str)> = (1..=SCHOOLS + 1).map(|i| (i, "Open")).collect();
    rows.push((SCHOOLS + 2, "Proposed to open"));
    let repo = h.state.repo();
    import_gias(repo, h.now(), Actor::operator(), &establishments(&rows), None, Some(825), false)
        .await
        .expect("import the register");
    let smst = h.org(OrgKind::Team, "smst", "School Management Support Team").await;

    let mut census = Vec::new();
    let mut batch = Vec::new();
    let mut add = |school: &Organisation, channel: &str, at: OffsetDateTime, n: u32| {
        let t = transfer(school, &smst, channel, at, n);
        let id = t.id;
        batch.push((t, AuditEvent::new(at, Actor::operator(), "transfer.upload")));
        id
    };
    let mut schools = Vec::new();
    for i in 1..=SCHOOLS + 1 {
        schools.push(h.find_org(&dfe(i)).await);
    }
    let mut withdrawn = None;
    for i in 1..=SCHOOLS {
        let school = &schools[i as usize - 1];
        for (n, at) in census_this_term(i).into_iter().enumerate() {
            census.push((i, add(school, "census", at, n as u32), at));
        }
        match i % 6 {
            0 => census.push((i, add(school, "census", LAST_AUTUMN, 9), LAST_AUTUMN)),
            3 if i == 3 => withdrawn = Some(add(school, "census", JAN_20, 0)),
            _ => {}
        }
    }
    let workforce = add(&schools[5], "workforce-census", JAN_20, 0);
    let closed = &schools[SCHOOLS as usize];
    census.push((SCHOOLS + 1, add(closed, "census", JAN_20, 0), JAN_20));
    repo.insert_transfers(&batch).await.expect("store the census term");

    let withdrawn = withdrawn.expect("school 3 sent one");
    let audit = AuditEvent::new(h.now(), Actor::operator(), "transfer.withdraw");
    assert!(repo.withdraw_transfer(withdrawn, h.now(), &audit).await.expect("withdraw"));
    rows[SCHOOLS as usize].1 = "Closed";
    import_gias(repo, h.now(), Actor::operator(), &establishments(&rows), None, Some(825), false)
        .await
        .expect("close 825/2301");
    census.sort_by_key(|(_, _, at)| std::cmp::Reverse(*at));
    Register { smst, census, workforce }
}

/// Records that someone in `org` downloaded transfer `id`.
pub async fn downloaded_by(h: &Harness, id: TransferId, org: &Organisation) {
    let download = NewDownload { transfer: id, org: org.id, key_id: None, client_addr: None, range: None, at: h.now() };
    let audit = AuditEvent::new(h.now(), Actor::operator(), "transfer.download");
    h.state.repo().record_download(&download, &audit).await.expect("record a download");
}

/// A census-like transfer row; its object is never read by these tests.
pub fn transfer(sender: &Organisation, to: &Organisation, channel: &str, at: OffsetDateTime, n: u32) -> NewTransfer {
    let number = match &sender.reference {
        pigeonpost::domain::OrgRef::School(d) => d.compact(),
        pigeonpost::domain::OrgRef::Team(t) => t.to_string(),
    };
    NewTransfer {
        id: TransferId(Uuid::new_v4()),
        object_id: Uuid::new_v4(),
        channel: ChannelSlug::parse(channel).expect("channel slug"),
        sender: sender.id,
        sender_key_id: None,
        recipients: vec![to.id],
        filename: Some(FileName::parse(&format!("{number}_{channel}_{n}.xml")).expect("file name")),
        content_type: "application/xml".into(),
        size: 64,
        sha256: Sha256Digest([n as u8; 32]),
        wrapped_key: Some(WrappedKey { kek_id: "k1".into(), bytes: vec![1; 72] }),
        created_at: at,
        message: None,
        reply_to: None,
        quarantine: None,
        routing_note: None,
        batch: None,
    }
}
