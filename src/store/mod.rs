//! The seams to outside systems: [`meta::Repository`] for metadata (SQLite embedded,
//! PostgreSQL for production, each behind the same trait) and [`blob::BlobStore`] for encrypted objects.
//! Use cases see only the traits.

pub mod blob;
pub mod meta;

pub use blob::{BlobError, BlobStore, BlobWriter, ObjectKey};
pub use meta::{Repository, StoreError};
