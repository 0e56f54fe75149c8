//! The test app's builder: what the installation is (settings, backends), then which of the
//! three modes runs it. Every mode is set up through [`setup`].

use std::path::Path;

use pigeonpost::config::Settings;
use reqwest::Client;
use tempfile::TempDir;

use super::app::TestApp;
use super::postgres;
use super::router::Harness;
use super::served::InProcess;
use super::setup;

/// A change a test makes to the settings after they are read.
type Tweak<'a> = Box<dyn FnOnce(&mut Settings) + 'a>;

/// What a test app is made of, before it runs in one of its three modes.
#[derive(Default)]
pub struct Builder<'a> {
    /// Settings of its server alone, as `PIGEONPOST_*` pairs.
    env: Vec<(String, String)>,
    /// Settings its set-up, its server and any [`TestApp::peer`] share: the database URL, and for
    /// a cluster the master key and the object store.
    shared: Vec<(String, String)>,
    database: Option<postgres::TestDatabase>,
    tweaks: Vec<Tweak<'a>>,
}

pub(super) fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub(super) fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().expect("create a temporary directory")
}

impl<'a> Builder<'a> {
    /// These `PIGEONPOST_*` settings for the server, as `serve` would read them from its
    /// environment.
    pub fn env(mut self, env: &[(&str, &str)]) -> Self {
        self.env.extend(owned(env));
        self
    }

    /// These `PIGEONPOST_*` settings for the set-up, the server and its peers alike.
    pub fn shared(mut self, shared: &[(&str, &str)]) -> Self {
        self.shared.extend(owned(shared));
        self
    }

    /// On `database` (a PostgreSQL test database) instead of the embedded SQLite.
    pub fn database(mut self, database: postgres::TestDatabase) -> Self {
        self.shared.push(("PIGEONPOST_DATABASE__URL".to_owned(), database.url.clone()));
        self.database = Some(database);
        self
    }

    /// On a fresh database of its own on the PostgreSQL named by `PIGEONPOST_TEST_POSTGRES_URL`;
    /// None (the test is skipped, loudly) when it is not set.
    pub async fn postgres(self) -> Option<Self> {
        let server = postgres::server_url("end-to-end tests")?;
        Some(self.database(postgres::TestDatabase::create(&server).await))
    }

    /// Changes the settings after the `PIGEONPOST_*` pairs are read (not for a child process,
    /// which reads its own).
    pub fn settings(mut self, tweak: impl FnOnce(&mut Settings) + 'a) -> Self {
        self.tweaks.push(Box::new(tweak));
        self
    }

    fn settings_for(&mut self, data_dir: &Path) -> Settings {
        let env: Vec<(String, String)> = self.env.iter().chain(&self.shared).cloned().collect();
        let mut settings = setup::settings(data_dir, &env);
        for tweak in self.tweaks.drain(..) {
            tweak(&mut settings);
        }
        settings
    }

    /// The router without a socket, under a clock that moves only when the test moves it; no
    /// organisations yet.
    pub async fn router(mut self) -> Harness {
        let dir = temp_dir("pigeonpost-router-");
        let settings = self.settings_for(dir.path());
        Harness::build(settings, dir, self.database.take()).await
    }

    /// The three organisations and their keys, and the server running inside this process over
    /// TLS on a port of its own.
    pub fn serve(mut self) -> TestApp {
        let data_dir = temp_dir("pigeonpost-data-");
        let settings = self.settings_for(data_dir.path());
        let env: Vec<(String, String)> = self.env.iter().chain(&self.shared).cloned().collect();
        let source = setup::key_source(data_dir.path(), &env);
        let server = InProcess::start(settings, source, setup::three_organisations());
        let [key_a, key_team, key_b] = <[String; 3]>::try_from(server.keys.clone()).expect("three keys");
        let mut app = self.into_app(data_dir, [key_a, key_team, key_b]);
        app.serving_in_process(server);
        app
    }

    /// The three organisations and their keys, written on the database before it starts, and
    /// `pigeonpost serve` as a child process.
    pub fn process(self) -> TestApp {
        assert!(self.tweaks.is_empty(), "a child process reads its own settings: give them with .env()");
        let data_dir = temp_dir("pigeonpost-data-");
        let keys = setup::provision_before_start(data_dir.path(), &self.shared, setup::three_organisations());
        let keys = <[String; 3]>::try_from(keys).expect("three keys");
        let mut app = self.into_app(data_dir, keys);
        app.start_server(&[]);
        app
    }

    fn into_app(self, data_dir: TempDir, [key_a, key_team, key_b]: [String; 3]) -> TestApp {
        TestApp {
            server: None,
            in_process: None,
            base_url: String::new(),
            client: Client::new(),
            key_a,
            key_team,
            key_b,
            env: self.env,
            log_dir: temp_dir("pigeonpost-log-"),
            restarts: 0,
            data_dir,
            shared_env: self.shared,
            database: self.database,
        }
    }
}

impl TestApp {
    pub fn builder<'a>() -> Builder<'a> {
        Builder::default()
    }

    /// `TestApp::builder().serve()`: the default app, in this process.
    pub fn spawn() -> TestApp {
        Self::builder().serve()
    }
}
