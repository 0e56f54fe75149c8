//! Getting in and out: signing in with a password and a second factor, the steps a person may
//! owe first (a new password, the terms of use, enrolling a second factor), and signing out.

use super::Page;

pub fn pages() -> Vec<Page> {
    Vec::new()
}
