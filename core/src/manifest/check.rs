//! Reference checks across objects: every name an object points at must exist and fit.
//!
//! References to kinds the engine does not model (Organization, OrganizationalUnit, Project)
//! are deliberately not checked.

use std::collections::BTreeSet;

use super::Problem;
use super::catalog::Catalog;
use super::kinds::{Origin, Source, Track};

pub(super) struct Reporter<'a> {
    problems: &'a mut Vec<Problem>,
}

impl Reporter<'_> {
    pub(super) fn at(
        &mut self,
        origin: &Origin,
        kind: &str,
        name: &str,
        field: String,
        message: String,
    ) {
        self.problems.push(Problem {
            file: origin.file.clone(),
            line: Some(origin.line),
            kind: Some(kind.to_string()),
            name: Some(name.to_string()),
            field: Some(field),
            message,
        });
    }
}

impl Catalog {
    pub(crate) fn check(&self, problems: &mut Vec<Problem>) {
        let mut r = Reporter { problems };
        self.check_sets(&mut r);
        self.check_applications(&mut r);
        self.check_ci(&mut r);
        self.check_token_policies(&mut r);
        self.check_deployment_configs(&mut r);
        self.check_tracks(&mut r);
        self.check_groups(&mut r);
    }

    fn check_sets(&self, r: &mut Reporter<'_>) {
        for set in self.application_sets.values() {
            if !set.release_track.is_empty()
                && !self.release_tracks.contains_key(&set.release_track)
            {
                r.at(
                    &set.origin,
                    "ApplicationSet",
                    &set.name,
                    "metadata.release-track".into(),
                    format!("no ReleaseTrack named '{}'", set.release_track),
                );
            }
        }
    }

    fn check_applications(&self, r: &mut Reporter<'_>) {
        for app in self.applications.values() {
            let kind = app.kind();
            match self.application_sets.get(&app.application_set) {
                None if !app.application_set.is_empty() => r.at(
                    &app.origin,
                    kind,
                    &app.name,
                    "metadata.application-set".into(),
                    format!("no ApplicationSet named '{}'", app.application_set),
                ),
                Some(set) => {
                    if let Some(track) = app
                        .release_track
                        .as_ref()
                        .filter(|t| **t != set.release_track)
                    {
                        r.at(
                            &app.origin,
                            kind,
                            &app.name,
                            "metadata.release-track".into(),
                            format!(
                                "'{track}' differs from the release track '{}' of ApplicationSet '{}'",
                                set.release_track, set.name
                            ),
                        );
                    }
                }
                None => {}
            }
            match &app.source {
                Source::Build { build_definition } if !build_definition.is_empty() => {
                    match self.build_definitions.get(build_definition) {
                        None => r.at(
                            &app.origin,
                            kind,
                            &app.name,
                            "spec.buildDefinition".into(),
                            format!("no BuildDefinition named '{build_definition}'"),
                        ),
                        Some(build) if build.containerize.is_none() => r.at(
                            &app.origin,
                            kind,
                            &app.name,
                            "spec.buildDefinition".into(),
                            format!(
                                "BuildDefinition '{build_definition}' has no spec.containerize, so it builds no image to deploy"
                            ),
                        ),
                        Some(_) => {}
                    }
                }
                Source::Build { .. } => {}
                Source::External { registries, .. } => {
                    for (i, reg) in registries.iter().enumerate() {
                        if !self.artifact_registries.contains_key(reg) {
                            r.at(
                                &app.origin,
                                kind,
                                &app.name,
                                format!("spec.registries[{i}]"),
                                format!("no ArtifactRegistry named '{reg}'"),
                            );
                        }
                    }
                }
            }
        }
    }

