//! What the browser pages show beside a listing that the API leaves to the client: who has
//! downloaded each file, and whom a person may address on a channel. Each answer goes through
//! the same policy as the rest of the service.

pub mod receipts;
pub mod recipients;
