//! The one place that answers "may this principal do this to that", and the one rule that
//! says whether a person or a key may get in at all. Handlers and use cases never compare
//! roles or organisations themselves; they ask here.

use time::{Duration, OffsetDateTime};

use crate::domain::records::{ApiKeyRecord, KeyScope, TransferRecord, UserRecord};
use crate::domain::{Mailbox, OrgId, OrgKind, OrgRef, Organisation, Role, TransferState, UserStatus};

// Who is asking is the policy's first question, so its names are the policy's vocabulary too.
pub use crate::domain::principal::{Credential, PendingStep, Principal, SessionPrincipal};

pub enum Action<'a> {
    /// Send on a channel (where the file goes is the channel's routing, checked by the use case).
    SendOn(&'a crate::domain::channel::Channel),
    /// Any mailbox listing at all.
    ListMailbox,
    /// List one mailbox: a key must be allowed to receive to read its inbox, to send to read
    /// its sent items.
    ReadMailbox(Mailbox),
    /// Read or download a transfer; the second field is the function its channel is limited
    /// to, if any (only holders of it, and administrators, see it on the receiving side).
    ReadTransfer(&'a TransferRecord, Option<&'a str>),
    DownloadTransfer(&'a TransferRecord, Option<&'a str>),
    WithdrawTransfer(&'a TransferRecord),
    RemoveFromInbox(&'a TransferRecord),
    /// See the report of a batch that `sender` sent.
    ViewBatch {
        sender: OrgId,
    },
    /// Search the audit trail: all of it (None), or the events about one organisation.
    ViewAudit {
        org: Option<&'a Organisation>,
    },
    /// List one's own quarantine.
    ListQuarantine,
    /// Choose a school for a file held in one's quarantine, or discard it.
    ManageQuarantine(&'a TransferRecord),
    /// See the register of organisations (all of it).
    ListOrganisations,
    ViewOrganisation(&'a Organisation),
    ManageOrganisations,
    /// See an organisation's users (or every user when None).
    ListUsers(Option<&'a Organisation>),
    /// Create a user in `org` with `role`; a school administrator's creation is a request.
    CreateUser {
        org: &'a Organisation,
        role: Role,
    },
    ApproveUser(&'a UserRecord),
    ManageUser(&'a UserRecord),
    /// Disable an account or set its leaving date: as `ManageUser`, but never one's own, which
    /// could leave an organisation or the LA with no administrator to undo it.
    DisableUser(&'a UserRecord),
    GrantFunction {
        user: &'a UserRecord,
        temporary: bool,
    },
    DefineFunctions,
    ListFunctions,
    ListChannels,
    /// Change, read in full, or revert a channel's definition.
    ManageChannels,
    /// See files that recipients have not collected, across every organisation.
    ViewUnclaimedReport,
    /// Download many files of the inbox at once, as one archive: a team's bulk collection.
    CollectMany,
    /// See which schools have sent on a channel and which have not (the collection report).
    ViewCollectionReport(&'a crate::domain::channel::Channel),
    /// Place, list and lift legal holds, which stop retention purging what they cover.
    ManageHolds,
    ListKeys(Option<&'a Organisation>),
    ManageKeys(&'a Organisation),
    ConfirmUserList(&'a Organisation),
    /// Switch a second factor on (or off) for everyone in an organisation.
    RequireSecondFactor(&'a Organisation),
    ViewConfirmationReport,
    /// Work on one's own session: refresh, log out, accept terms, enrol a second factor.
    OwnSession,
    /// Replace one's own password: the one thing a person whose password was chosen for them
    /// may do.
    ChangeOwnPassword,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused, and the caller must not learn that the resource exists.
    Hidden,
    /// Refused openly: the caller may know the resource exists.
    Forbidden,
    /// Refused until the person has taken a pending step.
    StepRequired(PendingStep),
    /// Refused because the request itself breaks a rule (e.g. sending to yourself).
    Invalid(&'static str),
    /// Refused for now: the channel is switched off, and would otherwise be allowed.
    ChannelOff,
    /// Refused openly, for a reason the caller can act on.
    Refused(Refusal),
}

/// Why a sender or a key may not do something it could see: each says what would change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The organisation is not among the channel's senders.
    NotASender,
    /// The key's scope does not include the channel.
    KeyLacksChannel,
    /// The key may only receive.
    KeyCannotSend,
    /// The key may only send.
    KeyCannotReceive,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotASender => "channel_not_for_sender",
            Refusal::KeyLacksChannel => "key_lacks_channel",
            Refusal::KeyCannotSend => "key_cannot_send",
            Refusal::KeyCannotReceive => "key_cannot_receive",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotASender => {
                "your organisation is not among this channel's senders: GET /api/v1/channels lists where you may send"
            }
            Refusal::KeyLacksChannel => {
                "this API key is not scoped to this channel: GET /api/v1/channels shows which channels it may use; \
                 ask an administrator for a key that includes this one"
            }
            Refusal::KeyCannotSend => "this API key may only receive files: send with a key that is allowed to send",
            Refusal::KeyCannotReceive => {
                "this API key may only send files, so it has no inbox to read: use a key that is allowed to receive"
            }
        }
    }
}

fn allow_if(ok: bool, otherwise: Decision) -> Decision {
    if ok {
        Decision::Allow
    } else {
        otherwise
    }
}

pub fn decide(who: &Principal, action: Action<'_>) -> Decision {
    if let Some(pending) = who.user().map(|u| &u.pending) {
        if pending.contains(&PendingStep::ChangePassword) && !matches!(action, Action::ChangeOwnPassword) {
            return Decision::StepRequired(PendingStep::ChangePassword);
        }
        if let Some(step) = pending.first() {
            if !matches!(action, Action::OwnSession | Action::ChangeOwnPassword) {
                return Decision::StepRequired(*step);
            }
        }
    }
    let me = who.org_id();
    match action {
        Action::OwnSession | Action::ChangeOwnPassword => allow_if(who.user().is_some(), Decision::Forbidden),
        Action::ListFunctions | Action::ListChannels => Decision::Allow,
        Action::SendOn(channel) => {
            if channel.route_matching(&who.org).is_none() {
                return Decision::Refused(Refusal::NotASender);
            }
            if !who.may_use_channel(&channel.slug) {
                return Decision::Refused(Refusal::KeyLacksChannel);
            }
            if !key_may(who, |s| s.can_send) {
                return Decision::Refused(Refusal::KeyCannotSend);
            }
            allow_if(channel.enabled, Decision::ChannelOff)
        }
        Action::ListMailbox => {
            allow_if(key_may(who, |s| s.can_receive) || key_may(who, |s| s.can_send), Decision::Forbidden)
        }
        Action::ReadMailbox(Mailbox::Inbox) => {
            allow_if(key_may(who, |s| s.can_receive), Decision::Refused(Refusal::KeyCannotReceive))
        }
        Action::ReadMailbox(Mailbox::Sent) => {
            allow_if(key_may(who, |s| s.can_send), Decision::Refused(Refusal::KeyCannotSend))
        }
        Action::ReadTransfer(t, gate) | Action::DownloadTransfer(t, gate) => {
            if !who.may_use_channel(&t.channel) {
                return Decision::Hidden;
            }
            let as_sender = who.owns(t.sender.id) && key_may(who, |s| s.can_send);
            let as_recipient = t.recipients.iter().any(|d| d.removed_at.is_none() && who.owns(d.org.id))
                && t.state == TransferState::Available
                && key_may(who, |s| s.can_receive)
                && gate.is_none_or(|f| who.holds_function(f));
            allow_if(as_sender || as_recipient, Decision::Hidden)
        }
        Action::WithdrawTransfer(t) => allow_if(
            t.is_sent_by(me) && who.may_use_channel(&t.channel) && key_may(who, |s| s.can_send),
            Decision::Hidden,
        ),
        Action::RemoveFromInbox(t) => allow_if(
            t.is_delivered_to(me) && who.may_use_channel(&t.channel) && key_may(who, |s| s.can_receive),
            Decision::Hidden,
        ),
        Action::ViewBatch { sender } => allow_if(who.owns(sender) && key_may(who, |s| s.can_send), Decision::Hidden),
        Action::ViewAudit { org } => match org {
            None => allow_if(who.is_la_admin(), Decision::Forbidden),
            Some(org) => allow_if(who.is_la_admin() || (org.id == me && is_school_admin(who)), Decision::Forbidden),
        },
        Action::ListQuarantine => allow_if(key_may(who, |s| s.can_send), Decision::Refused(Refusal::KeyCannotSend)),
        Action::ManageQuarantine(t) => allow_if(
            t.is_quarantined()
                && who.owns(t.sender.id)
                && who.may_use_channel(&t.channel)
                && key_may(who, |s| s.can_send),
            Decision::Hidden,
        ),
        Action::ListOrganisations
        | Action::ManageOrganisations
        | Action::DefineFunctions
        | Action::ManageChannels
        | Action::ViewUnclaimedReport
        | Action::ManageHolds
        | Action::ViewConfirmationReport => allow_if(who.is_la_admin(), Decision::Forbidden),
        // LA administrators, and the team that collects the channel: its people, and its keys
        // that may receive on the channel (they see those files in their inbox already).
        // Never a school.
        Action::ViewCollectionReport(channel) => {
            let collector =
                matches!(&who.org.reference, OrgRef::Team(t) if channel.collecting_team() == Some(t.as_str()));
            let as_collector = collector
                && match &who.credential {
                    Credential::Session(s) => !s.role.is_school_role(),
                    Credential::ApiKey { scope, .. } => who.may_use_channel(&channel.slug) && scope.can_receive,
                };
            allow_if(who.is_la_admin() || as_collector, Decision::Forbidden)
        }
        Action::CollectMany => {
            allow_if(who.org.kind == OrgKind::Team && key_may(who, |s| s.can_receive), Decision::Forbidden)
        }
        Action::ViewOrganisation(org) => allow_if(who.is_la_admin() || org.id == me, Decision::Hidden),
        Action::ListUsers(org) => match org {
            None => allow_if(who.is_la_admin(), Decision::Forbidden),
            Some(org) => allow_if(who.is_la_admin() || (org.id == me && is_school_admin(who)), Decision::Hidden),
        },
        Action::CreateUser { org, role } => {
            // The system organisation holds the administrators of the service itself: only a
            // system administrator adds to it, and only system administrators belong to it.
            if org.kind == OrgKind::System || role == Role::SystemAdmin {
                if !who.is_system_admin() {
                    return Decision::Forbidden;
                }
                return allow_if(
                    org.kind == OrgKind::System && role == Role::SystemAdmin,
                    Decision::Invalid("role_does_not_fit"),
                );
            }
            let fits = role.is_school_role() == (org.kind == OrgKind::School);
            if !fits {
                return Decision::Invalid("role_does_not_fit");
            }
            allow_if(
                who.is_la_admin() || (org.id == me && is_school_admin(who) && role.is_school_role()),
                Decision::Forbidden,
            )
        }
        Action::ApproveUser(user) => {
            allow_if(who.is_la_admin(), if user.org.id == me { Decision::Forbidden } else { Decision::Hidden })
        }
        Action::ManageUser(user) => {
            if (user.role == Role::SystemAdmin || user.org.kind == OrgKind::System) && !who.is_system_admin() {
                return Decision::Forbidden;
            }
            let own_school = user.org.id == me && is_school_admin(who) && user.role.is_school_role();
            allow_if(
                who.is_la_admin() || own_school,
                if user.org.id == me { Decision::Forbidden } else { Decision::Hidden },
            )
        }
        Action::DisableUser(user) if who.user_id() == Some(user.id) => Decision::Invalid("own_account"),
        Action::DisableUser(user) => decide(who, Action::ManageUser(user)),
        Action::GrantFunction { user, temporary } => {
            if user.role == Role::SystemAdmin && !who.is_system_admin() {
                return Decision::Hidden;
            }
            // Cover for an absent colleague is the LA's decision; standing functions are the school's.
            let own_school = !temporary && user.org.id == me && is_school_admin(who);
            allow_if(
                who.is_la_admin() || own_school,
                if user.org.id == me { Decision::Forbidden } else { Decision::Hidden },
            )
        }
        Action::ListKeys(org) => match org {
            None => allow_if(who.is_la_admin(), Decision::Forbidden),
            Some(org) => allow_if(who.is_la_admin() || (org.id == me && is_school_admin(who)), Decision::Hidden),
        },
        // A key of the system organisation would act for the service's own administrators:
        // only a system administrator may make or change one.
        Action::ManageKeys(org) if org.kind == OrgKind::System => allow_if(who.is_system_admin(), Decision::Forbidden),
        Action::ManageKeys(org) => {
            allow_if(who.is_la_admin(), if org.id == me { Decision::Forbidden } else { Decision::Hidden })
        }
        Action::ConfirmUserList(org) => allow_if(org.id == me && is_school_admin(who), Decision::Forbidden),
        Action::RequireSecondFactor(org) => {
            allow_if(who.is_la_admin() || (org.id == me && is_school_admin(who)), Decision::Forbidden)
        }
    }
}

fn is_school_admin(who: &Principal) -> bool {
    who.role() == Some(Role::SchoolAdmin)
}

/// People are not scoped by direction; keys are.
fn key_may(who: &Principal, test: impl Fn(&KeyScope) -> bool) -> bool {
    match &who.credential {
        Credential::ApiKey { scope, .. } => test(scope),
        Credential::Session(_) => true,
    }
}

/// Why someone may not get in. Told to the client only once its password or key's secret was
/// right, so it reveals nothing to someone guessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    PendingApproval,
    Disabled,
    LeftOn,
    Inactive,
    OrganisationClosed,
    KeyRevoked,
    KeySuspended,
    KeyExpired,
}

pub enum LoginSubject<'a> {
    User { user: &'a UserRecord, inactivity_days: u64 },
    Key(&'a ApiKeyRecord),
}

/// The single rule for getting in, used by password login, session refresh, every request
/// made with an access token, and every request made with an API key.
pub fn can_login(subject: LoginSubject<'_>, now: OffsetDateTime) -> Result<(), LoginRefusal> {
    let org = match &subject {
        LoginSubject::User { user, .. } => &user.org,
        LoginSubject::Key(key) => &key.org,
    };
    if !org.status.can_receive() {
        return Err(LoginRefusal::OrganisationClosed);
    }
    match subject {
        LoginSubject::User { user, inactivity_days } => {
            match user.status {
                UserStatus::Active => {}
                UserStatus::Requested => return Err(LoginRefusal::PendingApproval),
                UserStatus::Disabled => return Err(LoginRefusal::Disabled),
            }
            if user.disable_on.is_some_and(|d| d <= now) {
                return Err(LoginRefusal::LeftOn);
            }
            let last_seen =
                [user.last_login_at, user.activated_at].into_iter().flatten().max().unwrap_or(user.created_at);
            if inactivity_days > 0 && now - last_seen > Duration::days(inactivity_days as i64) {
                return Err(LoginRefusal::Inactive);
            }
            Ok(())
        }
        LoginSubject::Key(key) => {
            if key.revoked_at.is_some() {
                return Err(LoginRefusal::KeyRevoked);
            }
            if key.suspended_at.is_some() {
                return Err(LoginRefusal::KeySuspended);
            }
            if key.scope.expires_at.is_some_and(|e| e <= now) {
                return Err(LoginRefusal::KeyExpired);
            }
            Ok(())
        }
    }
}
