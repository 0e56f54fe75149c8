//! `pigeonpost-bench`: the load generator behind `ops/bench`.
//!
//! `run` measures the machine's ceilings, provisions a data directory with the real admin CLI,
//! starts the real server, drives it over HTTPS on loopback, and prints the figures as a table
//! and as JSON. `seed` and `purge` are the steps `run` performs in a child process against a
//! stopped server's data directory, through the library's own repository.

mod ceilings;
mod client;
mod pages;
mod report;
mod seed;
mod server;
mod stats;
mod workloads;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};

use crate::client::Api;
use crate::report::{Report, Target};
use crate::server::{copy_dir, Launcher};
use crate::workloads::{Keys, GIB, MIB};

#[derive(Parser)]
#[command(name = "pigeonpost-bench", about = "Measure Pigeonpost against this machine's own limits")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// SQLite and a local directory: what `pigeonpost serve` uses with no configuration.
    Embedded,
    /// PostgreSQL and S3 (SeaweedFS), configured through PIGEONPOST_* variables by ops/bench.
    PostgresS3,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    Large,
    Small,
    Memory,
    Batch,
    Listing,
    Purge,
}

#[derive(Subcommand)]
enum Cmd {
    /// Every workload, in order; the table on stdout, the JSON in --out.
    Run {
        /// The release build of the server.
        #[arg(long)]
        bin: PathBuf,
        /// An empty directory for data directories and logs (on the disk being measured).
        #[arg(long)]
        work: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "embedded")]
        backend: Backend,
        /// Skip the 4 GiB upload and use fewer listing rows, for a quick look.
        #[arg(long)]
        quick: bool,
        /// Where the listing's transfers are seeded before being copied to --work (embedded
        /// backend only): a RAM disk makes seeding fast without changing what is measured.
        #[arg(long, default_value = "/dev/shm")]
        seed_root: PathBuf,
        /// Only these workloads (the ceilings always run), to iterate on one figure:
        /// large, small, memory, batch, listing, purge. Every workload when not given.
        #[arg(long, value_delimiter = ',')]
        only: Vec<Workload>,
    },
    /// Seed transfers into a data directory whose server is stopped.
    Seed {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        count: u64,
        #[arg(long, default_value_t = 0)]
        days_old: i64,
    },
    /// Purge everything due in a data directory whose server is stopped, timing it.
    Purge {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 300)]
        limit_secs: u64,
    },
}

/// The ceiling row that small uploads are compared with.
pub const OBJECT_CEILING: &str = "durable 64 KiB files, 16 writers (fsync, rename, dir fsync)";

