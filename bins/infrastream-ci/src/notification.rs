//! `notification` (of `infrastream-ci` and `infrastream`): the CD Manager's build notification
//! as JSON on stdout, for CI to publish (Pub/Sub, or `infrastream notify --file -`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cd_core::pipeline::{BuildNotified, ChangelogDocument, ChangelogEntry, Timestamp};

/// What a build notification says.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The BuildDefinition that built the image.
    #[arg(long)]
    pub build_definition: String,
    /// The image name.
    #[arg(long)]
    pub container: String,
    /// The image tag.
    #[arg(long)]
    pub version: String,
    /// The commit built.
    #[arg(long, env = "GITHUB_SHA", default_value = "")]
    pub commit: String,
    /// The source repository (`owner/name`).
    #[arg(long, env = "GITHUB_REPOSITORY", default_value = "")]
    pub repository: String,
    /// The git ref built.
    #[arg(long = "ref", env = "GITHUB_REF", default_value = "")]
    pub git_ref: String,
    /// The image digest.
    #[arg(long)]
    pub digest: Option<String>,
    /// The change's author.
    #[arg(long, env = "GITHUB_ACTOR")]
    pub author: Option<String>,
    /// The build's changelog, as `changelog --format json` prints it: the deployment records
    /// its entries (DeploymentChangelogs).
    #[arg(long)]
    pub changelog: Option<PathBuf>,
    /// When the commit was made (RFC 3339), where the lead time for changes starts. Without it,
    /// the committer time of `--commit` in the repository of the working directory (CI's
    /// checkout), when it is there.
    #[arg(long, value_parser = Timestamp::parse_rfc3339)]
    pub committed_at: Option<Timestamp>,
}

/// The committer time of `commit` in the repository at `repo`, or why it is not known.
fn commit_time(repo: &Path, commit: &str) -> Result<Timestamp, String> {
    if commit.is_empty() {
        return Err("no commit named".into());
    }
    // A commit id, nothing git could read as an option or a revision expression.
    if !(4..=64).contains(&commit.len()) || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("'{commit}' is not a commit id"));
    }
    let out = crate::git_facts::git(repo, &["show", "-s", "--format=%ct", commit, "--"])?;
    if !out.status.success() {
        return Err(format!(
            "git does not know {commit} here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let seconds: i64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("git printed no time for {commit}: {e}"))?;
    Ok(Timestamp(seconds.saturating_mul(1000)))
}

/// The entries of a changelog document (`changelog --format json`).
///
/// # Errors
/// The file cannot be read, or is not a changelog document.
pub fn read_changelog(path: &Path) -> Result<Vec<ChangelogEntry>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str::<ChangelogDocument>(&text)
        .map(|d| d.entries)
        .map_err(|e| format!("{}: not a changelog document: {e}", path.display()))
}

impl BuildArgs {
    /// The notification these arguments describe.
    ///
    /// # Errors
    /// The changelog cannot be read.
    pub fn notification(&self) -> Result<BuildNotified, String> {
        let changelog = self
            .changelog
            .as_deref()
            .map(read_changelog)
            .transpose()?
            .unwrap_or_default();
        Ok(BuildNotified {
            build_definition_id: self.build_definition.clone(),
            container: self.container.clone(),
            version: self.version.clone(),
            commit_sha: self.commit.clone(),
            repository: self.repository.clone(),
            git_ref: self.git_ref.clone(),
            digest: self.digest.clone().filter(|d| !d.is_empty()),
            author: self.author.clone().filter(|a| !a.is_empty()),
            changelog,
            committed_at: match self.committed_at {
                Some(t) => Some(t),
                None => match commit_time(Path::new("."), &self.commit) {
                    Ok(t) => Some(t),
                    Err(why) => {
                        // Said, not fatal: the CD Manager then starts the lead time when the
                        // notification arrives.
                        eprintln!(
                            "note: the commit's time is not known ({why}); send --committed-at"
                        );
                        None
                    }
                },
            },
        })
    }
}

pub(crate) fn run(args: &BuildArgs) -> ExitCode {
    match args.notification() {
        Ok(n) => match serde_json::to_string(&n) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
