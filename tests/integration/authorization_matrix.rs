//! Who may do what: every route of `pigeonpost::http::endpoints()` against every kind of caller,
//! and for routes that name a resource, against a resource of the caller's own organisation and
//! one of another's. The table below is the specification; it is written from what
//! `policy::decide` and the handlers say should happen and from the rules the exchange states
//! (keys are scoped by channel and direction, a session with a pending step may only work on
//! itself, a refusal that concerns another organisation's resource does not reveal that it
//! exists). It was not adjusted to whatever the server answered: a failure is a finding.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use crate::support::app::TestApp;
use crate::support::router::{ApiKey, Harness, Reply, TestUser, FINANCE, PASSWORD, SCHOOL_A, SCHOOL_B, SYSTEM, TEAM};
use axum::body::Body;
use axum::http::{header, Method, Request};
use pigeonpost::audit::{Actor, AuditEvent};
use pigeonpost::domain::retention::HoldScope;
use pigeonpost::domain::{FunctionSlug, OrgKind, Role, UserStatus};
use pigeonpost::service::channel_overrides;
use pigeonpost::store::meta::NewHold;
use serde_json::{json, Value};

/// The callers, in the order of the table's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Who {
    Anonymous,
    /// school_user of 825/2001
    SchoolUser,
    /// school_admin of 825/2001
    SchoolAdmin,
    /// la_user of the smst team, second factor enrolled
    LaUser,
    /// la_admin of the smst team, second factor enrolled
    LaAdmin,
    /// system_admin of the system organisation, second factor enrolled
    SystemAdmin,
    /// API key of 825/2001: general channel, send and receive
    KeyBoth,
    /// API key of 825/2001: general channel, receive only
    KeyReceive,
    /// API key of 825/2001: the census channel only, send only
    KeyCensus,
    /// la_user of smst who has not enrolled a second factor yet (pending enrol_totp)
    LaPending,
}

const COLUMNS: [Who; 10] = [
    Who::Anonymous,
    Who::SchoolUser,
    Who::SchoolAdmin,
    Who::LaUser,
    Who::LaAdmin,
    Who::SystemAdmin,
    Who::KeyBoth,
    Who::KeyReceive,
    Who::KeyCensus,
    Who::LaPending,
];

/// The class of answer expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Any 2xx.
    Ok,
    Unauthorized,
    Forbidden,
    NotFound,
    /// Past the access check, refused by the state of things (409).
    Conflict,
    /// Past the access check, refused by a rule of the exchange (422).
    Unprocessable,
}

use Expect::{Conflict as C, Forbidden as F, NotFound as N, Ok as OK, Unauthorized as U, Unprocessable as P};

impl Expect {
    fn matches(self, status: u16) -> bool {
        match self {
            Expect::Ok => (200..300).contains(&status),
            Expect::Unauthorized => status == 401,
            Expect::Forbidden => status == 403,
            Expect::NotFound => status == 404,
            Expect::Conflict => status == 409,
            Expect::Unprocessable => status == 422,
        }
    }
}

/// What the request is about, when the route names something (in its path, query or body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    /// The route names nothing (or a fixed thing: the caller's session, the login user).
    Nothing,
    /// Organisation 825/2001, the school the school principals and keys belong to.
    OrgA,
    /// Organisation 825/2002, another school.
    OrgB,
    /// The system organisation, the service's own administrators.
    OrgSystem,
    /// A new la_admin in the system organisation (a role that does not belong there).
    LaAdminInSystem,
    /// A new system_admin in the system organisation.
    SysAdminInSystem,
    /// An upload to the smst team.
    ToTeam,
    /// An upload to 825/2002.
    ToB,
    /// A transfer 825/2001 sent to smst.
    SentByA,
    /// A transfer smst sent to 825/2001.
    SentToA,
    /// A transfer 825/2002 sent to smst.
    SentByB,
    /// A school_user of 825/2001 (for approval: one waiting for approval).
    UserA,
    /// A school_user of 825/2002 (for approval: one waiting for approval).
    UserB,
    /// An la_user of smst.
    UserTeam,
    /// A system_admin of the system organisation.
    UserSystem,
    /// An API key of 825/2001.
    KeyOfA,
    /// An API key of 825/2002.
    KeyOfB,
    /// A batch of checking files smst sent.
    BatchOfTeam,
    /// A file of smst's batch that is held in its quarantine.
    HeldByTeam,
    /// A batch of allocation lists the admissions team sent.
    BatchOfAdmissions,
    /// A file of the admissions team's batch held in its quarantine.
    HeldByAdmissions,
    /// A channel channels.toml defines (census).
    FileChannel,
    /// A channel that exists only through the API.
    ApiChannel,
    /// A legal hold on 825/2001.
    HoldOnA,
    /// A legal hold on 825/2002.
    HoldOnB,
}

