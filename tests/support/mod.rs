//! What the integration tests share: [`app::TestApp`] and its [`builder`], which makes the
//! installation once ([`setup`]: settings, state, organisations, people and keys through the
//! service layer) and runs it as the router without a socket ([`router::Harness`], under a clock
//! the test moves), as a server over TLS in this process ([`served`]) or as a process of its own
//! ([`process`], with the admin CLI); its requests ([`requests`]); organisations, people and keys
//! added by a test ([`people`]); and the throwaway PostgreSQL and SeaweedFS backends a test asks
//! for.

pub mod app;
pub mod browser;
pub mod builder;
pub mod pattern;
pub mod people;
pub mod postgres;
pub mod process;
pub mod replies;
pub mod requests;
pub mod router;
pub mod s3;
pub mod served;
pub mod setup;
