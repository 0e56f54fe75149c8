use clap::{Args, Subcommand, ValueEnum};
use secrecy::ExposeSecret;

use super::admin_users::{FunctionCommand, UserCommand};
use crate::audit::Actor;
use crate::config::Settings;
use crate::domain::{DfeNumber, OrgKind, OrgRef};
use anyhow::Context;

use crate::domain::records::KeyScope;
use crate::service::register::RegisterEntry;
use crate::service::{api_keys, organisations, register};
use crate::store::Repository;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Organisations: schools (by DfE number) and LA teams (by slug).
    #[command(subcommand)]
    Org(OrgCommand),
    /// API keys for automated jobs.
    #[command(subcommand)]
    Key(KeyCommand),
    /// People: accounts, passwords, second factors.
    #[command(subcommand)]
    User(UserCommand),
    /// Functions people hold within their organisation (data, finance, ...).
    #[command(subcommand)]
    Function(FunctionCommand),
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Add a school or an LA team.
    Add(OrgAdd),
    /// Create or update schools from the GIAS establishment export (edubasealldata*.csv).
    ///
    /// With --links, a closed school that an open school carries on (directly or through up to
    /// four successions) is added as closed, so that files for its old numbers forward.
    ImportGias {
        file: std::path::PathBuf,
        /// Only establishments of this local authority (its three-digit code, e.g. 825).
        #[arg(long)]
        la: Option<u16>,
        /// The GIAS links export, to connect schools to their predecessors.
        #[arg(long)]
        links: Option<std::path::PathBuf>,
        /// Show what would change without changing anything.
        #[arg(long)]
        dry_run: bool,
        /// Also list each ignored link and each closed school left out, with the reason.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Close an organisation: it keeps its history but can no longer log in or receive.
    Close {
        /// 825/2001, 8252001 or a team slug.
        org: String,
    },
    /// List organisations; a closed one with the organisations that carry it on.
    List {
        /// open (including proposed to open or to close), closed, or all.
        #[arg(long, value_enum, default_value = "all")]
        status: StatusArg,
        /// Print JSON, one array, for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Open,
    Closed,
    All,
}

impl From<StatusArg> for register::StatusFilter {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Open => Self::Open,
            StatusArg::Closed => Self::Closed,
            StatusArg::All => Self::All,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    School,
    Team,
}

#[derive(Debug, Args)]
pub struct OrgAdd {
    #[arg(long, value_enum)]
    kind: KindArg,
    /// A school's DfE number: 825/2001 or 8252001.
    #[arg(long, required_if_eq("kind", "school"), conflicts_with = "slug")]
    dfe: Option<String>,
    /// A team's slug: lower-case letters, digits and hyphens, e.g. smst.
    #[arg(long, required_if_eq("kind", "team"))]
    slug: Option<String>,
    #[arg(long)]
    name: String,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key; prints the key, once, and nothing else on stdout.
    Create {
        /// The organisation the key acts for: 825/2001, 8252001 or a team slug.
        #[arg(long)]
        org: String,
        /// A name saying what the key is for, e.g. census-upload.
        #[arg(long)]
        name: String,
        /// Channels the key may use, comma-separated, or * for all.
        #[arg(long, default_value = "general", value_delimiter = ',')]
        channels: Vec<String>,
        /// What the key may do.
        #[arg(long, value_enum, default_value = "both")]
        direction: Direction,
        /// When the key stops working (RFC 3339, e.g. 2027-07-31T00:00:00Z).
        #[arg(long)]
        expires: Option<String>,
    },
    /// Revoke a key at once, by its id (the 16 characters after `pp_`).
    Revoke { id: String },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Direction {
    Send,
    Receive,
    Both,
}

pub async fn run(settings: Settings, cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::User(cmd) => super::admin_users::run_user(settings, cmd).await,
        AdminCommand::Function(cmd) => super::admin_users::run_function(settings, cmd).await,
        AdminCommand::Org(cmd) => {
            // Administration of the register needs only the database: never the keyring or the store.
            let repo = crate::service::startup::open_repository(&settings).await?;
            run_org(repo.as_ref(), cmd).await
        }
        AdminCommand::Key(cmd) => {
            let repo = crate::service::startup::open_repository(&settings).await?;
            run_key(repo.as_ref(), cmd).await
        }
    }
}

async fn run_org(repo: &dyn Repository, cmd: OrgCommand) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    match cmd {
        OrgCommand::Add(add) => {
            let (kind, reference) = match add.kind {
                KindArg::School => {
                    let dfe: DfeNumber = add.dfe.as_deref().unwrap_or_default().parse()?;
                    (OrgKind::School, OrgRef::School(dfe))
                }
                KindArg::Team => (OrgKind::Team, OrgRef::Team(add.slug.as_deref().unwrap_or_default().parse()?)),
            };
            let org = organisations::create(repo, now, Actor::operator(), kind, reference, &add.name).await?;
            println!("added {} {} \"{}\"", org.kind.as_str(), org.reference, org.name);
        }
        OrgCommand::ImportGias { file, la, links, dry_run, verbose } => {
            let establishments = std::fs::read(&file).with_context(|| format!("could not read {}", file.display()))?;
            let links = links
                .map(|p| std::fs::read(&p).with_context(|| format!("could not read {}", p.display())))
                .transpose()?;
            let plan =
                register::import_gias(repo, now, Actor::operator(), &establishments, links.as_deref(), la, dry_run)
                    .await?;
            print_plan(&plan, dry_run, verbose);
        }
        OrgCommand::Close { org } => {
            let closed = organisations::close(repo, now, None, &org.parse()?).await?;
            println!("closed {} \"{}\"", closed.reference, closed.name);
        }
        OrgCommand::List { status, json } => {
            let entries = register::list(repo, status.into()).await?;
            if json {
                let rows: Vec<_> = entries
                    .iter()
                    .map(|RegisterEntry { org: o, successors }| {
                        let successors: Vec<String> = successors.iter().map(|s| s.reference.to_string()).collect();
                        serde_json::json!({ "kind": o.kind.as_str(), "ref": o.reference.to_string(), "name": o.name,
                            "status": o.status.as_str(), "urn": o.urn, "phase": o.phase, "successors": successors })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for RegisterEntry { org: o, successors } in entries {
                    let carried_on = if successors.is_empty() {
                        String::new()
                    } else {
                        let names: Vec<String> =
                            successors.iter().map(|s| format!("{} ({})", s.reference, s.name)).collect();
                        format!("  -> carried on by {}", names.join(" and "))
                    };
                    println!(
                        "{:<7} {:<12} {:<24} {}{carried_on}",
                        o.kind.as_str(),
                        o.reference.to_string(),
                        o.status.as_str(),
                        o.name
                    );
                }
            }
        }
    }
    Ok(())
}

fn print_plan(plan: &crate::domain::gias::ImportPlan, dry_run: bool, verbose: bool) {
    use crate::domain::gias::{Change, EstablishmentStatus};
    for change in &plan.changes {
        match change {
            Change::Add(e) if e.status == EstablishmentStatus::Closed => {
                println!("add     {}  URN {}  {} (closed: its numbers forward to its successor)", e.dfe, e.urn, e.name)
            }
            Change::Add(e) => println!("add     {}  URN {}  {}", e.dfe, e.urn, e.name),
            Change::Update { dfe, to, fields } => println!("update  {dfe}  {} ({})", to.name, fields.join(", ")),
            Change::Close { dfe, to } => println!("close   {dfe}  {}", to.name),
        }
    }
    for s in &plan.successions {
        println!(
            "link    {} (URN {}) carries on {} (URN {}): {}",
            s.successor_dfe, s.successor_urn, s.predecessor_dfe, s.predecessor_urn, s.link_type
        );
    }
    for r in &plan.rejected {
        println!("reject  {} line {}: {}", r.file, r.line, r.reason);
    }
    if verbose {
        for e in &plan.closed_not_added {
            println!("leave   {}  URN {}  {}: closed, and no open school carries it on", e.dfe, e.urn, e.name);
        }
        for ignored in &plan.ignored_links {
            println!("ignore  {ignored}");
        }
    }
    let verb = if dry_run { "would change (dry run, nothing written)" } else { "imported" };
    println!("{verb}: {}", plan.summary());
    for (reason, count) in plan.ignored_link_counts() {
        println!("  links ignored, {reason}: {count}");
    }
}

async fn run_key(repo: &dyn Repository, cmd: KeyCommand) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    match cmd {
        KeyCommand::Create { org, name, channels, direction, expires } => {
            let expires_at = expires
                .map(|t| time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339))
                .transpose()
                .map_err(|_| anyhow::anyhow!("--expires must be an RFC 3339 time such as 2027-07-31T00:00:00Z"))?;
            let scope = KeyScope {
                channels,
                can_send: matches!(direction, Direction::Send | Direction::Both),
                can_receive: matches!(direction, Direction::Receive | Direction::Both),
                expires_at,
            };
            let (_, token) = api_keys::create(repo, now, Actor::operator(), &org.parse()?, &name, scope).await?;
            println!("{}", token.expose_secret());
        }
        KeyCommand::Revoke { id } => {
            api_keys::revoke(repo, now, None, &id).await?;
            println!("revoked key {id}");
        }
        KeyCommand::List { org, json } => {
            let org = match org {
                Some(r) => Some(crate::service::users::find_org(repo, &r.parse()?).await?.id),
                None => None,
            };
            let keys = repo.list_api_keys(org).await?;
            if json {
                let rows: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({ "id": k.key_id, "org": k.org.reference.to_string(), "name": k.name,
                            "channels": k.scope.channels, "send": k.scope.can_send, "receive": k.scope.can_receive,
                            "revoked": k.revoked_at.is_some() })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for k in keys {
                    let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                    println!(
                        "{}  {:<12} {:<24} {:<8} {}",
                        k.key_id,
                        k.org.reference.to_string(),
                        k.name,
                        state,
                        k.scope.channels.join(",")
                    );
                }
            }
        }
    }
    Ok(())
}
