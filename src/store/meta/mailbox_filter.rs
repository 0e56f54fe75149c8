//! The conditions that narrow a mailbox listing, written once for both engines: plain
//! `IN (...)` lists and bound values, which SQLite and PostgreSQL read the same way.

use sqlx::{Database, Encode, QueryBuilder, Type};

use super::{DownloadState, MailboxQuery};
use crate::domain::clock::to_millis;
use crate::domain::{Mailbox, OrgId};

/// Appends ` AND ...` for each part of the query's filter to a query over `transfers t` (and,
/// for the inbox, `deliveries d`).
pub(crate) fn push_filter<'a, DB>(q: &mut QueryBuilder<'a, DB>, query: &MailboxQuery<'_>)
where
    DB: Database,
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    let filter = query.filter;
    if let Some(channel) = &filter.channel {
        q.push(" AND t.channel = ").push_bind(channel.clone());
    }
    if let Some(senders) = &filter.senders {
        push_in(q, "t.sender_org_id", senders);
    }
    if let Some(recipients) = &filter.recipients {
        // The unique (transfer_seq, recipient_org_id) index answers this with one probe per row.
        q.push(" AND EXISTS (SELECT 1 FROM deliveries r WHERE r.transfer_seq = t.seq");
        push_in(q, "r.recipient_org_id", recipients);
        q.push(")");
    }
    if let Some(since) = filter.since {
        q.push(" AND t.created_at >= ").push_bind(to_millis(since));
    }
    if let Some(state) = filter.download_state {
        q.push(match state {
            DownloadState::New => " AND NOT EXISTS",
            DownloadState::Downloaded => " AND EXISTS",
        });
        // downloads_transfer (transfer_seq, seq) answers this with one index probe per row.
        q.push(" (SELECT 1 FROM downloads w WHERE w.transfer_seq = t.seq");
        push_in(q, "w.org_id", query.orgs);
        q.push(")");
    }
}

/// For an engine without planner statistics (SQLite): where in the mailbox's order the files
/// since the filter's time can start, as a condition on the cursor. It is the lowest cursor among
/// them, found from the transfers created since (index `transfers_created`), so a listing stops
/// there instead of reading the rest of the mailbox to learn that nothing older matches: a job
/// polling for what is new reads only what is new. It is a bound, not an assumption: times and
/// sequence numbers need not rise together. `CROSS JOIN` makes SQLite start from the recent
/// transfers. PostgreSQL's statistics find that plan by themselves, and this bound would only
/// cost it a join over everything since an early date.
pub(crate) fn push_since_bound<'a, DB>(q: &mut QueryBuilder<'a, DB>, query: &MailboxQuery<'_>)
where
    DB: Database,
    i64: Encode<'a, DB> + Type<DB>,
{
    let Some(since) = query.filter.since.map(to_millis) else { return };
    match query.mailbox {
        Mailbox::Inbox => {
            q.push(
                " AND d.seq >= (SELECT COALESCE(MIN(d2.seq), 9223372036854775807) \
                 FROM transfers t2 CROSS JOIN deliveries d2 WHERE d2.transfer_seq = t2.seq AND t2.created_at >= ",
            );
            q.push_bind(since);
            push_in(q, "d2.recipient_org_id", query.orgs);
            q.push(")");
        }
        Mailbox::Sent => {
            q.push(" AND t.seq >= (SELECT COALESCE(MIN(t2.seq), 9223372036854775807) FROM transfers t2 WHERE t2.created_at >= ");
            q.push_bind(since);
            q.push(")");
        }
    }
}

/// ` AND column IN (...)`, or a condition nothing meets when there are no values.
pub(crate) fn push_in<'a, DB>(q: &mut QueryBuilder<'a, DB>, column: &str, orgs: &[OrgId])
where
    DB: Database,
    i64: Encode<'a, DB> + Type<DB>,
{
    if orgs.is_empty() {
        q.push(" AND 1 = 0");
        return;
    }
    q.push(format!(" AND {column} IN ("));
    let mut list = q.separated(", ");
    for org in orgs {
        list.push_bind(org.0);
    }
    list.push_unseparated(")");
}
