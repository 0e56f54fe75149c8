//! Pigeonpost: secure file exchange between a local authority and its schools.
//!
//! The layers, from the outside in: [`cli`] the commands; [`http`] parses requests and maps
//! results to responses, and [`workers`] run the background jobs; [`service`] holds the use
//! cases and, in [`service::startup`], the building of the state they share; [`policy`]
//! answers every access question; [`store`] holds the database and object-store seams;
//! [`audit`] the hash-chained trail; [`domain`] the rules, types and records (no I/O);
//! [`crypto`] the envelope encryption and [`identity`] passwords, tokens and second factors.
//! Imports point only inwards, and a test (`src/layering.rs`) keeps them so. Beside [`cli`],
//! [`fuzzing`] holds the entry points that the fuzz targets and their corpus replay share.
#![forbid(unsafe_code)]

pub mod audit;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod fuzzing;
pub mod http;
pub mod identity;
#[cfg(test)]
mod layering;
pub mod metrics;
pub mod policy;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod workers;
