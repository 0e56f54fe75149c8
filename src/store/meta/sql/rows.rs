//! The columns of the rows most statements read (organisations, transfers) and how a row of
//! either engine becomes a record.

use anyhow::anyhow;

use super::engine::{Columns, DbUuid};
use crate::crypto::{SealedText, WrappedKey};
use crate::domain::clock::from_millis;
use crate::domain::organisation::OrgStatus;
use crate::domain::{OrgId, OrgKind, OrgRef, Organisation, Sha256Digest, TransferId, TransferState};
use crate::store::meta::{KeyScope, Quarantine, StoreError, TransferRecord};

/// Organisation columns under the `o_` prefix, for any query joining `organisations o`.
macro_rules! org_cols {
    () => {
        "o.id AS o_id, o.kind AS o_kind, o.dfe_number AS o_dfe, o.slug AS o_slug, o.name AS o_name, \
         o.status AS o_status, o.urn AS o_urn, o.phase AS o_phase, o.establishment_type AS o_type, \
         o.totp_required AS o_totp"
    };
}

pub(crate) const ORG_COLS: &str = org_cols!();
pub(crate) const KEY_SCOPE_COLS: &str = "k.channels, k.can_send, k.can_receive, k.expires_at";

pub(crate) const TRANSFER_COLS: &str = concat!(
    "t.seq AS t_seq, t.id AS t_id, t.object_id, t.channel, t.sender_key_id, t.filename, \
     t.content_type, t.size, t.sha256, t.kek_id, t.wrapped_dek, t.state, t.created_at, t.withdrawn_at, \
     t.message_sealed, (SELECT r.id FROM transfers r WHERE r.seq = t.reply_to_seq) AS reply_to_id, \
     t.has_file, t.quarantine_code, t.quarantine_reason, t.quarantined_at, t.routing_note, \
     (SELECT b.id FROM batches b WHERE b.seq = t.batch_seq) AS batch_id, ",
    org_cols!()
);

pub(crate) fn org_from_row(row: &impl Columns) -> anyhow::Result<Organisation> {
    let kind: String = row.col("o_kind")?;
    let kind = OrgKind::parse(&kind).ok_or_else(|| anyhow!("unknown organisation kind {kind:?}"))?;
    let reference = match kind {
        OrgKind::School => {
            let dfe: String = row.col("o_dfe")?;
            OrgRef::School(dfe.parse()?)
        }
        OrgKind::Team | OrgKind::System => {
            let slug: String = row.col("o_slug")?;
            OrgRef::Team(slug.parse()?)
        }
    };
    let status: String = row.col("o_status")?;
    let urn: Option<i64> = row.col("o_urn")?;
    Ok(Organisation {
        id: OrgId(row.col("o_id")?),
        kind,
        reference,
        name: row.col("o_name")?,
        status: OrgStatus::parse_stored(&status).ok_or_else(|| anyhow!("unknown organisation status {status:?}"))?,
        urn: urn.and_then(|u| u32::try_from(u).ok()),
        phase: row.col("o_phase")?,
        establishment_type: row.col("o_type")?,
        totp_required: row.col("o_totp")?,
    })
}

/// A transfer row without its deliveries, and its sequence number for loading them.
pub(crate) fn transfer_from_row(row: &impl Columns) -> anyhow::Result<(i64, TransferRecord)> {
    let sha: Vec<u8> = row.col("sha256")?;
    let sha: [u8; 32] = sha.try_into().map_err(|_| anyhow!("stored SHA-256 has the wrong length"))?;
    let kek_id: Option<String> = row.col("kek_id")?;
    let wrapped: Option<Vec<u8>> = row.col("wrapped_dek")?;
    let state: String = row.col("state")?;
    let size: i64 = row.col("size")?;
    let quarantine_code: Option<String> = row.col("quarantine_code")?;
    let quarantine_reason: Option<String> = row.col("quarantine_reason")?;
    let record = TransferRecord {
        id: TransferId(row.col::<DbUuid>("t_id")?.0),
        object_id: row.col::<DbUuid>("object_id")?.0,
        channel: row.col("channel")?,
        sender: org_from_row(row)?,
        sender_key_id: row.col("sender_key_id")?,
        recipients: Vec::new(),
        filename: row.col("filename")?,
        content_type: row.col("content_type")?,
        size: u64::try_from(size)?,
        sha256: Sha256Digest(sha),
        wrapped_key: kek_id.zip(wrapped).map(|(kek_id, bytes)| WrappedKey { kek_id, bytes }),
        state: TransferState::parse(&state).ok_or_else(|| anyhow!("unknown transfer state {state:?}"))?,
        created_at: from_millis(row.col("created_at")?),
        withdrawn_at: row.col::<Option<i64>>("withdrawn_at")?.map(from_millis),
        message: row.col::<Option<Vec<u8>>>("message_sealed")?.map(SealedText::from_stored),
        reply_to: row.col::<Option<DbUuid>>("reply_to_id")?.map(|id| TransferId(id.0)),
        has_file: row.col("has_file")?,
        quarantine: quarantine_code.map(|code| Quarantine { code, reason: quarantine_reason.unwrap_or_default() }),
        quarantined_at: row.col::<Option<i64>>("quarantined_at")?.map(from_millis),
        routing_note: row.col("routing_note")?,
        batch: row.col::<Option<DbUuid>>("batch_id")?.map(|id| id.0),
    };
    Ok((row.col("t_seq")?, record))
}

/// Counts and sizes are unsigned in Rust and BIGINT in both engines; none comes near `i64::MAX`.
pub(crate) fn to_i64(n: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Other(anyhow!("{what} {n} is out of range")))
}

/// Reads the scope columns selected by [`KEY_SCOPE_COLS`].
pub(crate) fn scope_from_row(row: &impl Columns) -> anyhow::Result<KeyScope> {
    let channels: String = row.col("channels")?;
    Ok(KeyScope {
        channels: channels.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect(),
        can_send: row.col("can_send")?,
        can_receive: row.col("can_receive")?,
        expires_at: row.col::<Option<i64>>("expires_at")?.map(from_millis),
    })
}
