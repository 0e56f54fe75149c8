//! Every seeded channel against every kind of sender, each a table: who may send, who receives
//! (the recipient in the 201 answer), and which types are accepted, refused (415) or caught in
//! disguise (422). One server per channel; each table reports every row that differs at once.

use std::collections::HashMap;

use crate::support::app::*;
use crate::support::people::{all_channels_key, team_with_key};
use reqwest::{Method, StatusCode};
use serde_json::Value;

const XML: &[u8] = b"<?xml version=\"1.0\"?><Return><Header/></Return>";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n";
const CSV: &[u8] = b"upn,surname\nA123,Smith\n";
/// The start of a zip archive: neither text nor XML nor PDF.
const ZIP: &[u8] = b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x00\x00\xff\xfe\x00\x01";
/// The smallest start of an .xlsx: a zip whose first entry is `[Content_Types].xml`.
const ZIP_XLSX: &[u8] = b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x13\x00\x00\x00[Content_Types].xml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Sender {
    /// 825/2001
    School,
    Smst,
    Finance,
    Admissions,
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// 201, delivered to this organisation (first of `count`).
    To(&'static str, usize),
    /// Refused with this status and error code.
    Refused(StatusCode, &'static str),
}

use Expect::*;
use Sender::*;

const FORBIDDEN: Expect = Refused(StatusCode::FORBIDDEN, "channel_not_for_sender");
const WRONG_TYPE: Expect = Refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "type_not_allowed");
const DISGUISED: Expect = Refused(StatusCode::UNPROCESSABLE_ENTITY, "content_mismatch");

struct Case {
    from: Sender,
    filename: &'static str,
    body: &'static [u8],
    to: Option<&'static str>,
    /// Answers the transfer made by this earlier row.
    reply_to_row: Option<usize>,
    expect: Expect,
}

fn case(from: Sender, filename: &'static str, body: &'static [u8], expect: Expect) -> Case {
    Case { from, filename, body, to: None, reply_to_row: None, expect }
}

impl Case {
    fn to(mut self, to: &'static str) -> Self {
        self.to = Some(to);
        self
    }

    fn replying_to(mut self, row: usize) -> Self {
        self.reply_to_row = Some(row);
        self
    }
}

/// The standard organisations plus the finance and admissions teams, each with a key allowed
/// on every channel.
struct World {
    app: TestApp,
    keys: HashMap<Sender, String>,
}

impl World {
    fn new() -> World {
        let app = TestApp::spawn();
        let mut keys = HashMap::new();
        keys.insert(School, all_channels_key(&app, SCHOOL_A, "school-all"));
        keys.insert(Smst, all_channels_key(&app, TEAM, "smst-all"));
        keys.insert(Finance, team_with_key(&app, "finance", "LA Finance"));
        keys.insert(Admissions, team_with_key(&app, "admissions", "LA Admissions"));
        World { app, keys }
    }

    async fn check(&self, channel: &str, table: Vec<Case>) {
        let mut made: Vec<Option<String>> = Vec::new();
        let mut differences = Vec::new();
        for (row, c) in table.iter().enumerate() {
            let mut query = vec![("channel", channel.to_owned()), ("filename", c.filename.to_owned())];
            if let Some(to) = c.to {
                query.push(("to", to.to_owned()));
            }
            if let Some(earlier) = c.reply_to_row {
                let id = made[earlier].clone().unwrap_or_else(|| panic!("row {earlier} made no transfer to answer"));
                query.push(("reply_to", id));
            }
            let resp = self
                .app
                .request(Method::POST, &self.keys[&c.from], "/api/v1/transfers")
                .query(&query)
                .body(c.body.to_vec())
                .send()
                .await
                .expect("upload request");
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            made.push(body["id"].as_str().map(str::to_owned));
            let got = match status {
                StatusCode::CREATED => {
                    format!("{} to {} of {}", status.as_u16(), body["recipient"]["ref"], body["recipient_count"])
                }
                _ => format!("{} {}", status.as_u16(), body["error"]),
            };
            let ok = match c.expect {
                To(recipient, count) => {
                    status == StatusCode::CREATED
                        && body["recipient"]["ref"] == recipient
                        && body["recipient_count"] == count
                }
                Refused(expected, code) => status == expected && body["error"] == code,
            };
            if !ok {
                differences.push(format!(
                    "row {row}: {:?} {} to {:?}: expected {:?}, got {got} ({})",
                    c.from, c.filename, c.to, c.expect, body["message"]
                ));
            }
        }
        assert!(differences.is_empty(), "{channel}:\n{}", differences.join("\n"));
    }
}

#[tokio::test]
async fn census_returns_go_from_schools_to_smst_as_xml_or_zip() {
    World::new()
        .check(
            "census",
            vec![
                case(School, "8252001_SC_2026.xml", XML, To(TEAM, 1)),
                case(School, "8252001_SC_2026.zip", ZIP, To(TEAM, 1)),
                case(Smst, "8252001_SC_2026.xml", XML, FORBIDDEN),
                case(Finance, "8252001_SC_2026.xml", XML, FORBIDDEN),
                case(Admissions, "8252001_SC_2026.xml", XML, FORBIDDEN),
                case(School, "8252001_SC_2026.pdf", PDF, WRONG_TYPE),
                case(School, "8252001_SC_2026.xml", PDF, DISGUISED),
            ],
        )
        .await;
}

#[tokio::test]
async fn workforce_census_returns_go_from_schools_to_smst_as_xml_or_zip() {
    World::new()
        .check(
            "workforce-census",
            vec![
                case(School, "8252001_SWF_2026.xml", XML, To(TEAM, 1)),
                case(Smst, "8252001_SWF_2026.xml", XML, FORBIDDEN),
                case(Finance, "8252001_SWF_2026.xml", XML, FORBIDDEN),
                case(Admissions, "8252001_SWF_2026.xml", XML, FORBIDDEN),
                case(School, "8252001_SWF_2026.csv", CSV, WRONG_TYPE),
                case(School, "8252001_SWF_2026.zip", XML, DISGUISED),
            ],
        )
        .await;
}

#[tokio::test]
async fn ctfs_go_from_schools_to_smst_and_from_smst_to_a_named_school() {
    World::new()
        .check(
            "ctf",
            vec![
                case(School, "CTF_out.xml", XML, To(TEAM, 1)),
                case(Smst, "CTF_in.xml", XML, To(SCHOOL_B, 1)).to(SCHOOL_B),
                case(Finance, "CTF_in.xml", XML, FORBIDDEN).to(SCHOOL_B),
                case(Admissions, "CTF_in.xml", XML, FORBIDDEN).to(SCHOOL_B),
                case(School, "CTF_out.pdf", PDF, WRONG_TYPE),
                case(Smst, "CTF_in.xml", ZIP, DISGUISED).to(SCHOOL_B),
            ],
        )
        .await;
}

#[tokio::test]
async fn checking_files_go_from_smst_to_the_school_named_in_the_file() {
    World::new()
        .check(
            "checking-files",
            vec![
                case(Smst, "8252002_KS2_checking.pdf", PDF, To(SCHOOL_B, 1)),
                case(Smst, "825-2001_phonics.csv", CSV, To(SCHOOL_A, 1)),
                case(School, "8252002_KS2_checking.pdf", PDF, FORBIDDEN),
                case(Finance, "8252002_KS2_checking.pdf", PDF, FORBIDDEN),
                case(Admissions, "8252002_KS2_checking.pdf", PDF, FORBIDDEN),
                case(Smst, "8252002_KS2_checking.xml", XML, WRONG_TYPE),
                case(Smst, "8252002_KS2_checking.pdf", XML, DISGUISED),
            ],
        )
        .await;
}

#[tokio::test]
async fn fsm_requests_go_from_schools_to_smst_and_answers_back_to_the_school() {
    World::new()
        .check(
            "fsm",
            vec![
                case(School, "fsm_applicants.csv", CSV, To(TEAM, 1)),
                case(Smst, "fsm_results.csv", CSV, To(SCHOOL_A, 1)).replying_to(0),
                case(Finance, "fsm_applicants.csv", CSV, FORBIDDEN),
                case(Admissions, "fsm_results.csv", CSV, FORBIDDEN).replying_to(0),
                case(School, "fsm_applicants.pdf", PDF, WRONG_TYPE),
                case(School, "fsm_applicants.csv", ZIP, DISGUISED),
                case(School, "fsm_applicants.xlsx", PDF, DISGUISED),
            ],
        )
        .await;
}

#[tokio::test]
async fn a_distribution_goes_from_any_team_to_a_group_of_schools() {
    World::new()
        .check(
            "distribution",
            vec![
                case(Smst, "guidance.pdf", PDF, To(SCHOOL_A, 2)).to("825/2001,825/2002"),
                case(Finance, "budget_letter.pdf", PDF, To(SCHOOL_A, 2)).to("all"),
                case(Admissions, "timeline.csv", CSV, To(SCHOOL_B, 1)).to(SCHOOL_B),
                case(School, "guidance.pdf", PDF, FORBIDDEN).to("all"),
                // Any type may be distributed, but not one in disguise.
                case(Smst, "notes.odt", b"any bytes at all", To(SCHOOL_A, 2)).to("all"),
                case(Smst, "guidance.pdf", XML, DISGUISED).to("all"),
            ],
        )
        .await;
}

#[tokio::test]
async fn finance_files_go_between_schools_and_the_finance_team_only() {
    World::new()
        .check(
            "finance",
            vec![
                case(School, "month_end.xlsx", ZIP_XLSX, To("finance", 1)),
                case(School, "vat.csv", CSV, To("finance", 1)),
                case(Finance, "statement.pdf", PDF, To(SCHOOL_B, 1)).to(SCHOOL_B),
                case(Smst, "statement.pdf", PDF, FORBIDDEN).to(SCHOOL_B),
                case(Admissions, "statement.pdf", PDF, FORBIDDEN).to(SCHOOL_B),
                case(School, "month_end.xml", XML, WRONG_TYPE),
                case(School, "month_end.pdf", CSV, DISGUISED),
            ],
        )
        .await;
}

#[tokio::test]
async fn allocation_lists_go_from_admissions_to_the_school_named_in_the_file() {
    World::new()
        .check(
            "admissions",
            vec![
                case(Admissions, "8252002_allocations.pdf", PDF, To(SCHOOL_B, 1)),
                case(Admissions, "8252001_allocations.csv", CSV, To(SCHOOL_A, 1)),
                case(Smst, "8252002_allocations.pdf", PDF, FORBIDDEN),
                case(Finance, "8252002_allocations.pdf", PDF, FORBIDDEN),
                case(School, "8252002_allocations.pdf", PDF, FORBIDDEN),
                case(Admissions, "8252002_allocations.xml", XML, WRONG_TYPE),
                case(Admissions, "8252002_allocations.csv", ZIP, DISGUISED),
            ],
        )
        .await;
}

#[tokio::test]
async fn general_files_go_between_schools_and_teams_and_never_school_to_school() {
    World::new()
        .check(
            "general",
            vec![
                case(School, "question.txt", b"Is this the right form?", To(TEAM, 1)).to(TEAM),
                case(School, "question.txt", b"For finance", To("finance", 1)).to("finance"),
                case(
                    School,
                    "question.txt",
                    b"hello",
                    Refused(StatusCode::UNPROCESSABLE_ENTITY, "wrong_recipient_kind"),
                )
                .to(SCHOOL_B),
                case(Smst, "answer.pdf", PDF, To(SCHOOL_A, 1)).to(SCHOOL_A),
                case(Finance, "handover.csv", CSV, To("admissions", 1)).to("admissions"),
                case(Admissions, "anything.odt", b"any bytes", To(SCHOOL_B, 1)).to(SCHOOL_B),
                case(School, "answer.pdf", XML, DISGUISED).to(TEAM),
            ],
        )
        .await;
}