    fn check_deployment_configs(&self, r: &mut Reporter<'_>) {
        for dc in self.deployment_configs.values() {
            if !self.applications.contains_key(&dc.application) {
                r.at(
                    &dc.origin,
                    "DeploymentConfig",
                    &dc.application,
                    "metadata.name".into(),
                    format!(
                        "no Application or ExternalApplication named '{}'",
                        dc.application
                    ),
                );
            }
            if !dc.environment.is_empty() && !self.environments.contains_key(&dc.environment) {
                r.at(
                    &dc.origin,
                    "DeploymentConfig",
                    &dc.application,
                    "metadata.environment".into(),
                    format!("no Environment named '{}'", dc.environment),
                );
            }
        }
    }

    fn check_tracks(&self, r: &mut Reporter<'_>) {
        for track in self.release_tracks.values() {
            let apps: Vec<&str> = self
                .applications
                .values()
                .filter(|a| {
                    self.application_sets
                        .get(&a.application_set)
                        .is_some_and(|s| s.release_track == track.name)
                })
                .map(|a| a.name.as_str())
                .collect();
            let mut missing_reported = BTreeSet::new();
            for (list, key) in [
                (Track::PreRelease, "preReleaseStages"),
                (Track::Release, "releaseStages"),
                (Track::Hotfix, "hotfixStages"),
            ] {
                let mut seen: Vec<(&str, usize)> = Vec::new();
                for (s, stage) in track.stages(list).iter().enumerate() {
                    for (e, env) in stage.environments.iter().enumerate() {
                        let field = format!("spec.{key}[{s}].environments[{e}]");
                        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == env.as_str()) {
                            r.at(
                                &track.origin,
                                "ReleaseTrack",
                                &track.name,
                                field.clone(),
                                format!("environment '{env}' already appears in stage {first}"),
                            );
                        }
                        seen.push((env, s));
                        if !self.environments.contains_key(env) {
                            r.at(
                                &track.origin,
                                "ReleaseTrack",
                                &track.name,
                                field,
                                format!("no Environment named '{env}'"),
                            );
                            continue;
                        }
                        for app in &apps {
                            let key = ((*app).to_string(), env.clone());
                            if !self.deployment_configs.contains_key(&key)
                                && missing_reported.insert(key)
                            {
                                r.at(
                                    &track.origin,
                                    "ReleaseTrack",
                                    &track.name,
                                    field.clone(),
                                    format!(
                                        "application '{app}' has no DeploymentConfig for environment '{env}'"
                                    ),
                                );
                            }
                        }
                    }
                    if let Some(policy) = &stage.approval {
                        self.check_policy(r, track, key, s, policy);
                    }
                }
            }
        }
    }

    fn check_policy(
        &self,
        r: &mut Reporter<'_>,
        track: &super::ReleaseTrack,
        key: &str,
        stage: usize,
        policy: &super::ApprovalPolicy,
    ) {
        let mut resolved = true;
        for (i, group) in policy.groups.iter().enumerate() {
            if self.group(group).is_none() {
                resolved = false;
                r.at(
                    &track.origin,
                    "ReleaseTrack",
                    &track.name,
                    format!(
                        "spec.{key}[{stage}].approvalPolicy.anyOf.policies[{i}].stakeholder.groupEmail"
                    ),
                    format!("no OrganizationUserGroup named or with email '{group}'"),
                );
            }
        }
        let eligible = self.stakeholders(policy).len();
        if resolved && eligible < policy.min_approvals as usize {
            r.at(
                &track.origin,
                "ReleaseTrack",
                &track.name,
                format!("spec.{key}[{stage}].approvalPolicy.anyOf.minApprovals"),
                format!(
                    "needs {} approvals but the stakeholder groups have only {eligible} member(s): the gate could never open",
                    policy.min_approvals
                ),
            );
        }
    }

    fn check_groups(&self, r: &mut Reporter<'_>) {
        for group in self.groups.values() {
            for (i, user) in group.users.iter().enumerate() {
                if !self.users.contains_key(user) {
                    r.at(
                        &group.origin,
                        "OrganizationUserGroup",
                        &group.name,
                        format!("spec.members.users[{i}]"),
                        format!("no OrganizationUser named '{user}'"),
                    );
                }
            }
        }
    }
}
