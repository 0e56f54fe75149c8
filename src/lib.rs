//! Pigeonpost: secure file exchange between a local authority and its schools.
//!
//! The layers, from the outside in: [`http`] parses requests and maps results to responses,
//! [`policy`] answers every access question, [`service`] holds the use cases, [`domain`] the
//! rules and types (no I/O), [`crypto`] the envelope encryption, [`store`] the database and
//! object-store seams, and [`workers`] the background jobs.
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod identity;
#[cfg(test)]
mod layering;
pub mod metrics;
pub mod policy;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod workers;