use Target::*;

struct Row {
    method: Method,
    path: &'static str,
    target: Target,
    expect: [Expect; 10],
}

fn row(method: Method, path: &'static str, target: Target, expect: [Expect; 10]) -> Row {
    Row { method, path, target, expect }
}

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const DELETE: Method = Method::DELETE;

/// The specification. Columns: anonymous, school_user, school_admin, la_user, la_admin,
/// system_admin, key general/both, key receive-only, key census-only (send), la_user with a
/// pending second-factor enrolment. OK = 2xx, U = 401, F = 403, N = 404, C = 409, P = 422.
#[rustfmt::skip]
fn table() -> Vec<Row> {
    // The same answers for every route that manages one user through `users::get` (ManageUser).
    let manage_user = |method: Method, path: &'static str| {
        vec![
            //                                anon s_usr s_adm la_u la_a  sys  k_bo k_rc k_cn pend
            row(method.clone(), path, UserA,      [U,  F,   OK,  N,   OK,  OK,  F,   F,   F,   F]),
            row(method.clone(), path, UserB,      [U,  N,   N,   N,   OK,  OK,  N,   N,   N,   F]),
            row(method.clone(), path, UserTeam,   [U,  N,   N,   F,   OK,  OK,  N,   N,   N,   F]),
            row(method.clone(), path, UserSystem, [U,  N,   N,   N,   N,   OK,  N,   N,   N,   F]),
        ]
    };
    // Granting and revoking a function. An LA administrator may not manage a system
    // administrator (ManageUser), so may not change their functions either.
    let functions = |method: Method, path: &'static str| {
        vec![
            row(method.clone(), path, UserA,      [U,  F,   OK,  N,   OK,  OK,  F,   F,   F,   F]),
            row(method.clone(), path, UserB,      [U,  N,   N,   N,   OK,  OK,  N,   N,   N,   F]),
            row(method.clone(), path, UserTeam,   [U,  N,   N,   F,   OK,  OK,  N,   N,   N,   F]),
            row(method.clone(), path, UserSystem, [U,  N,   N,   N,   N,   OK,  N,   N,   N,   F]),
        ]
    };
    // Reading, downloading or withdrawing a transfer. A key may use only its own channels, so
    // the census-only key has nothing to do with general-channel transfers.
    let transfer = |method: Method, path: &'static str| {
        vec![
            row(method.clone(), path, SentByA,    [U,  OK,  OK,  OK,  OK,  N,   OK,  N,   N,   F]),
            row(method.clone(), path, SentToA,    [U,  OK,  OK,  OK,  OK,  N,   OK,  OK,  N,   F]),
            row(method.clone(), path, SentByB,    [U,  N,   N,   OK,  OK,  N,   N,   N,   N,   F]),
        ]
    };
    let mut rows = vec![
        //                                                          anon s_usr s_adm la_u la_a  sys  k_bo k_rc k_cn pend
        row(GET,    "/healthz",                           Nothing,   [OK, OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK]),
        row(GET,    "/readyz",                            Nothing,   [OK, OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK]),
        // The API's description holds no data: anyone may read it, even before the pending step.
        row(GET,    "/api/v1/openapi.json",               Nothing,   [OK, OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK]),

        // Sessions. Login and refresh are public and act on the body's credentials.
        row(POST,   "/api/v1/session",                    Nothing,   [OK, OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK]),
        row(POST,   "/api/v1/session/refresh",            Nothing,   [OK, OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK]),
        row(GET,    "/api/v1/session",                    Nothing,   [U,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK]),
        row(DELETE, "/api/v1/session",                    Nothing,   [U,  OK,  OK,  OK,  OK,  OK,  F,   F,   F,   OK]),
        row(GET,    "/api/v1/session/terms",              Nothing,   [U,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK]),
        row(POST,   "/api/v1/session/terms",              Nothing,   [U,  OK,  OK,  OK,  OK,  OK,  F,   F,   F,   OK]),
        // Enrolled people must have an administrator reset their second factor (409).
        row(POST,   "/api/v1/session/totp",               Nothing,   [U,  OK,  OK,  C,   C,   C,   F,   F,   F,   OK]),
        // The code sent is malformed: 422 unless already enrolled (then there is nothing to do).
        row(POST,   "/api/v1/session/totp/confirm",       Nothing,   [U,  P,   P,   OK,  OK,  OK,  F,   F,   F,   P]),
        row(POST,   "/api/v1/session/password",           Nothing,   [U,  OK,  OK,  OK,  OK,  OK,  F,   F,   F,   OK]),

        // Transfers. Sending to your own organisation breaks a rule (422).
        // Every caller may read the channel catalogue (a pending person takes their step first).
        row(GET,    "/api/v1/channels",                   Nothing,   [U,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  F]),
        // Open requests sent to the caller's own organisation: anyone with a mailbox.
        row(GET,    "/api/v1/reports/turnaround",         Nothing,   [U,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  F]),
        // On the general channel schools write to LA teams and teams to anyone; the system
        // organisation is neither, and schools never send to other schools.
        row(POST,   "/api/v1/transfers",                  ToTeam,    [U,  OK,  OK,  P,   P,   F,   OK,  F,   F,   F]),
        row(POST,   "/api/v1/transfers",                  ToB,       [U,  P,   P,   OK,  OK,  F,   P,   F,   F,   F]),
        // The inbox: a send-only key has none to read, and is told so rather than shown nothing.
        row(GET,    "/api/v1/transfers",                  Nothing,   [U,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  F,   F]),
        // A message without a file follows the same rules as a file on the general channel.
        row(POST,   "/api/v1/messages",                   ToTeam,    [U,  OK,  OK,  P,   P,   F,   OK,  F,   F,   F]),
        row(POST,   "/api/v1/messages",                   ToB,       [U,  P,   P,   OK,  OK,  F,   P,   F,   F,   F]),

        // Batches of checking files come from smst only; a batch and its quarantine are its sender's.
        row(POST,   "/api/v1/batches",                    Nothing,   [U,  F,   F,   OK,  OK,  F,   F,   F,   F,   F]),
        row(GET,    "/api/v1/batches/{id}",               BatchOfTeam, [U, N,  N,   OK,  OK,  N,   N,   N,   N,   F]),
        row(GET,    "/api/v1/batches/{id}",               BatchOfAdmissions, [U, N, N, N, N,   N,   N,   N,   N,   F]),
        // Everyone who may send has a quarantine (most have an empty one).
        row(GET,    "/api/v1/quarantine",                 Nothing,   [U,  OK,  OK,  OK,  OK,  OK,  OK,  F,   OK,  F]),
        row(POST,   "/api/v1/quarantine/{id}/route",      HeldByTeam, [U, N,   N,   OK,  OK,  N,   N,   N,   N,   F]),
        row(POST,   "/api/v1/quarantine/{id}/route",      HeldByAdmissions, [U, N, N, N,  N,   N,   N,   N,   N,   F]),
        row(DELETE, "/api/v1/quarantine/{id}",            HeldByTeam, [U, N,   N,   OK,  OK,  N,   N,   N,   N,   F]),
        row(DELETE, "/api/v1/quarantine/{id}",            HeldByAdmissions, [U, N, N, N,  N,   N,   N,   N,   N,   F]),

        // The register.
        row(GET,    "/api/v1/organisations",              Nothing,   [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(POST,   "/api/v1/organisations",              Nothing,   [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(GET,    "/api/v1/organisations/{org}",        OrgA,      [U,  OK,  OK,  N,   OK,  OK,  OK,  OK,  OK,  F]),
        row(GET,    "/api/v1/organisations/{org}",        OrgB,      [U,  N,   N,   N,   OK,  OK,  N,   N,   N,   F]),
        row(POST,   "/api/v1/organisations/{org}/close",  OrgA,      [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(POST,   "/api/v1/organisations/{org}/close",  OrgB,      [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(POST,   "/api/v1/organisations/{org}/second-factor", OrgA, [U, F,  OK,  F,   OK,  OK,  F,   F,   F,   F]),
        row(POST,   "/api/v1/organisations/{org}/second-factor", OrgB, [U, F,  F,   F,   OK,  OK,  F,   F,   F,   F]),

        // People.
        row(GET,    "/api/v1/users",                      Nothing,   [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(GET,    "/api/v1/users",                      OrgA,      [U,  N,   OK,  N,   OK,  OK,  N,   N,   N,   F]),
        row(GET,    "/api/v1/users",                      OrgB,      [U,  N,   N,   N,   OK,  OK,  N,   N,   N,   F]),
        row(POST,   "/api/v1/users",                      OrgA,      [U,  F,   OK,  F,   OK,  OK,  F,   F,   F,   F]),
        row(POST,   "/api/v1/users",                      OrgB,      [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
        // Only a system administrator adds to the system organisation, and only system administrators.
        row(POST,   "/api/v1/users",                      LaAdminInSystem,  [U, F, F, F,  F,   P,   F,   F,   F,   F]),
        row(POST,   "/api/v1/users",                      SysAdminInSystem, [U, F, F, F,  F,   OK,  F,   F,   F,   F]),
        // Only the LA approves; another organisation's request is not shown to be there.
        row(POST,   "/api/v1/users/{id}/approve",         UserA,     [U,  F,   F,   N,   OK,  OK,  F,   F,   F,   F]),
        row(POST,   "/api/v1/users/{id}/approve",         UserB,     [U,  N,   N,   N,   OK,  OK,  N,   N,   N,   F]),
        // Anyone signed in may read the list of functions, but a pending session may do
        // nothing outside /api/v1/session until the step is taken.
        row(GET,    "/api/v1/functions",                  Nothing,   [U,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  OK,  F]),
        row(POST,   "/api/v1/functions",                  Nothing,   [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(POST,   "/api/v1/user-list-confirmations",    Nothing,   [U,  F,   OK,  F,   F,   F,   F,   F,   F,   F]),
        row(GET,    "/api/v1/reports/user-list-confirmations", Nothing, [U, F,  F,   F,   OK,  OK,  F,   F,   F,   F]),

        // API keys: the LA manages them; a school administrator sees their own school's.
        row(GET,    "/api/v1/keys",                       Nothing,   [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(GET,    "/api/v1/keys",                       OrgA,      [U,  N,   OK,  N,   OK,  OK,  N,   N,   N,   F]),
        row(GET,    "/api/v1/keys",                       OrgB,      [U,  N,   N,   N,   OK,  OK,  N,   N,   N,   F]),
        row(POST,   "/api/v1/keys",                       OrgA,      [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(POST,   "/api/v1/keys",                       OrgB,      [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
        // A key of the system organisation would act for the service's administrators.
        row(POST,   "/api/v1/keys",                       OrgSystem, [U,  F,   F,   F,   F,   OK,  F,   F,   F,   F]),
        // Revoking hides every key the caller may not manage, its own school's included.
        // Within its own school a key's existence is no secret (its admin lists it); elsewhere it is.
        row(DELETE, "/api/v1/keys/{id}",                  KeyOfA,    [U,  F,   F,   N,   OK,  OK,  F,   F,   F,   F]),
        row(DELETE, "/api/v1/keys/{id}",                  KeyOfB,    [U,  N,   N,   N,   OK,  OK,  N,   N,   N,   F]),
        // Only a key a download alert suspended can be resumed (409 for any other).
        row(POST,   "/api/v1/keys/{id}/resume",           KeyOfA,    [U,  F,   F,   N,   C,   C,   F,   F,   F,   F]),
        row(POST,   "/api/v1/keys/{id}/resume",           KeyOfB,    [U,  N,   N,   N,   C,   C,   N,   N,   N,   F]),
        // The LA searches the whole trail; a school administrator their own school's events.
        row(GET,    "/api/v1/audit",                      Nothing,   [U,  F,   OK,  F,   OK,  OK,  F,   F,   F,   F]),

        // Channel definitions and the unclaimed files report: LA administrators only.
        row(GET,    "/api/v1/channels/{slug}",            FileChannel, [U, F,  F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(GET,    "/api/v1/channels/{slug}",            ApiChannel,  [U, F,  F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(PUT,    "/api/v1/channels/{slug}",            FileChannel, [U, F,  F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(PUT,    "/api/v1/channels/{slug}",            ApiChannel,  [U, F,  F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(DELETE, "/api/v1/channels/{slug}",            FileChannel, [U, F,  F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(DELETE, "/api/v1/channels/{slug}",            ApiChannel,  [U, F,  F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(GET,    "/api/v1/reports/unclaimed",          Nothing,   [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
        // Who has sent the census: the team that collects it (smst) and LA administrators; never a school.
        row(GET,    "/api/v1/reports/collection",         Nothing,   [U,  F,   F,   OK,  OK,  OK,  F,   F,   F,   F]),

        // Legal holds: LA administrators only. Whether a hold exists, and on whom, is not
        // revealed to anyone else, so every other caller is refused before any lookup.
        row(POST,   "/api/v1/holds",                      OrgA,      [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(POST,   "/api/v1/holds",                      OrgB,      [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(GET,    "/api/v1/holds",                      Nothing,   [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(DELETE, "/api/v1/holds/{id}",                 HoldOnA,   [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
        row(DELETE, "/api/v1/holds/{id}",                 HoldOnB,   [U,  F,   F,   F,   OK,  OK,  F,   F,   F,   F]),
    ];
    rows.extend(transfer(GET, "/api/v1/transfers/{id}"));
    rows.extend(transfer(GET, "/api/v1/transfers/{id}/content"));
    // A sender withdraws; a recipient removes the transfer from its inbox.
    rows.extend(transfer(DELETE, "/api/v1/transfers/{id}"));
    rows.extend(manage_user(GET, "/api/v1/users/{id}"));
    rows.extend(manage_user(POST, "/api/v1/users/{id}/disable"));
    rows.extend(manage_user(POST, "/api/v1/users/{id}/enable"));
    rows.extend(manage_user(POST, "/api/v1/users/{id}/reset-password"));
    rows.extend(manage_user(POST, "/api/v1/users/{id}/reset-totp"));
    rows.extend(manage_user(PUT, "/api/v1/users/{id}/leaver"));
    rows.extend(functions(PUT, "/api/v1/users/{id}/functions/{function}"));
    rows.extend(functions(DELETE, "/api/v1/users/{id}/functions/{function}"));
    rows
}

/// Rows whose successful request would change what later rows see (it ends every session of
/// the caller, or closes the caller's organisation): each such request gets a world of its own.
fn needs_own_world(row: &Row) -> bool {
    matches!(row.path, "/api/v1/session/password" | "/api/v1/organisations/{org}/close")
}

/// Rows that end the caller's session: the caller logs in afresh for the request.
fn needs_own_session(row: &Row) -> bool {
    row.method == Method::DELETE && row.path == "/api/v1/session"
}

/// Requests whose target is used up (withdrawn, revoked, approved, changed): each gets a fresh one.
fn consumes_target(row: &Row) -> bool {
    row.method != Method::GET
        && (row.path.starts_with("/api/v1/transfers/")
            || row.path.starts_with("/api/v1/users/")
            || row.path.starts_with("/api/v1/keys/")
            || row.path.starts_with("/api/v1/quarantine/")
            || row.path.starts_with("/api/v1/holds/")
            || row.path.starts_with("/api/v1/channels/"))
}

const BOUNDARY: &str = "matrix-boundary";

/// A one-file checking-files batch as a multipart form.
fn batch_form(file_name: &str) -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\r\n\
         %PDF-1.4\n%%EOF\n\r\n--{BOUNDARY}--\r\n"
    )
    .into_bytes()
}

const ADMISSIONS: &str = "admissions";

fn batch_request(token: &str, channel: &str, file_name: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/batches?channel={channel}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(Body::from(batch_form(file_name)))
        .expect("request")
}

/// Everything the table's requests need: the people and keys that make them, a person to log
/// in as, transfers, users and keys to act on.
struct World {
    h: Harness,
    people: HashMap<Who, TestUser>,
    keys: HashMap<Who, ApiKey>,
    tokens: Mutex<HashMap<Who, String>>,
    /// A school_user of 825/2002 that login and refresh requests log in as.
    login_target: TestUser,
    /// Keys with the default scope that make the fixture transfers.
    senders: HashMap<&'static str, ApiKey>,
    /// Ids of the standing (not used up) targets.
    fixtures: HashMap<Target, String>,
}

impl World {
    async fn build() -> World {
        let h = TestApp::builder()
            .settings(|s| {
                // Fresh logins of people with a second factor move the clock a TOTP step each time;
                // tokens made at the start must outlive all of them.
                s.identity.access_token_ttl_secs = 86_400;
                s.identity.session_ttl_secs = 7 * 86_400;
            })
            .router()
            .await;
        h.standard_orgs().await;
        h.org(OrgKind::Team, ADMISSIONS, "Admissions").await;
        let mut people = HashMap::new();
        people.insert(Who::SchoolUser, h.user(SCHOOL_A, "school.user", Role::SchoolUser).await);
        people.insert(Who::SchoolAdmin, h.user(SCHOOL_A, "school.admin", Role::SchoolAdmin).await);
        people.insert(Who::LaUser, h.user(TEAM, "la.user", Role::LaUser).await);
        people.insert(Who::LaAdmin, h.user(TEAM, "la.admin", Role::LaAdmin).await);
        people.insert(Who::SystemAdmin, h.user(SYSTEM, "sys.admin", Role::SystemAdmin).await);
        people.insert(Who::LaPending, h.user_without_totp(TEAM, "la.pending", Role::LaUser).await);
        let mut keys = HashMap::new();
        keys.insert(Who::KeyBoth, h.api_key(SCHOOL_A, None).await);
        keys.insert(Who::KeyReceive, h.api_key(SCHOOL_A, Some(Harness::scope(&["general"], false, true))).await);
        keys.insert(Who::KeyCensus, h.api_key(SCHOOL_A, Some(Harness::scope(&["census"], true, false))).await);
        let login_target = h.user(SCHOOL_B, "login.target", Role::SchoolUser).await;
        let mut senders = HashMap::new();
        for org in [SCHOOL_A, SCHOOL_B, TEAM] {
            senders.insert(org, h.api_key(org, None).await);
        }
        let finance = FunctionSlug::parse(FINANCE).expect("function slug");
        let audit = AuditEvent::new(h.now(), Actor::operator(), "function.define");
        h.state.repo().create_function(&finance, "Finance", h.now(), &audit).await.expect("define function");
        let mut world = World {
            h,
            people,
            keys,
            tokens: Mutex::new(HashMap::new()),
            login_target,
            senders,
            fixtures: HashMap::new(),
        };
        for target in [
            SentByA,
            SentToA,
            SentByB,
            UserA,
            UserB,
            UserTeam,
            UserSystem,
            BatchOfTeam,
            BatchOfAdmissions,
            FileChannel,
            ApiChannel,
        ] {
            let id = world.make_target(target, false).await;
            world.fixtures.insert(target, id);
        }
        world
    }

    /// A new thing of the target's kind; `for_approval` makes users that wait for approval.
    async fn make_target(&self, target: Target, for_approval: bool) -> String {
        let h = &self.h;
        let status = if for_approval { UserStatus::Requested } else { UserStatus::Active };
        match target {
            SentByA => h.upload_ok(&self.senders[SCHOOL_A].token, TEAM, "a-to-team.csv").await,
            SentToA => h.upload_ok(&self.senders[TEAM].token, SCHOOL_A, "team-to-a.csv").await,
            SentByB => h.upload_ok(&self.senders[SCHOOL_B].token, TEAM, "b-to-team.csv").await,
            UserA => h.victim(SCHOOL_A, Role::SchoolUser, status).await.0.to_string(),
            UserB => h.victim(SCHOOL_B, Role::SchoolUser, status).await.0.to_string(),
            UserTeam => h.victim(TEAM, Role::LaUser, status).await.0.to_string(),
            UserSystem => h.victim(SYSTEM, Role::SystemAdmin, status).await.0.to_string(),
            KeyOfA => h.api_key(SCHOOL_A, None).await.id,
            KeyOfB => h.api_key(SCHOOL_B, None).await.id,
            BatchOfTeam | HeldByTeam | BatchOfAdmissions | HeldByAdmissions => {
                let (sender, channel) = match target {
                    BatchOfTeam | HeldByTeam => (TEAM, "checking-files"),
                    _ => (ADMISSIONS, "admissions"),
                };
                let job = h.api_key(sender, Some(Harness::scope(&["*"], true, true))).await;
                let name = format!("unrouted-{}.pdf", h.unique());
                let reply = h.send(batch_request(&job.token, channel, &name)).await;
                assert_eq!(reply.json["quarantined"], 1, "the batch holds its one file: {}", reply.json);
                let whole = matches!(target, BatchOfTeam | BatchOfAdmissions);
                let (field, found) =
                    if whole { ("batch", &reply.json) } else { ("transfer", &reply.json["results"][0]) };
                found[field].as_str().expect("id").to_owned()
            }
            // Both kinds of channel carry a stored change, so removing it has something to remove.
            FileChannel => self.change_channel(CENSUS, self.file_channel_definition()).await,
            ApiChannel => {
                let slug = format!("matrix-{}", h.unique());
                self.change_channel(&slug, api_channel_definition(&slug)).await
            }
            HoldOnA | HoldOnB => {
                let reference = if target == HoldOnA { SCHOOL_A } else { SCHOOL_B };
                let org = h.find_org(reference).await;
                let hold = NewHold {
                    id: uuid::Uuid::new_v4(),
                    scope: HoldScope::Organisation,
                    target: reference.to_owned(),
                    org: Some(org.id),
                    reason: "matrix hold".into(),
                    placed_at: h.now(),
                    placed_by: "operator".into(),
                };
                let audit = AuditEvent::new(h.now(), Actor::operator(), "hold.place");
                h.state.repo().place_hold(&hold, &audit).await.expect("place hold");
                hold.id.to_string()
            }
            other => panic!("{other:?} is not a thing to make"),
        }
    }

    fn file_channel_definition(&self) -> Value {
        serde_json::to_value(self.h.state.file_channels().get(CENSUS).expect("census in channels.toml"))
            .expect("channel as JSON")
    }

    /// Stores `definition` as channel `slug`'s change, as the API would, and answers the slug.
    async fn change_channel(&self, slug: &str, definition: Value) -> String {
        let state = &self.h.state;
        state
            .repo()
            .put_channel_override(
                slug,
                &definition.to_string(),
                None,
                self.h.now(),
                &AuditEvent::new(self.h.now(), Actor::operator(), "channel.change"),
            )
            .await
            .expect("store channel change");
        channel_overrides::refresh(state).await.expect("refresh channels");
        slug.to_owned()
    }

    /// The caller's Authorization token: a key, or an access token from one login reused.
    async fn bearer(&self, who: Who, fresh: bool) -> Option<String> {
        if who == Who::Anonymous {
            return None;
        }
        if let Some(key) = self.keys.get(&who) {
            return Some(key.token.clone());
        }
        if !fresh {
            if let Some(token) = self.tokens.lock().expect("tokens").get(&who) {
                return Some(token.clone());
            }
        }
        let session = self.h.login(&self.people[&who]).await;
        if !fresh {
            self.tokens.lock().expect("tokens").insert(who, session.access.clone());
        }
        Some(session.access)
    }

    /// The request one cell of the table makes.
    async fn request(&self, row: &Row, who: Who) -> Request<Body> {
        let h = &self.h;
        let n = h.unique();
        let id = match (row.path.contains("{id}"), consumes_target(row)) {
            (false, _) => String::new(),
            (true, true) => self.make_target(row.target, row.path.ends_with("/approve")).await,
            (true, false) => self.fixtures[&row.target].clone(),
        };
        let org_path = match row.target {
            OrgA => "8252001",
            OrgB => "8252002",
            _ => "",
        };
        let org_ref = match row.target {
            OrgA => SCHOOL_A,
            OrgB => SCHOOL_B,
            OrgSystem | LaAdminInSystem | SysAdminInSystem => SYSTEM,
            _ => "",
        };
        let role = match row.target {
            LaAdminInSystem => "la_admin",
            SysAdminInSystem => "system_admin",
            _ => "school_user",
        };
        let slug = match (row.path.contains("{slug}"), consumes_target(row)) {
            (false, _) => String::new(),
            (true, true) => self.make_target(row.target, false).await,
            (true, false) => self.fixtures[&row.target].clone(),
        };
        let mut uri = row
            .path
            .replace("{id}", &id)
            .replace("{org}", org_path)
            .replace("{function}", FINANCE)
            .replace("{slug}", &slug);
        let mut body: Option<Value> = None;
        let mut raw: Option<Vec<u8>> = None;
        let mut raw_type = "text/csv".to_owned();
        match (row.method.as_str(), row.path) {
            ("POST", "/api/v1/session") => {
                body = Some(json!({ "username": self.login_target.username, "password": PASSWORD }))
            }
            ("POST", "/api/v1/session/refresh") => {
                let session = h.login(&self.login_target).await;
                body = Some(json!({ "refresh_token": session.refresh }));
            }
            ("POST", "/api/v1/session/terms") => body = Some(json!({ "version": 0 })),
            ("POST", "/api/v1/session/totp/confirm") => body = Some(json!({ "code": "abcdef" })),
            ("POST", "/api/v1/session/password") => {
                body = Some(json!({ "current_password": PASSWORD, "new_password": "Amber-Meadow-Compass-91" }))
            }
            ("POST", "/api/v1/transfers") => {
                let to = if row.target == ToTeam { TEAM } else { SCHOOL_B };
                uri = format!("{uri}?channel=general&to={to}&filename=matrix-{n}.csv");
                raw = Some(b"upn,name\n".to_vec());
            }
            ("GET", "/api/v1/reports/turnaround") => uri = format!("{uri}?channel=fsm"),
            ("POST", "/api/v1/messages") => {
                let to = if row.target == ToTeam { TEAM } else { SCHOOL_B };
                body = Some(json!({ "channel": "general", "to": to, "message": format!("matrix message {n}") }));
            }
            ("POST", "/api/v1/batches") => {
                uri = format!("{uri}?channel=checking-files");
                raw = Some(batch_form("8252001_matrix.pdf"));
                raw_type = format!("multipart/form-data; boundary={BOUNDARY}");
            }
            ("POST", "/api/v1/quarantine/{id}/route") => body = Some(json!({ "to": SCHOOL_A })),
            ("GET", "/api/v1/reports/unclaimed") => uri = format!("{uri}?older_than_days=0"),
            ("GET", "/api/v1/reports/collection") => uri = format!("{uri}?channel=census"),
            ("PUT", "/api/v1/channels/{slug}") => {
                body = Some(match row.target {
                    FileChannel => self.file_channel_definition(),
                    _ => api_channel_definition(&slug),
                })
            }
            ("GET", "/api/v1/users") | ("GET", "/api/v1/keys") if !org_ref.is_empty() => {
                uri = format!("{uri}?org={org_ref}");
            }
            ("POST", "/api/v1/organisations") => {
                body = Some(
                    json!({ "kind": "school", "ref": format!("825/{}", 4000 + n), "name": format!("Matrix School {n}") }),
                )
            }
            ("POST", "/api/v1/organisations/{org}/second-factor") => body = Some(json!({ "required": false })),
            ("POST", "/api/v1/users") => {
                body = Some(json!({
                    "org": org_ref, "username": format!("matrix-new-{n}"), "display_name": "New Colleague", "role": role
                }))
            }
            ("PUT", "/api/v1/users/{id}/leaver") => body = Some(json!({ "on": "2026-07-31T17:00:00Z" })),
            ("POST", "/api/v1/functions") => {
                body = Some(json!({ "slug": format!("fn-{n}"), "name": "Matrix function" }))
            }
            ("POST", "/api/v1/keys") => body = Some(json!({ "org": org_ref, "name": format!("matrix key {n}") })),
            ("POST", "/api/v1/holds") => {
                body = Some(json!({ "scope": "organisation", "target": org_ref, "reason": format!("matrix hold {n}") }))
            }
            _ => {}
        }
        let mut builder = Request::builder().method(row.method.clone()).uri(uri);
        if let Some(token) = self.bearer(who, needs_own_session(row)).await {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        match (body, raw) {
            (Some(json), _) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&json).expect("JSON")))
                .expect("request"),
            (None, Some(bytes)) => builder
                .header(header::CONTENT_TYPE, raw_type)
                .header(header::CONTENT_LENGTH, bytes.len())
                .body(Body::from(bytes))
                .expect("request"),
            (None, None) => builder.body(Body::empty()).expect("request"),
        }
    }
}

const CENSUS: &str = "census";

/// A small channel of teams writing to anyone, for a slug the file does not define.
fn api_channel_definition(slug: &str) -> Value {
    json!({ "slug": slug, "name": "Matrix channel", "description": "", "route": [{ "from": "teams", "to": "explicit" }] })
}

fn describe(reply: &Reply) -> String {
    match reply.json.get("error") {
        Some(code) => format!("{} {}", reply.status.as_u16(), code.as_str().unwrap_or("?")),
        None => reply.status.as_u16().to_string(),
    }
}

#[test]
fn the_table_covers_every_route_and_only_routes_that_exist() {
    let served: BTreeSet<(String, String)> =
        pigeonpost::http::endpoints().into_iter().map(|e| (e.method.to_string(), e.path.to_owned())).collect();
    let rows = table();
    let specified: BTreeSet<(String, String)> =
        rows.iter().map(|r| (r.method.to_string(), r.path.to_owned())).collect();
    let untested: Vec<_> = served.difference(&specified).collect();
    let stale: Vec<_> = specified.difference(&served).collect();
    assert!(untested.is_empty(), "routes with no rows in the authorization table: {untested:?}");
    assert!(stale.is_empty(), "rows for routes the server does not have: {stale:?}");
    // A route that names a resource is checked against one of the caller's and one of another's.
    let mut targets: BTreeMap<(String, &str), BTreeSet<String>> = BTreeMap::new();
    for r in &rows {
        targets.entry((r.method.to_string(), r.path)).or_default().insert(format!("{:?}", r.target));
    }
    for ((method, path), seen) in &targets {
        if path.contains('{') {
            assert!(seen.len() >= 2, "{method} {path} is checked against only {seen:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_caller_as_the_access_rules_say() {
    let started = std::time::Instant::now();
    let shared = World::build().await;
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for row in table() {
        for (column, who) in COLUMNS.iter().enumerate() {
            let own_world;
            let world = if needs_own_world(&row) {
                own_world = World::build().await;
                &own_world
            } else {
                &shared
            };
            let request = world.request(&row, *who).await;
            let uri = request.uri().to_string();
            let reply = world.h.send(request).await;
            cells += 1;
            let expected = row.expect[column];
            if !expected.matches(reply.status.as_u16()) {
                mismatches.push(format!(
                    "{:<6} {:<45} {:<10} {:<12} expected {:<13} got {}   ({uri})",
                    row.method.as_str(),
                    row.path,
                    format!("{:?}", row.target),
                    format!("{who:?}"),
                    format!("{expected:?}"),
                    describe(&reply)
                ));
            }
        }
    }
    eprintln!("{cells} requests in {:?}", started.elapsed());
    assert!(
        mismatches.is_empty(),
        "{} of {cells} answers differ from the access table:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
