//! What the integration tests share: the in-process harness, the harness that runs the real
//! binary, people and keys made through the API, and the throwaway PostgreSQL and SeaweedFS
//! backends a test asks for.

pub mod inproc;
pub mod people;
pub mod postgres;
pub mod process;
pub mod s3;
pub mod served;
