//! The pages everyone uses: home, sending files, the inbox and sent items, and a transfer's
//! thread with its replies and receipts.

use super::Page;

pub fn pages() -> Vec<Page> {
    Vec::new()
}
