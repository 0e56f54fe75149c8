//! What the layers of one request leave for each other in its extensions: the peer address the
//! server saw, and the principal the authentication extractor resolved.

use std::sync::{Arc, Mutex};

use crate::policy::Principal;

/// The peer address of the connection, inserted by the server for every request.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::SocketAddr);

impl ClientAddr {
    /// The address as the audit trail records it.
    pub fn ip(&self) -> String {
        self.0.ip().to_string()
    }
}

/// Where the authentication extractor leaves the request's principal, for the layer that
/// records refusals to find once the handler has answered.
#[derive(Clone, Default)]
pub struct PrincipalSlot(Arc<Mutex<Option<Principal>>>);

impl PrincipalSlot {
    pub fn fill(&self, who: &Principal) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(who.clone());
        }
    }

    pub fn take(&self) -> Option<Principal> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}
