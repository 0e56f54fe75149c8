//! Seals, at start, the messages stored before messages were sealed. Each row is sealed under
//! its own data key; a message sent without a file gets one, as new messages do; a message
//! whose key is already destroyed (withdrawn, purged) is dropped, as it would have been
//! shredded had it been sealed. Idempotent, and safe with several nodes starting at once: each
//! row changes only while it is still plain.

use anyhow::Context;

use crate::crypto::{DataKey, KeyringHandle, SealedText, WrappedKey};
use crate::store::meta::PlainMessage;
use crate::store::Repository;

const PAGE: u32 = 500;

/// How many rows this node sealed and dropped.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sealed {
    pub sealed: u64,
    pub dropped: u64,
}

pub async fn seal_plain_messages(repo: &dyn Repository, keys: &KeyringHandle) -> anyhow::Result<Sealed> {
    let mut done = Sealed::default();
    loop {
        let page = repo.plain_messages(PAGE).await.context("could not list the messages still to seal")?;
        if page.is_empty() {
            break;
        }
        for plain in &page {
            let (sealed, new_key) = seal(plain, keys)?;
            let dropped = sealed.is_none();
            if repo
                .seal_plain_message(plain.transfer, sealed.as_ref(), new_key.as_ref())
                .await
                .context("could not store a sealed message")?
            {
                if dropped {
                    done.dropped += 1;
                } else {
                    done.sealed += 1;
                }
            } else if new_key.is_some() {
                // Withdrawn since it was read: drop the text, as the withdrawal shreds it.
                repo.seal_plain_message(plain.transfer, None, None).await.context("could not drop a message")?;
            }
        }
    }
    if done != Sealed::default() {
        tracing::info!(sealed = done.sealed, dropped = done.dropped, "messages stored in plain text were sealed");
    }
    Ok(done)
}

fn seal(plain: &PlainMessage, keys: &KeyringHandle) -> anyhow::Result<(Option<SealedText>, Option<WrappedKey>)> {
    let object_id = plain.object_id.as_bytes();
    match &plain.wrapped_key {
        Some(wrapped) => Ok((Some(keys.seal_text(wrapped, object_id, &plain.text)?), None)),
        None if !plain.has_file && plain.available => {
            let dek = DataKey::generate();
            Ok((Some(SealedText::seal(&dek, object_id, &plain.text)), Some(keys.wrap(&dek, object_id))))
        }
        None => Ok((None, None)),
    }
}
