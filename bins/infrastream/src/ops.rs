//! Operator and CI commands: talk to a running service over its HTTP API.

// Indexing a serde_json::Value by key or position yields Null when absent; it never panics.
#![allow(clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use cd_core::pipeline::BuildNotified;

use crate::client::{Answer, Client, Conn};

/// A deployment id as the service gives them out (`d-…`): letters, digits, `.`, `_` and `-`,
/// not starting with a dot. Anything else would change the request's path.
fn deployment_id(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && !text.starts_with('.')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(text.to_string())
    } else {
        Err("a deployment id has letters, digits, '.', '_' and '-' only".into())
    }
}

#[derive(Debug, Args)]
pub(crate) struct ApprovalArgs {
    /// The deployment.
    #[arg(value_parser = deployment_id)]
    pub(crate) deployment: String,
    /// The gated stage (default: the stage awaiting approval).
    #[arg(long)]
    pub(crate) stage: Option<usize>,
    /// A comment for the ledger.
    #[arg(long, default_value = "")]
    pub(crate) comment: String,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

#[derive(Debug, Args)]
pub(crate) struct ReleaseArgs {
    /// The application set.
    pub(crate) application_set: String,
    /// The bundle name, e.g. 2026.11.
    pub(crate) bundle: String,
    /// Pin an application's version: APP=VERSION (repeatable); others take their latest
    /// fully succeeded pre-release.
    #[arg(long = "version", value_name = "APP=VERSION")]
    pub(crate) versions: Vec<String>,
    /// Print only the release deployment's id (for scripts).
    #[arg(long)]
    pub(crate) id: bool,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// One deployment, in full (default: a list).
    #[arg(value_parser = deployment_id)]
    pub(crate) deployment: Option<String>,
    /// Only this application set.
    #[arg(long = "set")]
    pub(crate) application_set: Option<String>,
    /// Only this application.
    #[arg(long = "app")]
    pub(crate) application: Option<String>,
    /// Only deployments with this status (PENDING, IN_PROGRESS, AWAITING_APPROVAL, SUCCEEDED,
    /// FAILED, REJECTED, SUPERSEDED, CANCELLED; any case).
    #[arg(long)]
    pub(crate) status: Option<String>,
    /// Only this track (PRERELEASE, RELEASE, HOTFIX, ROLLBACK; any case).
    #[arg(long)]
    pub(crate) track: Option<String>,
    /// At most this many, newest first (1 to 500: the service answers at most 500 per page).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub(crate) limit: u16,
    /// The page after this cursor: the one the last page's `more:` line names.
    #[arg(long, conflicts_with = "deployment")]
    pub(crate) after: Option<String>,
    /// Print the JSON the service returned.
    #[arg(long)]
    pub(crate) json: bool,
    /// With a deployment: wait until its status is one of these (comma-separated, e.g.
    /// SUCCEEDED,AWAITING_APPROVAL); exit 1 if it ends in another.
    #[arg(long, requires = "deployment", value_delimiter = ',')]
    pub(crate) wait_for: Vec<String>,
    /// How long --wait-for waits, in seconds.
    #[arg(long, default_value_t = 120)]
    pub(crate) timeout: u64,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

#[derive(Debug, Args)]
pub(crate) struct HoldArgs {
    /// The environment.
    pub(crate) environment: String,
    /// Why.
    #[arg(long, default_value = "")]
    pub(crate) reason: String,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

#[derive(Debug, Args)]
pub(crate) struct DeploymentArgs {
    /// The deployment.
    #[arg(value_parser = deployment_id)]
    pub(crate) deployment: String,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// The application.
    pub(crate) application: String,
    /// The environment.
    pub(crate) environment: String,
    /// The version to go back to (an existing image tag).
    pub(crate) version: String,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

#[derive(Debug, Args)]
pub(crate) struct NotifyArgs {
    /// The notification as a JSON file (`-` for stdin); the flags below build one instead.
    #[arg(long, conflicts_with_all = ["build_definition", "container", "version"])]
    pub(crate) file: Option<PathBuf>,
    /// The BuildDefinition that built the image.
    #[arg(long, required_unless_present = "file")]
    pub(crate) build_definition: Option<String>,
    /// The image name.
    #[arg(long, required_unless_present = "file")]
    pub(crate) container: Option<String>,
    /// The image tag.
    #[arg(long, required_unless_present = "file")]
    pub(crate) version: Option<String>,
    /// The commit built.
    #[arg(long, env = "GITHUB_SHA", default_value = "")]
    pub(crate) commit: String,
    /// The source repository.
    #[arg(long, default_value = "")]
    pub(crate) repository: String,
    /// The git ref built.
    #[arg(long = "ref", env = "GITHUB_REF", default_value = "")]
    pub(crate) git_ref: String,
    /// The image digest.
    #[arg(long)]
    pub(crate) digest: Option<String>,
    /// The change's author.
    #[arg(long)]
    pub(crate) author: Option<String>,
    /// When the commit built was made, RFC 3339 (`git show -s --format=%cI`): where the lead
    /// time for changes starts.
    #[arg(long, value_parser = cd_core::pipeline::Timestamp::parse_rfc3339)]
    pub(crate) committed_at: Option<cd_core::pipeline::Timestamp>,
    /// The build's changelog, as `infrastream-ci changelog --format json` prints it: the
    /// deployment records its entries (DeploymentChangelogs).
    #[arg(long, conflicts_with = "file")]
    pub(crate) changelog: Option<PathBuf>,
    /// Print only the deployment's id (for scripts).
    #[arg(long)]
    pub(crate) id: bool,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Runs one request and prints the outcome: 0 on success, 1 when refused, 2 when unreachable.
fn request(conn: &Conn, f: impl AsyncFnOnce(&Client) -> Result<Answer, String>) -> ExitCode {
    request_then(conn, f, |answer| {
        serde_json::to_string_pretty(&answer.body).unwrap_or_default()
    })
}

/// [`request`], saying what was done with `done` instead of printing the answer's JSON.
fn request_then(
    conn: &Conn,
    f: impl AsyncFnOnce(&Client) -> Result<Answer, String>,
    done: impl FnOnce(&Answer) -> String,
) -> ExitCode {
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let client = Client::new(conn)?;
            f(&client).await
        })
    });
    match result {
        Ok(answer) if answer.ok() => {
            println!("{}", done(&answer));
            ExitCode::SUCCESS
        }
        Ok(answer) => refused(conn, &answer),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Reports a refused request: 1, or 2 when the service asked who acts and the command line
/// named nobody (the service speaks of its header; the command line has its own ways).
fn refused(conn: &Conn, answer: &Answer) -> ExitCode {
    let message = answer.message();
    if answer.status == 401
        && conn.actor.is_none()
        && conn.token.is_none()
        && message.contains("who acts")
    {
        eprintln!(
            "error: say who acts: --as NAME (or INFRASTREAM_ACTOR=NAME), or --token with an OIDC token (or INFRASTREAM_TOKEN) ({message}, {})",
            answer.status
        );
        return ExitCode::from(2);
    }
    eprintln!("error: {message} ({})", answer.status);
    ExitCode::from(1)
}

/// A decision's answer: its JSON, or only the first deployment's id when `id_only`.
fn decided(answer: &Answer, id_only: bool) -> String {
    if id_only {
        answer.body["deployments"][0]
            .as_str()
            .unwrap_or_default()
            .to_string()
    } else {
        serde_json::to_string_pretty(&answer.body).unwrap_or_default()
    }
}

/// Whether a decision changed nothing (a repeat, or nothing to do).
fn unchanged(answer: &Answer) -> bool {
    answer.body["duplicate"].as_bool().unwrap_or(false)
}

/// The stage of `deployment` awaiting approval (or held, or rejected).
async fn gated_stage(client: &Client, deployment: &str) -> Result<usize, String> {
    let view = client.get(&format!("/v1/deployments/{deployment}")).await?;
    if !view.ok() {
        return Err(view.message());
    }
    view.body["deployment"]["stages"]
        .as_array()
        .and_then(|stages| {
            stages.iter().find(|s| {
                matches!(
                    s["status"].as_str(),
                    Some("AWAITING_APPROVAL" | "HELD" | "REJECTED")
                )
            })
        })
        .and_then(|s| s["index"].as_u64())
        .and_then(|i| usize::try_from(i).ok())
        .ok_or_else(|| format!("no stage of {deployment} awaits approval; name one with --stage"))
}

pub(crate) fn approval(args: &ApprovalArgs, action: &str) -> ExitCode {
    request(&args.conn, async |c: &Client| {
        let stage = match args.stage {
            Some(s) => s,
            None => gated_stage(c, &args.deployment).await?,
        };
        c.post(
            &format!("/v1/deployments/{}/approvals", args.deployment),
            &json!({ "stageIndex": stage, "action": action, "comment": args.comment }),
        )
        .await
    })
}

pub(crate) fn release(args: &ReleaseArgs) -> ExitCode {
    let mut versions = serde_json::Map::new();
    for v in &args.versions {
        let Some((app, version)) = v.split_once('=') else {
            eprintln!("error: --version {v}: expected APP=VERSION");
            return ExitCode::from(2);
        };
        versions.insert(app.to_string(), Value::String(version.to_string()));
    }
    let body = json!({ "applicationSet": args.application_set, "bundle": args.bundle, "versions": versions });
    request_then(
        &args.conn,
        async |c: &Client| c.post("/v1/releases", &body).await,
        |answer| decided(answer, args.id),
    )
}

pub(crate) fn status(args: &StatusArgs) -> ExitCode {
    let path = match &args.deployment {
        Some(id) => format!("/v1/deployments/{id}"),
        None => {
            let limit = args.limit.to_string();
            let status = args.status.as_ref().map(|s| s.trim().to_ascii_uppercase());
            let track = args.track.as_ref().map(|t| t.trim().to_ascii_uppercase());
            let params: Vec<(&str, &str)> = [
                ("limit", Some(limit.as_str())),
                ("applicationSet", args.application_set.as_deref()),
                ("application", args.application.as_deref()),
                ("status", status.as_deref()),
                ("track", track.as_deref()),
                ("after", args.after.as_deref()),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            // Encoded: a name or cursor cannot add a parameter of its own.
            match serde_urlencoded::to_string(&params) {
                Ok(query) => format!("/v1/deployments?{query}"),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    if !args.wait_for.is_empty() {
        return wait_for(args, &path);
    }
    if args.json {
        return request_then(
            &args.conn,
            async |c: &Client| c.get(&path).await,
            |answer| {
                // Standard output stays the service's JSON; where the next page starts goes
                // beside it.
                if let Some(after) = &answer.next_after {
                    eprintln!("more: --after {after}");
                }
                serde_json::to_string_pretty(&answer.body).unwrap_or_default()
            },
        );
    }
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let client = Client::new(&args.conn)?;
            client.get(&path).await
        })
    });
    match result {
        Ok(a) if a.ok() => {
            match a.body {
                Value::Array(list) => {
                    let rows: Vec<_> = list.iter().map(crate::demo::summary_cells).collect();
                    for line in crate::demo::table(&rows) {
                        println!("{line}");
                    }
                    if list.is_empty() {
                        println!("no deployments");
                    }
                    if let Some(after) = &a.next_after {
                        println!("more: --after {after}");
                    }
                }
                view => print!("{}", crate::demo::details(&view)),
            }
            ExitCode::SUCCESS
        }
        Ok(a) => refused(&args.conn, &a),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `status ID --wait-for S,...`: polls until the deployment's status is one of them.
fn wait_for(args: &StatusArgs, path: &str) -> ExitCode {
    const FINAL: [&str; 5] = ["SUCCEEDED", "FAILED", "REJECTED", "SUPERSEDED", "CANCELLED"];
    let wanted: Vec<String> = args
        .wait_for
        .iter()
        .map(|s| s.trim().to_ascii_uppercase())
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(args.timeout);
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let client = Client::new(&args.conn)?;
            loop {
                let answer = client.get(path).await?;
                if !answer.ok() {
                    return Ok(Err(answer));
                }
                let status = answer.body["deployment"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if wanted.contains(&status) || FINAL.contains(&status.as_str()) {
                    return Ok(Ok((status, answer)));
                }
                if std::time::Instant::now() >= deadline {
                    return Err(format!(
                        "still {status} after {} s (waiting for {})",
                        args.timeout,
                        wanted.join(" or ")
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        })
    });
    match result {
        Ok(Ok((status, answer))) => {
            print!("{}", crate::demo::details(&answer.body));
            if wanted.contains(&status) {
                ExitCode::SUCCESS
            } else {
                eprintln!("error: it ended {status}, not {}", wanted.join(" or "));
                ExitCode::from(1)
            }
        }
        Ok(Err(answer)) => refused(&args.conn, &answer),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct HoldsArgs {
    /// Print the JSON the service returned.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

/// `holds`: the holds in force, one line each (environment, who, since when, why).
pub(crate) fn holds(args: &HoldsArgs) -> ExitCode {
    let json = args.json;
    request_then(
        &args.conn,
        async |c: &Client| c.get("/v1/holds").await,
        |answer| {
            if json {
                return serde_json::to_string_pretty(&answer.body).unwrap_or_default();
            }
            let Some(holds) = answer.body.as_object().filter(|h| !h.is_empty()) else {
                return "no holds".to_string();
            };
            let width = holds.keys().map(|e| e.chars().count()).max().unwrap_or(0);
            holds
                .iter()
                .map(|(env, h)| {
                    let since = h["at"]
                        .as_i64()
                        .map(|ms| cd_core::pipeline::Timestamp(ms).rfc3339())
                        .unwrap_or_default();
                    format!(
                        "{env:<width$}  held by {} since {since}: {}",
                        h["actor"].as_str().unwrap_or("?"),
                        h["reason"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    )
}

#[derive(Debug, Args)]
pub(crate) struct ApprovalsArgs {
    /// Whose approvals: a person the tenant knows (default: whoever `--as` or the token names).
    #[arg(long)]
    pub(crate) pending_for: Option<String>,
    /// Print the JSON the service returned.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

/// `approvals`: the gates waiting on a person, newest first, each with what it still needs and
/// the command that answers it.
pub(crate) fn approvals(args: &ApprovalsArgs) -> ExitCode {
    let json = args.json;
    let path = match &args.pending_for {
        Some(who) => format!(
            "/v1/approvals?{}",
            serde_urlencoded::to_string([("pending_for", who)]).unwrap_or_default()
        ),
        None => "/v1/approvals".to_string(),
    };
    request_then(
        &args.conn,
        async move |c: &Client| c.get(&path).await,
        |answer| {
            if json {
                return serde_json::to_string_pretty(&answer.body).unwrap_or_default();
            }
            let Some(pending) = answer.body.as_array().filter(|p| !p.is_empty()) else {
                return "nothing waits on you".to_string();
            };
            pending
                .iter()
                .map(|p| {
                    let d = &p["deployment"];
                    let g = &p["gate"];
                    let what = d["bundle"]
                        .as_str()
                        .or(d["application"].as_str())
                        .unwrap_or("?");
                    let list = |v: &serde_json::Value| {
                        v.as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(serde_json::Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            })
                            .unwrap_or_default()
                    };
                    let approved = list(&g["approvedBy"]);
                    let rejected = g["rejectedBy"]
                        .as_str()
                        .map(|who| format!("; rejected by {who}"))
                        .unwrap_or_default();
                    format!(
                        "{id}  {track} {what} {version} → {envs}: {remaining} more of {min} from {groups} (approved: {approved}){rejected}\n  infrastream approve {id}",
                        id = d["id"].as_str().unwrap_or("?"),
                        track = d["track"].as_str().unwrap_or("?"),
                        version = d["version"].as_str().unwrap_or("?"),
                        envs = list(&g["environments"]),
                        remaining = g["remaining"],
                        min = g["minApprovals"],
                        groups = list(&g["groups"]),
                        approved = if approved.is_empty() { "nobody yet".to_string() } else { approved },
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    )
}

pub(crate) fn hold(args: &HoldArgs) -> ExitCode {
    let body = json!({ "reason": args.reason });
    let env = &args.environment;
    let reason = if args.reason.is_empty() {
        String::new()
    } else {
        format!(" ({})", args.reason)
    };
    request_then(
        &args.conn,
        async |c: &Client| c.put(&format!("/v1/holds/{env}"), &body).await,
        |answer| {
            if unchanged(answer) {
                format!("{env} was already held{reason}; nothing changed")
            } else {
                format!(
                    "held {env}{reason}: promotions into it wait until `infrastream unhold {env}`"
                )
            }
        },
    )
}

pub(crate) fn unhold(args: &HoldArgs) -> ExitCode {
    let env = &args.environment;
    request_then(
        &args.conn,
        async |c: &Client| c.delete(&format!("/v1/holds/{env}")).await,
        |answer| {
            if unchanged(answer) {
                format!("{env} was not held; nothing changed")
            } else {
                format!("lifted the hold on {env}: held promotions into it resume")
            }
        },
    )
}

#[derive(Debug, Args)]
pub(crate) struct CancelArgs {
    /// The deployment.
    #[arg(value_parser = deployment_id)]
    pub(crate) deployment: String,
    /// Why: kept in the ledger with who cancelled and when.
    #[arg(long, default_value = "")]
    pub(crate) comment: String,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

/// `cancel ID`: ends a waiting, parked or failed deployment as CANCELLED.
pub(crate) fn cancel(args: &CancelArgs) -> ExitCode {
    let id = &args.deployment;
    let body = json!({ "comment": args.comment });
    request_then(
        &args.conn,
        async |c: &Client| c.post(&format!("/v1/deployments/{id}/cancel"), &body).await,
        |answer| {
            if unchanged(answer) {
                format!("{id} was already cancelled; nothing changed")
            } else {
                format!(
                    "cancelled {id}: the environments it claimed are free, its tags and ledger stay"
                )
            }
        },
    )
}

pub(crate) fn retry(args: &DeploymentArgs) -> ExitCode {
    request(&args.conn, async |c: &Client| {
        c.post(
            &format!("/v1/deployments/{}/retry", args.deployment),
            &json!({}),
        )
        .await
    })
}

pub(crate) fn rollback(args: &RollbackArgs) -> ExitCode {
    let body = json!({ "application": args.application, "environment": args.environment, "version": args.version });
    request(&args.conn, async |c: &Client| {
        c.post("/v1/rollbacks", &body).await
    })
}

pub(crate) fn notify(args: &NotifyArgs) -> ExitCode {
    let body = match &args.file {
        Some(path) => {
            let text = if path.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(path)
            };
            match text.map_err(|e| e.to_string()).and_then(|t| {
                serde_json::from_str::<Value>(&t).map_err(|e| format!("not JSON: {e}"))
            }) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
        None => {
            let changelog = match args
                .changelog
                .as_deref()
                .map(infrastream_ci::notification::read_changelog)
                .transpose()
            {
                Ok(c) => c.unwrap_or_default(),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let notification = BuildNotified {
                build_definition_id: args.build_definition.clone().unwrap_or_default(),
                container: args.container.clone().unwrap_or_default(),
                version: args.version.clone().unwrap_or_default(),
                commit_sha: args.commit.clone(),
                repository: args.repository.clone(),
                git_ref: args.git_ref.clone(),
                digest: args.digest.clone(),
                author: args.author.clone(),
                changelog,
                committed_at: args.committed_at,
            };
            serde_json::to_value(notification).unwrap_or_default()
        }
    };
    request_then(
        &args.conn,
        async |c: &Client| c.post("/v1/notifications/build", &body).await,
        |answer| decided(answer, args.id),
    )
}
