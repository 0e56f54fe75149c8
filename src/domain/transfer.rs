use std::fmt;
use std::str::FromStr;

/// Public identity of a transfer: a random UUID, so ids cannot be guessed or enumerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransferId(pub uuid::Uuid);

impl TransferId {
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4())
    }
}

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for TransferId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(Self)
    }
}

/// A channel: a kind of traffic with its own rules. Until the channel catalogue exists only
/// `general` is known.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelSlug(String);

impl ChannelSlug {
    pub const GENERAL: &'static str = "general";

    pub fn parse(s: &str) -> Option<Self> {
        let ok =
            (1..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChannelSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferState {
    Available,
    Withdrawn,
    Expired,
    Purged,
}

impl TransferState {
    pub fn as_str(&self) -> &'static str {
        match self {
            TransferState::Available => "available",
            TransferState::Withdrawn => "withdrawn",
            TransferState::Expired => "expired",
            TransferState::Purged => "purged",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "available" => Some(Self::Available),
            "withdrawn" => Some(Self::Withdrawn),
            "expired" => Some(Self::Expired),
            "purged" => Some(Self::Purged),
            _ => None,
        }
    }
}

/// Which side of a mailbox a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mailbox {
    Inbox,
    Sent,
}
