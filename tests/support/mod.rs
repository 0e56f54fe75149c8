//! What the integration tests share: [`app::TestApp`], the server over TLS (in this process by
//! default, or as a process of its own for what needs one); [`inproc::Harness`], the router
//! answered without a socket under a clock the test moves; people and keys; and the throwaway
//! PostgreSQL and SeaweedFS backends a test asks for.

pub mod app;
pub mod inproc;
pub mod pattern;
pub mod people;
pub mod postgres;
pub mod replies;
pub mod s3;
pub mod served;
