//! Matching a job to a policy, and the grant it may have.

use std::collections::BTreeSet;

use super::pattern::matches;
use super::permission::Permissions;
use super::request::TokenRequest;
use crate::manifest::{TokenPolicy, TokenSubject};

/// The event whose runs carry the base branch's `ref` while running a pull request's code,
/// possibly a fork's: it never matches a policy.
const PULL_REQUEST_TARGET: &str = "pull_request_target";

/// Who is asking: the claims of a verified GitHub Actions OIDC token that policies match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// `repository`: `owner/name`.
    pub repository: String,
    /// `repository_id`.
    pub repository_id: String,
    /// `ref`.
    pub git_ref: String,
    /// `event_name`.
    pub event_name: String,
    /// `job_workflow_ref`, when the token has one.
    pub job_workflow_ref: Option<String>,
}

/// What may be issued: exactly what was asked, and the policy that allows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The policy that allows it.
    pub policy: String,
    /// The repositories (lowercase bare names).
    pub repositories: BTreeSet<String>,
    /// The permissions.
    pub permissions: Permissions,
}

/// Why nothing may be issued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No policy's subject matches the job.
    #[error("no TokenPolicy allows {repository} (id {repository_id}) at {git_ref} on {event_name}")]
    NoPolicy {
        /// `repository`.
        repository: String,
        /// `repository_id`.
        repository_id: String,
        /// `ref`.
        git_ref: String,
        /// `event_name`.
        event_name: String,
    },
    /// Policies match the job, but none grants everything asked for on its own.
    #[error("{}", outside_message(.policy, .repositories, .permissions))]
    OutsideGrant {
        /// The matching policy that came closest.
        policy: String,
        /// Requested repositories it does not grant.
        repositories: Vec<String>,
        /// Requested permissions it does not grant (`name:level`).
        permissions: Vec<String>,
    },
}

fn outside_message(policy: &str, repositories: &[String], permissions: &[String]) -> String {
    let mut parts = Vec::new();
    if !repositories.is_empty() {
        parts.push(format!("repositories {}", repositories.join(", ")));
    }
    if !permissions.is_empty() {
        parts.push(format!("permissions {}", permissions.join(", ")));
    }
    format!(
        "the request exceeds what TokenPolicy '{policy}' grants ({}); grants of several policies never combine",
        parts.join("; ")
    )
}

impl Refusal {
    /// A short, stable name (metrics labels).
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::NoPolicy { .. } => "no_policy",
            Refusal::OutsideGrant { .. } => "outside_grant",
        }
    }
}

/// Whether `policy`'s subject is `subject`: same repository (any case) and id, a listed ref
/// and event, a listed workflow when any are listed; `pull_request_target` never.
#[must_use]
pub fn subject_matches(policy: &TokenSubject, subject: &Subject) -> bool {
    subject.event_name != PULL_REQUEST_TARGET
        && policy.repository.eq_ignore_ascii_case(&subject.repository)
        && policy.repository_id == subject.repository_id
        && policy.refs.iter().any(|p| matches(p, &subject.git_ref))
        && policy.events.contains(&subject.event_name)
        && (policy.workflow_refs.is_empty()
            || subject
                .job_workflow_ref
                .as_deref()
                .is_some_and(|w| policy.workflow_refs.iter().any(|p| matches(p, w))))
}

/// What `request` asks that `policy` does not grant: repositories, then `name:level`s.
fn excess(policy: &TokenPolicy, request: &TokenRequest) -> (Vec<String>, Vec<String>) {
    let granted: BTreeSet<String> = policy
        .grant
        .repositories
        .iter()
        .map(|r| r.to_ascii_lowercase())
        .collect();
    let repositories = request
        .repositories
        .iter()
        .filter(|r| !granted.contains(*r))
        .cloned()
        .collect();
    let permissions = request
        .permissions
        .iter()
        .filter(|(name, level)| policy.grant.permissions.get(*name) < Some(level))
        .map(|(name, level)| format!("{name}:{level}"))
        .collect();
    (repositories, permissions)
}

/// Decides `request` from `subject` against `policies`: allowed when one policy whose subject
/// matches grants every repository and every permission at its level or higher.
///
/// # Errors
/// [`Refusal`] saying whether no policy matched the job or none granted enough.
pub fn decide<'a>(
    policies: impl IntoIterator<Item = &'a TokenPolicy>,
    subject: &Subject,
    request: &TokenRequest,
) -> Result<Grant, Refusal> {
    let mut closest: Option<(usize, &TokenPolicy, Vec<String>, Vec<String>)> = None;
    for policy in policies
        .into_iter()
        .filter(|p| subject_matches(&p.subject, subject))
    {
        let (repositories, permissions) = excess(policy, request);
        if repositories.is_empty() && permissions.is_empty() {
            return Ok(Grant {
                policy: policy.name.clone(),
                repositories: request.repositories.clone(),
                permissions: request.permissions.clone(),
            });
        }
        let size = repositories.len() + permissions.len();
        if closest.as_ref().is_none_or(|(s, ..)| size < *s) {
            closest = Some((size, policy, repositories, permissions));
        }
    }
    Err(match closest {
        Some((_, policy, repositories, permissions)) => Refusal::OutsideGrant {
            policy: policy.name.clone(),
            repositories,
            permissions,
        },
        None => Refusal::NoPolicy {
            repository: subject.repository.clone(),
            repository_id: subject.repository_id.clone(),
            git_ref: subject.git_ref.clone(),
            event_name: subject.event_name.clone(),
        },
    })
}
