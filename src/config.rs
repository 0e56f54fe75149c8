//! Typed settings: the defaults in `config/default.toml` (compiled in, so the binary runs from
//! any directory), then an optional file, then `PIGEONPOST_*` environment variables, then
//! command-line flags.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Environment variables that carry secrets, read directly where they are needed and never
/// merged into the settings (so they cannot end up in a debug print of them).
pub const SECRET_ENV: &[&str] = &["master_key", "retired_master_keys"];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Where `/metrics` is served, or empty for nowhere.
    pub metrics_listen: String,
    pub shutdown_grace_secs: u64,
    pub log_level: String,
    pub log_format: LogFormat,
    pub channels_path: PathBuf,
    pub bank_holidays_path: PathBuf,
    pub database: DatabaseSettings,
    pub storage: StorageSettings,
    pub tls: TlsSettings,
    pub transfers: TransferSettings,
    pub batches: BatchSettings,
    pub workers: WorkerSettings,
    pub audit: AuditSettings,
    pub retention: RetentionSettings,
    pub identity: IdentitySettings,
    pub web: WebSettings,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Compact,
    Json,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
    /// PostgreSQL only: connections kept open even when idle.
    pub min_connections: u32,
    /// PostgreSQL only: idle connections above the minimum close after this long (0: never).
    pub idle_timeout_secs: u64,
    /// PostgreSQL only: connections are replaced after this long (0: never).
    pub max_lifetime_secs: u64,
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_secs", &self.acquire_timeout_secs)
            .field("min_connections", &self.min_connections)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .field("max_lifetime_secs", &self.max_lifetime_secs)
            .finish()
    }
}

/// Hides the password of a URL such as `postgres://user:secret@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    pub kind: StorageKind,
    pub path: PathBuf,
    pub s3: S3Settings,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    Local,
    S3,
}

