//! What a builder knows while it writes jobs: the repository, the build, the branch
//! configuration, the event, the settings and the pins, and a place to report problems.

use cd_core::manifest::{BuildDefinition, GithubRepository, Problem, WorkflowSettings};

use crate::branching::BranchConfig;
use crate::pins::{PinError, Pins};

/// Which event a workflow answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// A push to the branches: the full pipeline, release included.
    Push,
    /// A pull request into the branches: initialize, analysis, test and build only.
    PullRequest,
}

impl Event {
    /// The file-name part: `push`, `pull-request`.
    #[must_use]
    pub fn slug(self) -> &'static str {
        match self {
            Event::Push => "push",
            Event::PullRequest => "pull-request",
        }
    }
}

/// The default GitHub-hosted runner (WorkflowSettings `spec.runner` pins another).
pub const DEFAULT_RUNNER: &str = "ubuntu-latest";

/// Problems found while generating, each pinned to the manifest object at fault.
#[derive(Debug, Default)]
pub struct Findings {
    /// Manifest problems.
    pub problems: Vec<Problem>,
    /// Pins the generator needed and the table lacks.
    pub pins: Vec<PinError>,
}

impl Findings {
    /// Records a problem of `build` at `field`.
    pub fn build(&mut self, build: &BuildDefinition, field: &str, message: String) {
        self.problems.push(Problem {
            file: build.origin.file.clone(),
            line: Some(build.origin.line),
            kind: Some("BuildDefinition".into()),
            name: Some(build.name.clone()),
            field: Some(field.into()),
            message,
        });
    }

    /// Records a problem of `repo` at `field`.
    pub fn repository(&mut self, repo: &GithubRepository, field: &str, message: String) {
        self.problems.push(Problem {
            file: repo.origin.file.clone(),
            line: Some(repo.origin.line),
            kind: Some("GithubRepository".into()),
            name: Some(repo.name.clone()),
            field: Some(field.into()),
            message,
        });
    }
}

/// Everything a job writer reads.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The pin table.
    pub pins: &'a Pins,
    /// The tenant's WorkflowSettings, if it has one.
    pub settings: Option<&'a WorkflowSettings>,
    /// The GitHub owner of the repository.
    pub owner: &'a str,
    /// The repository.
    pub repo: &'a GithubRepository,
    /// The branch configuration the workflow is for.
    pub config: &'a BranchConfig,
    /// The event the workflow answers.
    pub event: Event,
}

impl Ctx<'_> {
    /// The runner label.
    #[must_use]
    pub fn runner(&self) -> &str {
        self.settings
            .and_then(|s| s.runner.as_deref())
            .unwrap_or(DEFAULT_RUNNER)
    }

    /// Whether the workflow publishes: a push to branches whose builds get a version.
    #[must_use]
    pub fn releases(&self) -> bool {
        self.event == Event::Push && self.config.release_type != cd_core::version::ReleaseType::None
    }
}
