//! The records that rules and use cases reason about: transfers, people, API keys and their
//! scopes. The metadata store reads and writes them; the policy decides on them.

mod api_key;
mod transfer;
mod user;

pub use api_key::{ApiKeyRecord, KeyScope, NewApiKey};
pub use transfer::{BatchId, Delivery, NewTransfer, Quarantine, TransferRecord};
pub use user::{NewUser, UserFunction, UserRecord};