/// Where the S3 store is. Credentials are deliberately absent: they come from the environment
/// or the standard AWS chain, so no settings file, and no debug print of these, can hold them.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub prefix: String,
    pub force_path_style: bool,
    pub connect_timeout_secs: u64,
    pub request_timeout_secs: u64,
    pub max_attempts: u32,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An endpoint written as https://key:secret@host would otherwise print its secret.
        f.debug_struct("S3Settings")
            .field("endpoint", &redact_url(&self.endpoint))
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("force_path_style", &self.force_path_style)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TransferSettings {
    pub max_upload_bytes: u64,
    pub body_idle_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSettings {
    pub max_upload_bytes: u64,
    pub max_entries: usize,
    pub max_total_uncompressed_bytes: u64,
    pub max_total_ratio: u64,
    pub max_entry_bytes: u64,
    pub max_ratio: u64,
}

impl BatchSettings {
    pub fn limits(&self) -> crate::domain::batch::BatchLimits {
        crate::domain::batch::BatchLimits {
            max_entries: self.max_entries,
            max_total_uncompressed: self.max_total_uncompressed_bytes,
            max_total_ratio: self.max_total_ratio,
            max_entry_uncompressed: self.max_entry_bytes,
            max_ratio: self.max_ratio,
            allow_nested_zip: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    pub checkpoint_path: PathBuf,
    pub checkpoint_interval_secs: u64,
    pub download_alert_files: u64,
    pub download_alert_bytes: u64,
    pub download_alert_window_secs: u64,
    pub download_alert_suspend: bool,
    /// Refusals of anonymous requests from one address, of one kind, within this many seconds
    /// are written as the first one and then one count (see `audit::tally`).
    pub anonymous_refusal_window_secs: u64,
    /// Addresses counted one by one at once; refusals from any more share one count.
    pub anonymous_refusal_sources: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub orphan_grace_secs: u64,
    pub orphan_sweep_interval_secs: u64,
    pub lease_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    pub enabled: bool,
    pub interval_secs: u64,
    pub batch_size: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySettings {
    pub access_token_ttl_secs: u64,
    pub session_ttl_secs: u64,
    pub inactivity_days: u64,
    pub user_list_confirmation_days: u64,
    pub lockout_threshold: u64,
    pub lockout_window_secs: u64,
    pub lockout_secs: u64,
    pub address_threshold: u64,
    /// Password checks run at once; unset: the number of cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_concurrency: Option<usize>,
    /// Password checks that may wait for one of those; unset: four times `hash_concurrency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_queue: Option<usize>,
    pub single_session: bool,
    pub terms_version: u32,
    pub terms_path: PathBuf,
    pub totp_issuer: String,
}

impl IdentitySettings {
    /// How many password checks run at once: the setting, else the number of cores.
    pub fn hash_concurrency(&self) -> usize {
        self.hash_concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
            .max(1)
    }

    /// How many password checks may wait before more are refused as busy.
    pub fn hash_queue(&self) -> usize {
        self.hash_queue.unwrap_or_else(|| 4 * self.hash_concurrency())
    }
}

/// The browser pages' words about who runs the service.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    pub authority_name: String,
    pub service_name: String,
}

/// `PIGEONPOST_TEST_*` belongs to the test harness (`PIGEONPOST_TEST_POSTGRES_URL` and the
/// like, set by ops/test for a whole run): never a setting, so the server and the CLI that the
/// tests start must not refuse it as a misspelt one.
fn is_test_harness_env(key: &str) -> bool {
    key.get(..5).is_some_and(|head| head.eq_ignore_ascii_case("test_"))
}

/// Flags that override every other layer.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
}

impl Settings {
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        Self::figment(file, overrides)
            .extract()
            .context("the settings are not valid (see config/default.toml for every setting and its meaning)")
    }

    fn figment(file: Option<&Path>, overrides: &Overrides) -> Figment {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(
                Env::prefixed("PIGEONPOST_")
                    .filter(|key| !is_test_harness_env(key.as_str()))
                    .split("__")
                    .ignore(SECRET_ENV),
            )
            .merge(Serialized::defaults(overrides))
    }

    /// The metrics listener's address, or `None` when metrics are switched off.
    pub fn metrics_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        let text = self.metrics_listen.trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).with_context(|| {
            format!("metrics_listen '{text}' is not an address such as 127.0.0.1:9464 (or empty to switch metrics off)")
        })
    }

    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("pigeonpost.db").display())
        } else {
            self.database.url.clone()
        }
    }

    pub fn checkpoint_path(&self) -> PathBuf {
        if self.audit.checkpoint_path.as_os_str().is_empty() {
            self.data_dir.join("audit-checkpoints.jsonl")
        } else {
            self.audit.checkpoint_path.clone()
        }
    }

    pub fn storage_root(&self) -> PathBuf {
        if self.storage.path.as_os_str().is_empty() {
            self.data_dir.clone()
        } else {
            self.storage.path.clone()
        }
    }

    pub fn tls_files(&self) -> Option<(PathBuf, PathBuf)> {
        let (c, k) = (&self.tls.cert_path, &self.tls.key_path);
        (!c.as_os_str().is_empty() || !k.as_os_str().is_empty()).then(|| (c.clone(), k.clone()))
    }
}

