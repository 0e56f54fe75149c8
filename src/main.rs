#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    pigeonpost::cli::run(pigeonpost::cli::Cli::parse())
}
