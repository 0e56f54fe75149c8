use clap::{Args, Subcommand, ValueEnum};
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::domain::{DfeNumber, OrgKind, OrgRef};
use crate::service::{api_keys, organisations};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Organisations: schools (by DfE number) and LA teams (by slug).
    #[command(subcommand)]
    Org(OrgCommand),
    /// API keys for automated jobs.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Add a school or an LA team.
    Add(OrgAdd),
    /// List organisations.
    List {
        /// Print JSON, one array, for scripts.
        #[arg(long)]
        json: bool,
    },
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
    },
}

pub async fn run(settings: Settings, cmd: AdminCommand) -> anyhow::Result<()> {
    // Administration needs only the database: it never touches the keyring or the store.
    let repo = crate::app::open_repository(&settings).await?;
    let now = time::OffsetDateTime::now_utc();
    match cmd {
        AdminCommand::Org(OrgCommand::Add(add)) => {
            let (kind, reference) = match add.kind {
                KindArg::School => {
                    let dfe: DfeNumber = add.dfe.as_deref().unwrap_or_default().parse()?;
                    (OrgKind::School, OrgRef::School(dfe))
                }
                KindArg::Team => (
                    OrgKind::Team,
                    OrgRef::Team(add.slug.as_deref().unwrap_or_default().parse()?),
                ),
            };
            let org = organisations::create(repo.as_ref(), now, kind, reference, &add.name).await?;
            println!(
                "added {} {} \"{}\"",
                org.kind.as_str(),
                org.reference,
                org.name
            );
        }
        AdminCommand::Org(OrgCommand::List { json }) => {
            let orgs = organisations::list(repo.as_ref()).await?;
            if json {
                let rows: Vec<_> = orgs
                    .iter()
                    .map(|o| serde_json::json!({ "kind": o.kind.as_str(), "ref": o.reference.to_string(), "name": o.name }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for o in orgs {
                    println!(
                        "{:<7} {:<12} {}",
                        o.kind.as_str(),
                        o.reference.to_string(),
                        o.name
                    );
                }
            }
        }
        AdminCommand::Key(KeyCommand::Create { org, name }) => {
            let org: OrgRef = org.parse()?;
            let token = api_keys::create(repo.as_ref(), now, &org, &name).await?;
            println!("{}", token.expose_secret());
        }
    }
    Ok(())
}