#[cfg(test)]
// figment::Jail fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_defaults_load_on_their_own() {
        let s: Settings = Figment::from(Toml::string(DEFAULT_TOML)).extract().unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.storage.kind, StorageKind::Local);
        assert!(s.tls_files().is_none());
        assert_eq!(s.metrics_addr().unwrap(), Some("127.0.0.1:9464".parse().unwrap()), "metrics stay on loopback");
    }

    #[test]
    fn the_documented_batch_limits_are_the_readers_own_defaults() {
        let s: Settings = Figment::from(Toml::string(DEFAULT_TOML)).extract().unwrap();
        assert_eq!(s.batches.limits(), crate::domain::batch::BatchLimits::default());
    }

    #[test]
    fn the_production_example_is_a_valid_configuration() {
        let example = include_str!("../ops/config/production.example.toml");
        let s: Settings = Figment::from(Toml::string(DEFAULT_TOML)).merge(Toml::string(example)).extract().unwrap();
        assert_eq!(s.storage.kind, StorageKind::S3);
        assert!(s.metrics_addr().unwrap().is_some_and(|a| a.ip().is_loopback()));
    }

    #[test]
    fn metrics_are_switched_off_by_an_empty_address_and_a_bad_one_is_refused() {
        let mut s: Settings = Figment::from(Toml::string(DEFAULT_TOML)).extract().unwrap();
        s.metrics_listen = String::new();
        assert_eq!(s.metrics_addr().unwrap(), None);
        s.metrics_listen = "localhost".into();
        let err = s.metrics_addr().unwrap_err();
        assert!(format!("{err:#}").contains("metrics_listen"), "{err:#}");
    }

    #[test]
    fn files_environment_and_flags_override_in_that_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("site.toml", "listen = \"0.0.0.0:9443\"\n[transfers]\nmax_upload_bytes = 10\n")?;
            jail.set_env("PIGEONPOST_TRANSFERS__MAX_UPLOAD_BYTES", "20");
            jail.set_env("PIGEONPOST_MASTER_KEY", "not a setting");
            let s = Settings::load(Some(Path::new("site.toml")), &Overrides::default()).unwrap();
            assert_eq!(s.listen.to_string(), "0.0.0.0:9443");
            assert_eq!(s.transfers.max_upload_bytes, 20);
            let flags = Overrides { data_dir: Some("/srv/pp".into()), listen: Some("127.0.0.1:0".parse().unwrap()) };
            let s = Settings::load(Some(Path::new("site.toml")), &flags).unwrap();
            assert_eq!(s.listen.to_string(), "127.0.0.1:0");
            assert_eq!(s.data_dir, PathBuf::from("/srv/pp"));
            Ok(())
        });
    }

    #[test]
    fn the_test_harness_variables_are_not_settings() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PIGEONPOST_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres");
            jail.set_env("PIGEONPOST_TEST_REQUIRE_BACKENDS", "1");
            Settings::load(None, &Overrides::default()).unwrap();
            jail.set_env("PIGEONPOST_TESTING", "1");
            assert!(Settings::load(None, &Overrides::default()).is_err(), "only the TEST_ prefix is reserved");
            Ok(())
        });
    }

    #[test]
    fn a_misspelt_setting_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("site.toml", "[transfers]\nmax_upload_byte = 10\n")?;
            let err = Settings::load(Some(Path::new("site.toml")), &Overrides::default()).unwrap_err();
            assert!(format!("{err:#}").contains("max_upload_byte"), "{err:#}");
            Ok(())
        });
    }

    #[test]
    fn database_passwords_are_not_printed() {
        assert_eq!(redact_url("postgres://pp:hunter2@db:5432/pp"), "postgres://pp:***@db:5432/pp");
        let d = DatabaseSettings {
            url: "postgres://pp:hunter2@db/pp".into(),
            max_connections: 1,
            acquire_timeout_secs: 1,
            min_connections: 0,
            idle_timeout_secs: 0,
            max_lifetime_secs: 0,
        };
        assert!(!format!("{d:?}").contains("hunter2"));
    }

    #[test]
    fn s3_settings_come_from_the_environment_and_never_print_a_secret() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PIGEONPOST_STORAGE__KIND", "s3");
            jail.set_env("PIGEONPOST_STORAGE__S3__BUCKET", "pp-files");
            jail.set_env("PIGEONPOST_STORAGE__S3__ENDPOINT", "http://user:sekrit-in-url@127.0.0.1:8333");
            jail.set_env("PIGEONPOST_STORAGE__S3__FORCE_PATH_STYLE", "true");
            jail.set_env("AWS_SECRET_ACCESS_KEY", "sekrit-from-env");
            let s = Settings::load(None, &Overrides::default()).unwrap();
            assert_eq!(s.storage.kind, StorageKind::S3);
            assert_eq!(s.storage.s3.bucket, "pp-files");
            assert!(s.storage.s3.force_path_style);
            let printed = format!("{s:?}");
            assert!(!printed.contains("sekrit"), "{printed}");
            Ok(())
        });
    }

    #[test]
    fn the_test_suites_backend_variables_are_not_settings() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PIGEONPOST_TEST_S3_ENDPOINT", "http://127.0.0.1:1");
            jail.set_env("PIGEONPOST_TEST_REQUIRE_BACKENDS", "1");
            jail.set_env("PIGEONPOST_LOG_LEVEL", "debug");
            let s = Settings::load(None, &Overrides::default()).unwrap();
            assert_eq!(s.log_level, "debug");
            Ok(())
        });
    }

    #[test]
    fn credentials_are_not_a_setting() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("site.toml", "[storage.s3]\nsecret_access_key = \"x\"\n")?;
            let err = Settings::load(Some(Path::new("site.toml")), &Overrides::default()).unwrap_err();
            assert!(format!("{err:#}").contains("secret_access_key"), "{err:#}");
            Ok(())
        });
    }
}
