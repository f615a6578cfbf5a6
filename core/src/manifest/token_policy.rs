//! `TokenPolicy`: which CI jobs may have which GitHub token from the Token Broker. Read here,
//! checked against the tenant's repositories here; matching is `crate::broker`'s.

use serde::Serialize;

use super::catalog::Catalog;
use super::check::Reporter;
use super::kinds::Origin;
use super::read::{Reader, join};
use crate::broker::{Permissions, check_permission, is_pattern, is_repository_name};
use crate::yaml::NodeId;

/// `spec.subject`: every field must match the job's OIDC token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenSubject {
    /// `repository`: `owner/name`, compared with the `repository` claim in any case.
    pub repository: String,
    /// `repositoryId`: the `repository_id` claim; a renamed or re-created repository with the
    /// same name has another and does not match.
    pub repository_id: String,
    /// `refs`: patterns of the `ref` claim, at least one.
    pub refs: Vec<String>,
    /// `events`: `event_name`s, at least one.
    pub events: Vec<String>,
    /// `workflowRefs`: patterns of `job_workflow_ref`; empty matches any workflow.
    pub workflow_refs: Vec<String>,
}

/// `spec.grant`: the most a matching job may ask for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenGrant {
    /// `repositories`: bare names of the tenant's GithubRepositories.
    pub repositories: Vec<String>,
    /// `permissions`: name -> the highest level.
    pub permissions: Permissions,
}

/// `TokenPolicy`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPolicy {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.organization`.
    pub organization: String,
    /// `spec.subject`.
    pub subject: TokenSubject,
    /// `spec.grant`.
    pub grant: TokenGrant,
    /// Where it was declared.
    pub origin: Origin,
}

fn is_owner_and_name(text: &str) -> bool {
    text.split_once('/').is_some_and(|(owner, name)| {
        !owner.is_empty()
            && owner.len() <= 39
            && owner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && is_repository_name(name)
    })
}

fn is_event_name(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

impl Reader<'_> {
    /// A list of strings that must not be empty, each held to `valid`.
    fn checked_list(
        &mut self,
        parent: Option<NodeId>,
        path: &str,
        key: &str,
        required: bool,
        valid: impl Fn(&str) -> Result<(), String>,
    ) -> Vec<String> {
        let items = self.strings(parent, path, key);
        let node = parent.and_then(|p| self.doc.get(p, key)).or(parent);
        if required && items.is_empty() {
            self.report(join(path, key), node, "needs at least one entry".into());
        }
        for (i, item) in items.iter().enumerate() {
            if let Err(message) = valid(item) {
                self.report(format!("{}[{i}]", join(path, key)), node, message);
            }
        }
        items
    }

    pub(super) fn token_policy(
        &mut self,
        name: String,
        metadata: Option<NodeId>,
        spec: Option<NodeId>,
        origin: Origin,
    ) -> TokenPolicy {
        let organization = self
            .string(metadata, "metadata", "organization", true)
            .unwrap_or_default();
        let subject = self.map(spec, "spec", "subject", true);
        let at = "spec.subject";
        let repository = self
            .string(subject, at, "repository", true)
            .unwrap_or_default();
        if !repository.is_empty() && !is_owner_and_name(&repository) {
            let node = subject.and_then(|s| self.doc.get(s, "repository"));
            self.report(
                join(at, "repository"),
                node,
                format!("'{repository}' is not owner/name"),
            );
        }
        let repository_id = self
            .string(subject, at, "repositoryId", true)
            .unwrap_or_default();
        if !repository_id.is_empty() && !repository_id.bytes().all(|b| b.is_ascii_digit()) {
            let node = subject.and_then(|s| self.doc.get(s, "repositoryId"));
            self.report(
                join(at, "repositoryId"),
                node,
                format!(
                    "'{repository_id}' is not a repository id (digits, as the repository_id claim)"
                ),
            );
        }
        let refs = self.checked_list(subject, at, "refs", true, |r| {
            if is_pattern(r) && r.starts_with("refs/") {
                Ok(())
            } else {
                Err(format!(
                    "'{r}' is not a ref pattern (refs/heads/..., refs/tags/...; '*' within one segment)"
                ))
            }
        });
        let events = self.checked_list(subject, at, "events", true, |e| {
            if e == "pull_request_target" {
                Err("pull_request_target runs a pull request's code, possibly a fork's, with the base branch's ref: it never matches".into())
            } else if is_event_name(e) {
                Ok(())
            } else {
                Err(format!("'{e}' is not an event name (push, workflow_dispatch, ...)"))
            }
        });
        let workflow_refs = self.checked_list(subject, at, "workflowRefs", false, |w| {
            if is_pattern(w) {
                Ok(())
            } else {
                Err(format!("'{w}' is not a workflow ref pattern"))
            }
        });
        let grant = self.map(spec, "spec", "grant", true);
        let at = "spec.grant";
        let repositories = self.checked_list(grant, at, "repositories", true, |r| {
            if is_repository_name(r) {
                Ok(())
            } else {
                Err(format!(
                    "'{r}' is not a bare repository name of the organization"
                ))
            }
        });
        let mut permissions = Permissions::new();
        let written = self.string_map(grant, at, "permissions");
        let node = grant.and_then(|g| self.doc.get(g, "permissions")).or(grant);
        if written.is_empty() {
            self.report(
                join(at, "permissions"),
                node,
                "needs at least one permission".into(),
            );
        }
        for (permission, level) in written {
            match check_permission(&permission, &level) {
                Ok(level) => {
                    permissions.insert(permission, level);
                }
                Err(message) => {
                    self.report(format!("{at}.permissions.{permission}"), node, message);
                }
            }
        }
        TokenPolicy {
            name,
            organization,
            subject: TokenSubject {
                repository,
                repository_id,
                refs,
                events,
                workflow_refs,
            },
            grant: TokenGrant {
                repositories,
                permissions,
            },
            origin,
        }
    }
}

