//! The pages everyone uses: home, sending files, the inbox and sent items, and a transfer's
//! thread with its replies and receipts.

mod actions;
mod boxes;
pub mod form;
mod home;
mod links;
mod rows;
mod rules;
mod send;
mod transfer;

use super::error::PageError;
use super::Page;

pub fn pages() -> Vec<Page> {
    [home::pages(), send::pages(), boxes::pages(), transfer::pages(), actions::pages()].into_iter().flatten().collect()
}

/// A transfer id from the address; anything that is not one names nothing.
fn transfer_id(raw: &str) -> Result<crate::domain::TransferId, PageError> {
    raw.parse().map_err(|_| PageError::not_found())
}
