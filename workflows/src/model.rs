//! A typed GitHub Actions workflow: only what the generator writes, each field in GitHub's
//! spelling and in the order people read it (name, triggers, permissions, jobs).

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::emit::Commented;

/// A workflow file.
#[derive(Clone, Debug, Serialize)]
pub struct Workflow {
    /// Shown in the Actions tab.
    pub name: String,
    /// The triggers.
    pub on: Triggers,
    /// Top-level permissions: always empty, each job asks for its own.
    pub permissions: Permissions,
    /// One run at a time per group.
    pub concurrency: Concurrency,
    /// `defaults.run.shell: bash`: scripts run with `-e -o pipefail`.
    pub defaults: Defaults,
    /// The jobs, in the order written.
    pub jobs: Jobs,
}

/// `on:`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Triggers {
    /// `push` to branches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push: Option<BranchFilter>,
    /// `pull_request` into branches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestFilter>,
}

/// `on.push`.
#[derive(Clone, Debug, Serialize)]
pub struct BranchFilter {
    /// Branch patterns.
    pub branches: Vec<String>,
}

/// `on.pull_request`.
#[derive(Clone, Debug, Serialize)]
pub struct PullRequestFilter {
    /// Activity types.
    pub types: Vec<&'static str>,
    /// Base branch patterns.
    pub branches: Vec<String>,
}

/// `defaults:`.
#[derive(Clone, Debug, Serialize)]
pub struct Defaults {
    /// `defaults.run`.
    pub run: RunDefaults,
}

/// `defaults.run`.
#[derive(Clone, Debug, Serialize)]
pub struct RunDefaults {
    /// The shell of every `run:` step.
    pub shell: &'static str,
}

/// `concurrency:`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Concurrency {
    /// The group expression.
    pub group: String,
    /// Whether a newer run cancels an older one.
    pub cancel_in_progress: bool,
}

/// A `GITHUB_TOKEN` permission scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// `contents`.
    Contents,
    /// `id-token`.
    IdToken,
    /// `pull-requests`.
    PullRequests,
}

impl Scope {
    /// GitHub's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Contents => "contents",
            Scope::IdToken => "id-token",
            Scope::PullRequests => "pull-requests",
        }
    }
}

/// A permission level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `read`.
    Read,
    /// `write`.
    Write,
}

impl Level {
    /// GitHub's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write",
        }
    }
}

/// A `permissions:` block: each scope with its level and why the job needs it (written as a
/// comment beside it, so a reviewer never has to guess).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions(pub BTreeMap<Scope, (Level, &'static str)>);

impl Permissions {
    /// No permission at all: `{}`.
    #[must_use]
    pub fn none() -> Permissions {
        Permissions::default()
    }

    /// Adds (or raises) `scope` to `level`, with the reason.
    #[must_use]
    pub fn with(mut self, scope: Scope, level: Level, why: &'static str) -> Permissions {
        let entry = self.0.entry(scope).or_insert((level, why));
        if level > entry.0 {
            *entry = (level, why);
        }
        self
    }
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (scope, (level, why)) in &self.0 {
            map.serialize_entry(scope.as_str(), &Commented::new(level.as_str(), why))?;
        }
        map.end()
    }
}

/// Jobs by id, in the order added.
#[derive(Clone, Debug, Default)]
pub struct Jobs(pub Vec<(String, Job)>);

impl Jobs {
    /// Every job id, in order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(i, _)| i.as_str())
    }
}

impl Serialize for Jobs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (id, job) in &self.0 {
            map.serialize_entry(id, job)?;
        }
        map.end()
    }
}

/// `jobs.<id>.strategy`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Strategy {
    /// Whether one failed leg cancels the others.
    pub fail_fast: bool,
    /// `matrix.include`: each leg's variables.
    pub matrix: Matrix,
}

/// `strategy.matrix`.
#[derive(Clone, Debug, Serialize)]
pub struct Matrix {
    /// One map of variables per leg.
    pub include: Vec<BTreeMap<String, String>>,
}