impl Catalog {
    /// Each granted repository must be one of the tenant's GithubRepositories (by its name on
    /// GitHub, in any case).
    pub(super) fn check_token_policies(&self, r: &mut Reporter<'_>) {
        for policy in self.token_policies.values() {
            for (i, repository) in policy.grant.repositories.iter().enumerate() {
                let known = self
                    .github_repositories
                    .values()
                    .any(|g| g.repository_name().eq_ignore_ascii_case(repository));
                if !known && is_repository_name(repository) {
                    r.at(
                        &policy.origin,
                        "TokenPolicy",
                        &policy.name,
                        format!("spec.grant.repositories[{i}]"),
                        format!("no GithubRepository named '{repository}'"),
                    );
                }
            }
        }
    }
}

impl Catalog {
    /// Grants of repositories that belong to another GitHub owner than `owner` (by their
    /// GithubRepository's connection, or the tree's only connection when they name none): a
    /// broker issuing on `owner`'s installation would otherwise give the same name there.
    #[must_use]
    pub fn foreign_token_grants(&self, owner: &str) -> Vec<String> {
        let only = (self.github_connections.len() == 1)
            .then(|| self.github_connections.values().next())
            .flatten();
        let mut problems = Vec::new();
        for policy in self.token_policies.values() {
            for repository in &policy.grant.repositories {
                let declared = self
                    .github_repositories
                    .values()
                    .find(|g| g.repository_name().eq_ignore_ascii_case(repository));
                let connection = declared.and_then(|g| match &g.connection {
                    Some(name) => self.github_connections.get(name),
                    None => only,
                });
                if let Some(c) = connection
                    && !c.owner.eq_ignore_ascii_case(owner)
                {
                    problems.push(format!(
                        "{}:{}: TokenPolicy/{}: spec.grant.repositories: '{repository}' is a repository of {} (GithubConnection {}), but tokens are issued on {owner}'s installation",
                        policy.origin.file, policy.origin.line, policy.name, c.owner, c.name
                    ));
                }
            }
        }
        problems
    }
}
