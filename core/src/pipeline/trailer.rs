//! The trailer that says which promotion a manifest commit is: written here, read here, and
//! nowhere else. The engine runner reads it to report a stage; a repository adapter looks for
//! it to find a commit an earlier attempt already pushed.
//!
//! ```
//! use cd_core::pipeline::{DeploymentId, ManifestCommit, Promotion};
//!
//! let promotion = Promotion { deployment: DeploymentId("d-1".into()), stage: 2 };
//! let commit = ManifestCommit::promotion("deploy(shop-api): v1.2.0 to staging", promotion.clone());
//! assert_eq!(Promotion::parse(&commit.message), Some(promotion));
//! assert_eq!(Promotion::parse("fix: a typo"), None);
//! ```

use serde::{Deserialize, Serialize};

use super::model::DeploymentId;

/// The trailer key naming the deployment.
pub const DEPLOYMENT_TRAILER: &str = "Infrastream-Deployment";
/// The trailer key naming the stage (its index in the deployment).
pub const STAGE_TRAILER: &str = "Infrastream-Stage";

/// Which promotion a commit is: a deployment and one of its stages.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Promotion {
    /// The deployment.
    pub deployment: DeploymentId,
    /// The stage's index.
    pub stage: usize,
}

impl Promotion {
    /// The two trailer lines, each as git's `--grep` can look for it.
    #[must_use]
    pub fn trailer_lines(&self) -> [String; 2] {
        [
            format!("{DEPLOYMENT_TRAILER}: {}", self.deployment),
            format!("{STAGE_TRAILER}: {}", self.stage),
        ]
    }

    /// The promotion a commit `message` names, when it carries both trailers (the last of
    /// each wins, as git's trailer rules read them).
    #[must_use]
    pub fn parse(message: &str) -> Option<Promotion> {
        let mut deployment = None;
        let mut stage = None;
        for line in message.lines() {
            let Some((key, value)) = line.split_once(": ") else {
                continue;
            };
            match key {
                DEPLOYMENT_TRAILER => deployment = Some(value.trim().to_string()),
                STAGE_TRAILER => stage = value.trim().parse().ok(),
                _ => {}
            }
        }
        Some(Promotion {
            deployment: DeploymentId(deployment?),
            stage: stage?,
        })
    }
}

/// A commit of manifest edits: its whole message, and the promotion it is, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestCommit {
    /// The message, trailers included.
    pub message: String,
    /// The promotion the trailers name: a repository that already holds a commit of the same
    /// promotion returns it instead of writing again.
    pub promotion: Option<Promotion>,
}

impl ManifestCommit {
    /// A promotion's commit: `summary`, a blank line and the trailers.
    #[must_use]
    pub fn promotion(summary: &str, promotion: Promotion) -> ManifestCommit {
        let [deployment, stage] = promotion.trailer_lines();
        ManifestCommit {
            message: format!("{summary}\n\n{deployment}\n{stage}\n"),
            promotion: Some(promotion),
        }
    }

    /// A commit that is no promotion (a person's edit, a seed).
    #[must_use]
    pub fn plain(message: &str) -> ManifestCommit {
        ManifestCommit {
            message: message.to_string(),
            promotion: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: &str, stage: usize) -> Promotion {
        Promotion {
            deployment: DeploymentId(id.into()),
            stage,
        }
    }

    #[test]
    fn trailers_read_back_and_need_both_keys() {
        let c = ManifestCommit::promotion("deploy(x): v1 to dev", p("d-1", 10));
        assert_eq!(
            c.message,
            "deploy(x): v1 to dev\n\nInfrastream-Deployment: d-1\nInfrastream-Stage: 10\n"
        );
        assert_eq!(Promotion::parse(&c.message), Some(p("d-1", 10)));
        assert_eq!(Promotion::parse("Infrastream-Deployment: d-1\n"), None);
        assert_eq!(Promotion::parse("Infrastream-Stage: 1\n"), None);
        assert_eq!(
            Promotion::parse("Infrastream-Deployment: d-1\nInfrastream-Stage: one\n"),
            None
        );
        assert_eq!(ManifestCommit::plain("seed").promotion, None);
    }
}
