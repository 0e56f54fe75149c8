//! The real server as a child process, and the admin CLI that provisions it, exactly as an
//! operator would run them. The pid of the running server is kept in a file so ops/bench's
//! trap can stop it even if this process is killed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

const STARTUP: Duration = Duration::from_secs(60);

/// How to run `pigeonpost`: its binary, and where the benchmark keeps its files.
#[derive(Clone)]
pub struct Launcher {
    pub bin: PathBuf,
    /// The trap in ops/bench kills the pid written here.
    pub pid_file: PathBuf,
    pub log_dir: PathBuf,
    /// Settings for every command (backend choice, limits), as PIGEONPOST_* variables.
    pub env: Vec<(String, String)>,
}

impl Launcher {
    /// Runs an admin command against `data_dir` and returns what it printed.
    pub fn cli(&self, data_dir: &Path, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(&self.bin)
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("could not run {}", self.bin.display()))?;
        if !out.status.success() {
            bail!(
                "pigeonpost {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs the administration tool with `input` on its standard input (a password).
    pub fn cli_with_stdin(&self, data_dir: &Path, args: &[&str], input: &str) -> anyhow::Result<String> {
        use std::io::Write;
        let mut child = Command::new(&self.bin)
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not run {}", self.bin.display()))?;
        child.stdin.take().context("the tool's stdin")?.write_all(format!("{input}\n").as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "pigeonpost {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn create_key(&self, data_dir: &Path, org: &str, name: &str, extra: &[&str]) -> anyhow::Result<String> {
        let mut args = vec!["admin", "key", "create", "--org", org, "--name", name];
        args.extend_from_slice(extra);
        let key = self.cli(data_dir, &args)?.trim().to_owned();
        if key.is_empty() || key.contains(char::is_whitespace) {
            bail!("`admin key create` printed {key:?}, not a key");
        }
        Ok(key)
    }

    /// Starts `serve` on a free loopback port and waits for its `listening on` line.
    pub fn start(&self, data_dir: &Path, label: &str) -> anyhow::Result<Server> {
        let log_path = self.log_dir.join(format!("server-{label}.log"));
        let log = std::fs::File::create(&log_path).context("creating the server log")?;
        let mut child = Command::new(&self.bin)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PIGEONPOST_LOG_LEVEL", "warn")
            // The purge worker would start purging seeded files while the listing is measured.
            .env("PIGEONPOST_RETENTION__ENABLED", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("could not start {} serve", self.bin.display()))?;
        std::fs::write(&self.pid_file, child.id().to_string()).context("writing the server pid file")?;
        let stdout = child.stdout.take().context("no stdout from the server")?;
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            // Keep draining stdout so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + STARTUP;
        let port = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("listening on https://127.0.0.1:") {
                        break rest.trim().parse::<u16>().with_context(|| format!("bad port in {line:?}"))?;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    bail!("the server did not start within {STARTUP:?}; its log:\n{log}");
                }
            }
        };
        let cert = std::fs::read(data_dir.join("tls/dev-cert.pem")).context("reading tls/dev-cert.pem")?;
        Ok(Server { child, port, cert, pid_file: self.pid_file.clone() })
    }
}

pub struct Server {
    child: Child,
    pub port: u16,
    /// The development certificate the client trusts, and nothing else.
    pub cert: Vec<u8>,
    pid_file: PathBuf,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Resets the kernel's peak-RSS mark (VmHWM) so the next reading covers one phase only.
    /// Writing 5 to clear_refs does exactly that (Linux 4.0+); false if not permitted.
    pub fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").is_ok()
    }

    /// VmHWM and VmRSS in bytes.
    pub fn memory(&self) -> anyhow::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .context("reading the server's /proc status")?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name}"))?;
            let kb: u64 = line
                .trim_start_matches(name)
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .with_context(|| format!("bad {line:?}"))?;
            Ok(kb * 1024)
        };
        Ok((field("VmHWM:")?, field("VmRSS:")?))
    }

    /// A kill, not a graceful stop: nothing is in flight and the data is thrown away.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `cp -a` of a whole data directory (database, WAL, keyring, certificate, objects).
pub fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().context("could not run cp")?;
    if !status.success() {
        bail!("cp -a {} {} failed", from.display(), to.display());
    }
    Ok(())
}
