//! What an LA team does in bulk: collecting many files as one archive, and following the
//! receipts of what it distributed to groups of schools. Each step asks the policy through the
//! same use cases the API calls.

pub mod collect;
pub mod distributions;
pub mod zip_names;