const SCHOOL: &str = "825/2001";
const OTHER_SCHOOL: &str = "825/2002";
const TEAM: &str = "smst";
const BATCH_SCHOOLS: u32 = 300;
/// Older than the `general` channel's 90-day retention, so every seeded transfer is due.
const SEED_DAYS_OLD: i64 = 100;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: no async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Cmd::Run { bin, work, out, backend, quick, seed_root, only } => {
                run(&bin, &work, &out, backend, quick, &seed_root, &only).await
            }
            Cmd::Seed { data_dir, count, days_old } => {
                let s = seed::seed(data_dir, count, days_old, OTHER_SCHOOL, &[SCHOOL, TEAM]).await?;
                println!("{}", serde_json::to_string(&s)?);
                Ok(())
            }
            Cmd::Purge { data_dir, limit_secs } => {
                let p = seed::purge(data_dir, Duration::from_secs(limit_secs)).await?;
                println!("{}", serde_json::to_string(&p)?);
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn step(what: &str) {
    eprintln!("==> {what}  (load average {})", loadavg());
}

/// Provisions `dir` as an operator would: migrations, the register (schools), the team, keys.
fn provision(launcher: &Launcher, dir: &Path, work: &Path, schools: u32) -> anyhow::Result<(Keys, String)> {
    launcher.cli(dir, &["migrate"])?;
    let csv = work.join("edubase.csv");
    std::fs::write(&csv, workloads::gias_csv(schools))?;
    launcher.cli(dir, &["admin", "org", "import-gias", csv.to_str().context("path")?, "--la", "825"])?;
    launcher.cli(
        dir,
        &["admin", "org", "add", "--kind", "team", "--slug", TEAM, "--name", "School Management Support Team"],
    )?;
    let keys = Keys {
        school: launcher.create_key(dir, SCHOOL, "bench-school", &[])?,
        team: launcher.create_key(dir, TEAM, "bench-team", &[])?,
    };
    let batch = launcher.create_key(dir, TEAM, "bench-checking-job", &["--channels", "*"])?;
    launcher.cli_with_stdin(
        dir,
        &[
            "admin",
            "user",
            "add",
            "--org",
            SCHOOL,
            "--username",
            pages::OFFICE_USER,
            "--role",
            "school_user",
            "--password-stdin",
        ],
        pages::OFFICE_PASSWORD,
    )?;
    Ok((keys, batch))
}

/// Runs this program's `seed` or `purge` step as a child and parses its JSON line.
fn child_step(launcher: &Launcher, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let me = std::env::current_exe().context("finding the bench binary")?;
    let out = Command::new(me)
        .args(args)
        .envs(launcher.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PIGEONPOST_RETENTION__ENABLED", "false")
        .output()
        .context("running a bench step")?;
    if !out.status.success() {
        bail!("bench step {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    serde_json::from_slice(&out.stdout).context("the bench step printed no JSON")
}

async fn run(
    bin: &Path,
    work: &Path,
    out: &Path,
    backend: Backend,
    quick: bool,
    seed_root: &Path,
    only: &[Workload],
) -> anyhow::Result<()> {
    let wanted = |w: Workload| only.is_empty() || only.contains(&w);
    std::fs::create_dir_all(work)?;
    let bin = std::fs::canonicalize(bin).with_context(|| format!("no server binary at {}", bin.display()))?;
    let mut env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("PIGEONPOST_")).collect();
    // Room for the 4 GiB upload whatever the default becomes.
    env.push(("PIGEONPOST_TRANSFERS__MAX_UPLOAD_BYTES".into(), (6 * GIB).to_string()));
    let launcher = Launcher { bin, pid_file: work.join("server.pid"), log_dir: work.to_owned(), env };
    let mut report = Report::default();
    let load_start = loadavg();

    step("ceilings");
    let seal = tokio::task::spawn_blocking(ceilings::seal_mb_s).await?;
    let open = tokio::task::spawn_blocking(ceilings::open_mb_s).await??;
    let tls = ceilings::tls_sink_mb_s(GIB).await?;
    let fsyncs = ceilings::fsync_per_s(work)?;
    let objects = ceilings::object_writes_per_s(work, 16)?;
    report.add("ceiling", "seal (SHA-256 + ChaCha20-Poly1305, 1 core)", seal, "MB/s");
    report.add("ceiling", "open (ChaCha20-Poly1305, 1 core)", open, "MB/s");
    report.add("ceiling", "TLS loopback sink, 1 stream", tls, "MB/s");
    report.add("ceiling", "durable writes in a row (4 KiB + fdatasync)", fsyncs, "per s");
    report.add("ceiling", OBJECT_CEILING, objects, "per s");

    step("provisioning the server's data directory");
    let data = work.join("data");
    let (keys, batch_key) = provision(&launcher, &data, work, BATCH_SCHOOLS)?;
    let server = launcher.start(&data, "main")?;
    let api = Api::new(server.base_url(), &server.cert)?;

    if wanted(Workload::Large) {
        step("large files: 1 GiB upload and download");
        workloads::large(&api, &server, &keys, GIB, true, &mut report).await?;
        step("large files: 1 GiB upload through the browser's send form");
        let cookie = pages::office_cookie(&api).await?;
        pages::send_form_upload(&api, &server, &cookie, GIB, &mut report).await?;
        if quick {
            report.note("--quick: the 4 GiB upload was skipped");
        } else {
            step("large files: 4 GiB upload");
            workloads::large(&api, &server, &keys, 4 * GIB, false, &mut report).await?;
        }
    }

    if wanted(Workload::Small) {
        for c in [16, 64] {
            step(&format!("small files: 5000 x 64 KiB at concurrency {c}"));
            workloads::small(&api, &keys, 5000, 64 * 1024, c, Duration::from_secs(120), &mut report).await?;
        }
    }

    if wanted(Workload::Memory) {
        step("memory under concurrency: 32 x 256 MiB");
        workloads::concurrent_memory(&api, &server, &keys, 32, 256 * MIB, &mut report).await?;
    }

    if wanted(Workload::Batch) {
        step("batch routing: a 300-file zip of checking files");
        workloads::batch(&api, &batch_key, BATCH_SCHOOLS, &mut report).await?;
    }
    drop(api);
    server.stop();

    if wanted(Workload::Listing) || wanted(Workload::Purge) {
        listing_and_purge(
            &launcher,
            work,
            &data,
            keys,
            backend,
            quick,
            seed_root,
            wanted(Workload::Listing),
            &mut report,
        )
        .await?;
    }

    report.machine = serde_json::json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "load_average_start": load_start,
        "load_average_end": loadavg(),
        "backend": match backend { Backend::Embedded => "embedded (SQLite + local directory)", Backend::PostgresS3 => "PostgreSQL + S3 (SeaweedFS)" },
        "quick": quick,
    });
    print!("{}", report.table());
    for n in &report.notes {
        println!("- {n}");
    }
    println!("load average: {} at the start, {} at the end", load_start, loadavg());
    std::fs::write(out, serde_json::to_vec_pretty(&report)?).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("figures written to {}", out.display());
    Ok(())
}

/// Seeds the listing's transfers, lists them (when `list`), then purges them all, timing it.
#[allow(clippy::too_many_arguments)]
async fn listing_and_purge(
    launcher: &Launcher,
    work: &Path,
    data: &Path,
    keys: Keys,
    backend: Backend,
    quick: bool,
    seed_root: &Path,
    list: bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    let rows: u64 = if quick { 20_000 } else { 100_000 };
    step(&format!("listing: seeding {rows} transfers into a school's and a team's inbox"));
    let (listing_dir, listing_keys) = match backend {
        Backend::Embedded => {
            // Seeded on a RAM disk (fsync is free there), then copied whole to the measured disk.
            let seed_dir = tempdir_in(seed_root)?;
            let (k, _) = provision(launcher, &seed_dir, work, 0)?;
            let s = child_step(
                launcher,
                &[
                    "seed",
                    "--data-dir",
                    path_str(&seed_dir)?,
                    "--count",
                    &rows.to_string(),
                    "--days-old",
                    &SEED_DAYS_OLD.to_string(),
                ],
            )?;
            let dest = work.join("listing");
            copy_dir(&seed_dir, &dest)?;
            std::fs::remove_dir_all(&seed_dir)?;
            report.note(format!(
                "listing: {rows} transfers seeded through the library's repository (insert_transfers, with a sealed empty object, a wrapped key and an audit event each) in {:.1} s on {}, then copied to the disk",
                s["seconds"].as_f64().unwrap_or(0.0),
                seed_root.display()
            ));
            (dest, k)
        }
        Backend::PostgresS3 => {
            // One database for the whole run: seed beside the workloads' own transfers.
            let s = child_step(
                launcher,
                &[
                    "seed",
                    "--data-dir",
                    path_str(data)?,
                    "--count",
                    &rows.to_string(),
                    "--days-old",
                    &SEED_DAYS_OLD.to_string(),
                ],
            )?;
            report.note(format!(
                "listing: {rows} transfers seeded through the library's repository in {:.1} s, beside the earlier workloads' transfers",
                s["seconds"].as_f64().unwrap_or(0.0)
            ));
            (data.to_path_buf(), keys)
        }
    };
    if list {
        let server = launcher.start(&listing_dir, "listing")?;
        let api = Api::new(server.base_url(), &server.cert)?;
        step("listing: the school's inbox");
        workloads::listing(&api, "school inbox", &listing_keys.school, 200, report).await?;
        step("listing: the team's inbox");
        workloads::listing(&api, "team inbox", &listing_keys.team, 200, report).await?;
        step("listing: the school's inbox page, as a browser asks for it");
        let cookie = pages::office_cookie(&api).await?;
        pages::inbox(&api, &cookie, 200, report).await?;
        drop(api);
        server.stop();
    }

    step(&format!("purge: {rows} expired transfers"));
    let p = child_step(launcher, &["purge", "--data-dir", path_str(&listing_dir)?, "--limit-secs", "240"])?;
    let purged = p["purged"].as_f64().unwrap_or(0.0);
    let secs = p["seconds"].as_f64().unwrap_or(0.0);
    let w = format!("purge {rows}");
    if p["finished"] != true {
        report.note(format!("purge: stopped at its 240 s limit after {purged} transfers"));
    }
    report
        .add(&w, &format!("{purged} transfers purged"), secs, "s")
        .target(Target::Below(60.0 * rows as f64 / 100_000.0));
    let fsync = report.value_of("ceiling", "durable writes in a row (4 KiB + fdatasync)");
    report.add(&w, "purge rate", purged / secs.max(1e-9), "transfers/s").vs("fsync", fsync);
    report.note(format!(
        "purge: retention run_once repeated {} times (batch_size {}) until nothing was due",
        p["runs"], p["batch_size"]
    ));

    Ok(())
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("a path that is not UTF-8")
}

/// A fresh directory under `root` (removed by the caller once copied).
fn tempdir_in(root: &Path) -> anyhow::Result<PathBuf> {
    let dir = root.join(format!("pigeonpost-bench-seed-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
