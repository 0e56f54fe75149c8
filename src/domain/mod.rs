//! Types and rules of the exchange. Nothing here does I/O: values are parsed once at the edge
//! and cannot hold an invalid value afterwards.

pub mod batch;
pub mod business_days;
pub mod byte_range;
pub mod channel;
pub mod clock;
pub mod dfe;
pub mod file_name;
pub mod gias;
pub mod organisation;
pub mod principal;
pub mod records;
pub mod retention;
pub mod routing;
pub mod school_terms;
pub mod sniff;
pub mod transfer;
pub mod unclaimed;
pub mod user;

pub use dfe::DfeNumber;
pub use file_name::FileName;
pub use organisation::{OrgId, OrgKind, OrgRef, Organisation};
pub use transfer::{ChannelSlug, Mailbox, Sha256Digest, TransferId, TransferState};
pub use user::{FunctionSlug, Role, UserId, UserStatus, Username};
