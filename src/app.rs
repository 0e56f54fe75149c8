//! Where the application state and its start-up used to live. The state is now
//! [`crate::service::AppState`] and its building [`crate::service::startup`]; these names stay
//! so that code written against them still compiles. Nothing inside the crate uses them.

pub use crate::service::startup::{
    build, in_our_words, load_channels, open_blob_store, open_repository, parse_channels, DEFAULT_CHANNELS,
};
pub use crate::service::AppState;
