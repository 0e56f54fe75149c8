//! What the browser pages show beside a listing that the API leaves to the client: who has
//! downloaded each file, whom a person may address on a channel, and a transfer's whole thread.
//! Each answer goes through the same policy as the rest of the service.

pub mod receipts;
pub mod recipients;
pub mod thread;
