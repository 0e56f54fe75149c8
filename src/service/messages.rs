//! Messages sent without a file, on channels that allow them, so a school can start a
//! conversation with an LA team (or answer one) with nothing to attach.

use sha2::{Digest, Sha256};
use tracing::instrument;
use uuid::Uuid;

use super::addressing::{address, Addressing};
use super::upload::{check_message, commit_transfer, sending_on};
use super::ServiceError;
use crate::audit::AuditEvent;
use crate::crypto::{DataKey, KeyringHandle, SealedText};
use crate::domain::records::{NewTransfer, TransferRecord};
use crate::domain::{ChannelSlug, Sha256Digest, TransferId};
use crate::policy::Principal;
use crate::service::AppState;

pub struct MessageRequest {
    pub channel: ChannelSlug,
    pub to: Option<String>,
    pub message: String,
    pub reply_to: Option<TransferId>,
}

#[instrument(skip_all, fields(channel = %req.channel))]
pub async fn send(state: &AppState, who: &Principal, req: MessageRequest) -> Result<TransferRecord, ServiceError> {
    let catalogue = state.channels();
    let (channel, route) = sending_on(&catalogue, who, &req.channel)?;
    if !channel.messages {
        return Err(ServiceError::unprocessable(
            "messages_not_allowed",
            format!("{} carries files only: attach a file, or send the message on general", channel.name),
        ));
    }
    let message = check_message(Some(req.message))?.ok_or_else(|| {
        ServiceError::bad_request("empty_message", "write the message in 'message'; it cannot be blank")
    })?;
    let addressing = Addressing { to: req.to.as_deref(), reply_to: req.reply_to };
    let addressed = address(state, who, channel, route, None, addressing).await?;
    // A message has no object, but a data key of its own under this id seals its text.
    let object_id = Uuid::new_v4();
    let dek = DataKey::generate();
    let new = NewTransfer {
        id: TransferId::new_random(),
        object_id,
        channel: req.channel,
        sender: who.org_id(),
        sender_key_id: who.key_id().map(str::to_owned),
        recipients: addressed.recipients.iter().map(|r| r.id).collect(),
        filename: None,
        content_type: "text/plain".to_owned(),
        size: 0,
        sha256: Sha256Digest(Sha256::digest([]).into()),
        wrapped_key: Some(state.keys().wrap(&dek, object_id.as_bytes())),
        created_at: state.now(),
        message: Some(SealedText::seal(&dek, object_id.as_bytes(), &message)),
        reply_to: req.reply_to,
        quarantine: None,
        routing_note: addressed.note,
        batch: None,
    };
    commit_transfer(state, new, AuditEvent::by(who, state.now(), "message.send")).await
}

/// The sender's message in words. None when there is none, and once the data key is destroyed
/// (withdrawn or purged): the text is shredded with the file.
pub fn text_of(keys: &KeyringHandle, t: &TransferRecord) -> Option<String> {
    let (sealed, wrapped) = (t.message.as_ref()?, t.wrapped_key.as_ref()?);
    match keys.open_text(wrapped, t.object_id.as_bytes(), sealed) {
        Ok(text) => Some(text),
        Err(e) => {
            tracing::error!(transfer = %t.id, error = %format!("{e:#}"), "a transfer's message could not be opened");
            None
        }
    }
}