/// A job.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Job {
    /// Shown in the run and, for the gate, the status check's name.
    pub name: String,
    /// Jobs this one waits for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// When it runs.
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The runner label.
    pub runs_on: String,
    /// A hung job is killed after this long.
    pub timeout_minutes: u32,
    /// What its `GITHUB_TOKEN` may do.
    pub permissions: Permissions,
    /// A matrix, when the job runs once per platform or registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// Job-wide environment.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Outputs other jobs read.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    /// The steps.
    pub steps: Vec<Step>,
}

impl Job {
    /// A job with no needs, permissions, matrix, environment or outputs.
    #[must_use]
    pub fn new(name: impl Into<String>, runs_on: &str, timeout_minutes: u32) -> Job {
        Job {
            name: name.into(),
            needs: Vec::new(),
            condition: None,
            runs_on: runs_on.to_string(),
            timeout_minutes,
            permissions: Permissions::none(),
            strategy: None,
            env: BTreeMap::new(),
            outputs: BTreeMap::new(),
            steps: Vec::new(),
        }
    }
}

/// A value of a step's `with:`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Input {
    /// A string.
    Text(String),
    /// A whole number.
    Number(u64),
    /// A boolean.
    Flag(bool),
}

/// An action pinned to a commit, written `owner/repo@<sha> # <tag>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uses {
    /// `owner/repo` (or `owner/repo/path`).
    pub action: String,
    /// The full commit SHA.
    pub commit: String,
    /// The release tag the commit carries.
    pub tag: String,
}

impl Serialize for Uses {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let reference = format!("{}@{}", self.action, self.commit);
        Commented::new(&reference, &self.tag).serialize(s)
    }
}

/// A step: an action (`uses`) or a script (`run`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Step {
    /// Referenced by later steps' expressions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Shown in the log.
    pub name: String,
    /// When it runs.
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uses: Option<Uses>,
    /// The action's inputs.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub with: BTreeMap<String, Input>,
    /// Environment: the only way a value from an expression reaches a script.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Where the script runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// The script (bash, `-e -o pipefail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

impl Step {
    /// A script step.
    #[must_use]
    pub fn run(name: impl Into<String>, script: impl Into<String>) -> Step {
        Step {
            id: None,
            name: name.into(),
            condition: None,
            uses: None,
            with: BTreeMap::new(),
            env: BTreeMap::new(),
            working_directory: None,
            run: Some(script.into()),
        }
    }

    /// An action step.
    #[must_use]
    pub fn uses(name: impl Into<String>, uses: Uses) -> Step {
        Step {
            id: None,
            name: name.into(),
            condition: None,
            uses: Some(uses),
            with: BTreeMap::new(),
            env: BTreeMap::new(),
            working_directory: None,
            run: None,
        }
    }

    /// Sets the id.
    #[must_use]
    pub fn id(mut self, id: &str) -> Step {
        self.id = Some(id.to_string());
        self
    }

    /// Sets the condition.
    #[must_use]
    pub fn when(mut self, condition: impl Into<String>) -> Step {
        self.condition = Some(condition.into());
        self
    }

    /// Adds an input.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Input>) -> Step {
        self.with.insert(key.to_string(), value.into());
        self
    }

    /// Adds an environment variable.
    #[must_use]
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Step {
        self.env.insert(key.to_string(), value.into());
        self
    }

    /// Sets the working directory.
    #[must_use]
    pub fn in_dir(mut self, dir: Option<&str>) -> Step {
        self.working_directory = dir.map(str::to_string);
        self
    }
}

impl From<&str> for Input {
    fn from(s: &str) -> Input {
        Input::Text(s.to_string())
    }
}

impl From<String> for Input {
    fn from(s: String) -> Input {
        Input::Text(s)
    }
}

impl From<u64> for Input {
    fn from(n: u64) -> Input {
        Input::Number(n)
    }
}

impl From<bool> for Input {
    fn from(b: bool) -> Input {
        Input::Flag(b)
    }
}
