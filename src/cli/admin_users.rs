//! `pigeonpost admin user ...` and `admin function ...`: the operator's tools for people.

use std::io::BufRead;

use anyhow::Context;
use clap::Subcommand;
use secrecy::{ExposeSecret, SecretString};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::config::Settings;
use crate::domain::Role;
use crate::service::users::{self, NewUserRequest};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an active account. The initial password is read from stdin with
    /// --password-stdin, else generated and printed once.
    Add {
        /// The organisation: 825/2001, 8252001 or a team slug.
        #[arg(long)]
        org: String,
        #[arg(long)]
        username: String,
        /// school_user, school_admin, la_user, la_admin or system_admin.
        #[arg(long)]
        role: Role,
        /// The person's name as shown to others (defaults to the username).
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        password_stdin: bool,
        /// A function the person holds (data, assessment, finance, admissions, ...); repeat the
        /// flag for several. Channels route to the people holding a function.
        #[arg(long = "function", value_name = "FUNCTION")]
        functions: Vec<String>,
    },
    /// Disable an account at once; its sessions end.
    Disable {
        username: String,
        #[arg(long, default_value = "disabled by the operator")]
        reason: String,
    },
    /// Enable a disabled account again.
    Enable { username: String },
    /// Approve an account a school administrator asked for.
    Approve { username: String },
    /// Set a new password (from stdin with --password-stdin, else generated and printed once); sessions end.
    ResetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Give the user a new second factor; prints the otpauth:// URI and recovery codes once.
    ResetTotp { username: String },
    /// Set the day a leaver's account stops working (RFC 3339), or --clear it.
    Leaver {
        username: String,
        #[arg(long, required_unless_present = "clear")]
        on: Option<String>,
        #[arg(long)]
        clear: bool,
    },
    /// Give a user a function, optionally as temporary cover that lapses by itself.
    Grant {
        username: String,
        #[arg(long)]
        function: String,
        #[arg(long)]
        until: Option<String>,
    },
    /// List users.
    List {
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum FunctionCommand {
    /// Define a function (for example finance) that channels can name.
    Add {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    List,
}

fn read_password_stdin() -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("could not read the password from stdin")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password on stdin");
    Ok(SecretString::from(password))
}

/// `wanted`, without repeats, if every one is a defined function; else which are not, and the
/// functions there are.
async fn defined_functions(state: &crate::service::AppState, wanted: Vec<String>) -> anyhow::Result<Vec<String>> {
    let mut unique: Vec<String> = Vec::new();
    for f in wanted.into_iter().map(|f| f.trim().to_owned()) {
        if !unique.contains(&f) {
            unique.push(f);
        }
    }
    if unique.is_empty() {
        return Ok(unique);
    }
    let defined: Vec<String> =
        state.repo().list_functions().await?.into_iter().map(|(slug, _)| slug.to_string()).collect();
    let unknown: Vec<&str> = unique.iter().filter(|f| !defined.contains(f)).map(String::as_str).collect();
    if let Some(first) = unknown.first() {
        let named = unknown.iter().map(|f| format!("'{f}'")).collect::<Vec<_>>().join(", ");
        let there_are = if defined.is_empty() {
            "none is defined yet".to_owned()
        } else {
            format!("the functions are {}", defined.join(", "))
        };
        anyhow::bail!(
            "there is no function {named} ({there_are}): check the spelling, or define it with \
             `pigeonpost admin function add --slug {first} --name <name>`. No account was created."
        );
    }
    Ok(unique)
}

fn parse_time(raw: &str, flag: &str) -> anyhow::Result<OffsetDateTime> {
    OffsetDateTime::parse(raw, &Rfc3339)
        .map_err(|_| anyhow::anyhow!("{flag} must be an RFC 3339 time such as 2026-07-31T17:00:00Z"))
}

pub async fn run_user(settings: Settings, cmd: UserCommand) -> anyhow::Result<()> {
    let (state, _) = crate::service::startup::build(settings).await?;
    match cmd {
        UserCommand::Add { org, username, role, name, password_stdin, functions } => {
            // Checked before the account exists, so a mistyped function leaves nothing half made.
            let functions = defined_functions(&state, functions).await?;
            let password = if password_stdin { Some(read_password_stdin()?) } else { None };
            let display_name = name.unwrap_or_else(|| username.clone());
            let req = NewUserRequest { org: org.parse()?, username, display_name, role, password };
            let created = users::create(&state, None, req).await?;
            println!("added {} ({}) to {}", created.user.username, created.user.role, created.user.org.reference);
            for function in &functions {
                users::grant_function(&state, None, created.user.id, function, None).await?;
                println!("{} now holds {function}", created.user.username);
            }
            if let Some(p) = created.initial_password {
                println!("initial password (shown once): {}", p.expose_secret());
            }
            if role.requires_totp() {
                println!(
                    "the user sets up a second factor at first login, or run `pigeonpost admin user reset-totp {}`",
                    created.user.username
                );
            }
        }
        UserCommand::Disable { username, reason } => {
            let user = users::find(&state, &username).await?;
            users::set_active(&state, None, user.id, false, &reason).await?;
            println!("disabled {username}; their sessions have ended");
        }
        UserCommand::Enable { username } => {
            let user = users::find(&state, &username).await?;
            users::set_active(&state, None, user.id, true, "enabled by the operator").await?;
            println!("enabled {username}");
        }
        UserCommand::Approve { username } => {
            let user = users::find(&state, &username).await?;
            users::approve(&state, None, user.id).await?;
            println!("approved {username}");
        }
        UserCommand::ResetPassword { username, password_stdin } => {
            let user = users::find(&state, &username).await?;
            let password = if password_stdin { Some(read_password_stdin()?) } else { None };
            match users::reset_password(&state, None, user.id, password).await? {
                Some(p) => println!("new password for {username} (shown once): {}", p.expose_secret()),
                None => println!("password for {username} changed"),
            }
        }
        UserCommand::ResetTotp { username } => {
            let user = users::find(&state, &username).await?;
            let enrolment = users::reset_totp(&state, None, user.id).await?;
            println!("{}", enrolment.otpauth_uri);
            println!("recovery codes (shown once; each works once):");
            for code in &enrolment.recovery_codes {
                println!("  {}", code.expose_secret());
            }
        }
        UserCommand::Leaver { username, on, clear } => {
            let user = users::find(&state, &username).await?;
            let on = if clear { None } else { on.as_deref().map(|t| parse_time(t, "--on")).transpose()? };
            users::set_leaver_date(&state, None, user.id, on).await?;
            println!(
                "{username}: leaving date {}",
                on.map(|t| t.format(&Rfc3339).unwrap_or_default()).unwrap_or_else(|| "cleared".into())
            );
        }
        UserCommand::Grant { username, function, until } => {
            let user = users::find(&state, &username).await?;
            let until = until.as_deref().map(|t| parse_time(t, "--until")).transpose()?;
            users::grant_function(&state, None, user.id, &function, until).await?;
            println!("{username} now holds {function}");
        }
        UserCommand::List { org, json } => {
            let org = org.map(|o| o.parse()).transpose()?;
            let people = users::list(&state, None, org.as_ref()).await?;
            if json {
                let rows: Vec<_> = people
                    .iter()
                    .map(|u| {
                        serde_json::json!({ "id": u.id.0, "username": u.username.as_str(), "name": u.display_name,
                            "role": u.role.as_str(), "org": u.org.reference.to_string(), "status": u.status.as_str(),
                            "totp": u.totp_confirmed })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for u in people {
                    println!(
                        "{:<24} {:<13} {:<12} {:<9} {}",
                        u.username.as_str(),
                        u.role.as_str(),
                        u.org.reference.to_string(),
                        u.status.as_str(),
                        u.display_name
                    );
                }
            }
        }
    }
    Ok(())
}

pub async fn run_function(settings: Settings, cmd: FunctionCommand) -> anyhow::Result<()> {
    let (state, _) = crate::service::startup::build(settings).await?;
    match cmd {
        FunctionCommand::Add { slug, name } => {
            users::define_function(&state, None, &slug, &name).await?;
            println!("defined function {slug}");
        }
        FunctionCommand::List => {
            for (slug, name) in state.repo().list_functions().await? {
                println!("{slug:<20} {name}");
            }
        }
    }
    Ok(())
}
