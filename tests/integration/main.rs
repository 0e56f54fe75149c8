//! Every integration test, in one binary: each extra test binary links the whole dependency tree
//! again, so a new area is a module here, not a new file under `tests/`. Run one area with
//! `cargo test --test integration <module>::`.

#[path = "../support/mod.rs"]
mod support;

mod audit_trail;
mod audit_verify;
mod authentication;
mod authorization_matrix;
mod backend_faults;
mod batches;
mod blob_store_conformance;
mod browser_harness;
mod channel_admin;
mod channel_functions;
mod channel_matrix;
mod channels;
mod cli_admin;
mod cli_retention;
mod cli_users;
mod crash_recovery;
mod crash_rounds;
mod fuzz_corpora;
mod graceful_shutdown;
mod group_commit;
mod hostile;
mod hostile_inputs;
mod layout;
mod login_limits;
mod master_key_from_env;
mod memory_1gib;
mod messages;
mod metrics;
mod multi_node;
mod object_format_vectors;
mod object_store_outage;
mod postgres_end_to_end;
mod public_routes;
mod register_import;
mod repository_conformance;
mod retention;
mod s3_end_to_end;
mod stored_object_tampering;
mod systemd_unit;
mod transfers_api;
mod unclaimed;
mod web_account;
mod web_browser_pages;
mod web_browser_school;
mod web_browser_team;
mod web_frame;
mod web_la_collect;
mod web_la_routing;
mod web_mail;
