//! The Releaser: release attempts of a bundle, RC tags, release branches, production tags.

use std::collections::BTreeMap;

use super::build::stage_records;
use super::decide::{Txn, refresh_status};
use super::effect::EffectKind;
use super::input::ReleaseRequested;
use super::model::{
    BundleApp, ChangelogRecord, DeploymentId, DeploymentStatus, DeploymentTrack, ReleasePhase,
};
use super::reads::changelog_ranges;
use super::rejection::Rejection;
use crate::manifest::{Source, Track};
use crate::version::{check_bundle, next_suffix, production_tag, rc_prefix, rc_tag};

impl Txn<'_> {
    pub(super) fn release_requested(&mut self, r: &ReleaseRequested) -> Result<(), Rejection> {
        let catalog = self.snap.catalog;
        if !catalog.application_sets.contains_key(&r.application_set) {
            return Err(Rejection::UnknownApplicationSet(r.application_set.clone()));
        }
        check_bundle(&r.bundle).map_err(|e| Rejection::InvalidInput {
            field: "bundle",
            reason: e.to_string(),
        })?;
        let none: [&str; 0] = [];
        rc_tag(&r.application_set, &r.bundle, none)
            .map_err(|e| Rejection::InvalidTag(e.to_string()))?;
        let apps = catalog.applications_in_set(&r.application_set);
        if apps.is_empty() {
            return Err(Rejection::InvalidInput {
                field: "applicationSet",
                reason: format!("'{}' has no applications", r.application_set),
            });
        }
        if let Some(unknown) = r
            .versions
            .keys()
            .find(|a| !apps.iter().any(|app| app.name == **a))
        {
            return Err(Rejection::UnknownApplication(unknown.clone()));
        }
        let mut chosen = BTreeMap::new();
        let mut missing = Vec::new();
        for app in &apps {
            match r.versions.get(&app.name) {
                Some(v) if self.passed(&app.name, v) => {
                    chosen.insert(app.name.clone(), v.clone());
                }
                Some(v) => missing.push((
                    app.name.clone(),
                    format!("{v} has not passed every pre-release stage"),
                )),
                // The best passed build, kept as a record: the history is not read.
                None => match self.snap.state.recorded_passed(&app.name) {
                    Some(v) => {
                        chosen.insert(app.name.clone(), v.to_string());
                    }
                    None => missing.push((
                        app.name.clone(),
                        "no version has passed every pre-release stage".to_string(),
                    )),
                },
            }
        }
        if !missing.is_empty() {
            return Err(Rejection::ReleaseNotReady {
                application_set: r.application_set.clone(),
                bundle: r.bundle.clone(),
                missing,
            });
        }
        self.start_attempt(&r.application_set, &r.bundle, chosen, &r.actor);
        Ok(())
    }

    /// Whether the build `version` of `app` passed its PreRelease stages (a store loads the
    /// builds of that version by key; see [`Reads::builds`](super::Reads::builds)).
    fn passed(&self, app: &str, version: &str) -> bool {
        self.deployments().into_iter().any(|d| {
            d.track == DeploymentTrack::PreRelease
                && d.application.as_deref() == Some(app)
                && d.version == version
                && d.status == DeploymentStatus::Succeeded
        })
    }

    /// Starts a release attempt, unless a live attempt of the bundle has exactly these versions
    /// (a repeated request). Live attempts with other versions are cancelled.
    pub(super) fn start_attempt(
        &mut self,
        set: &str,
        bundle: &str,
        versions: BTreeMap<String, String>,
        actor: &str,
    ) {
        let attempts: Vec<(DeploymentId, bool, bool)> = self
            .deployments()
            .into_iter()
            .filter(|d| {
                d.track == DeploymentTrack::Release
                    && d.application_set == set
                    && d.bundle.as_deref() == Some(bundle)
            })
            .map(|d| {
                let same = d
                    .apps
                    .iter()
                    .map(|(a, b)| (a, &b.version))
                    .eq(versions.iter());
                (d.id.clone(), d.status.is_final(), same)
            })
            .collect();
        if let Some((id, _, _)) = attempts.iter().find(|(_, fin, same)| !fin && *same) {
            self.subjects.push(id.clone());
            return;
        }
        let catalog = self.snap.catalog;
        let Some(track) = catalog
            .application_sets
            .get(set)
            .and_then(|s| catalog.release_tracks.get(&s.release_track))
        else {
            return;
        };
        let stages = stage_records(track.stages(Track::Release));
        let mut d = self.new_deployment(DeploymentTrack::Release, set, None, "", stages);
        d.bundle = Some(bundle.to_string());
        d.phase = Some(ReleasePhase::ResolvingRc);
        d.requested_by = (!actor.is_empty()).then(|| actor.to_string());
        for (app, version) in &versions {
            let image = catalog.image_of(app);
            let repository = catalog.applications.get(app).and_then(|a| match &a.source {
                Source::Build { build_definition } => catalog
                    .build_definitions
                    .get(build_definition)
                    .map(|b| b.github_repository.clone()),
                Source::External { .. } => None,
            });
            d.apps.insert(
                app.clone(),
                BundleApp {
                    version: version.clone(),
                    image: image.map(|i| i.name.to_string()).unwrap_or_default(),
                    registries: image.map(|i| i.registries.to_vec()).unwrap_or_default(),
                    repository,
                    branch_commit: None,
                    production_tag: None,
                },
            );
            if let Some(v) = self.env_version_in_last_stage(app, &d.stages) {
                d.last_deployed_versions.insert(app.clone(), v);
            }
        }
        let authors: Vec<String> = self
            .deployments()
            .into_iter()
            .filter(|p| {
                p.track == DeploymentTrack::PreRelease
                    && p.application
                        .as_ref()
                        .is_some_and(|a| versions.get(a) == Some(&p.version))
            })
            .flat_map(|p| p.authors.iter().cloned())
            .chain(d.requested_by.iter().cloned())
            .collect();
        d.authors = authors;
        let id = d.id.clone();
        let lists: Vec<(String, String)> = d
            .apps
            .values()
            .flat_map(|a| a.registries.iter().map(|r| (r.clone(), a.image.clone())))
            .collect();
        let changelog = self.release_changelog(set, &versions);
        self.create(d);
        for (live, fin, _) in attempts {
            if !fin {
                self.end(
                    &live,
                    DeploymentStatus::Cancelled,
                    format!("replaced by a new attempt of {set} {bundle}"),
                );
            }
        }
        for entry in changelog {
            let changelog_id = self.ids.next_id();
            self.append_changelog(ChangelogRecord {
                deployment: id.clone(),
                changelog_id,
                entry,
            });
        }
        for (registry, image) in lists {
            self.enqueue(
                &id,
                format!("{id}/rc/list/{registry}/{image}"),
                EffectKind::ListTags { registry, image },
            );
        }
        self.advance(&id);
    }

    /// The version an app runs in the environments of the last release stage, as recorded.
    fn env_version_in_last_stage(
        &self,
        app: &str,
        stages: &[super::StageRecord],
    ) -> Option<String> {
        let env = stages.last()?.environments.first()?;
        self.env_version(app, env)
            .map(|v| v.version.clone())
            .filter(|v| !v.is_empty())
    }

    /// The union of the apps' changelogs since their previous production release: the builds
    /// of each app whose version is above the one that release carried and not above the one
    /// chosen, by semver precedence (see [`changelog_range`]).
    fn release_changelog(
        &self,
        set: &str,
        versions: &BTreeMap<String, String>,
    ) -> Vec<super::ChangelogEntry> {
        let ranges = changelog_ranges(self.snap.state, set, versions);
        let mut entries = Vec::new();
        for d in self.deployments() {
            let Some(app) = d.application.as_deref() else {
                continue;
            };
            if d.track != DeploymentTrack::PreRelease {
                continue;
            }
            let in_range = ranges
                .iter()
                .any(|r| r.application == app && r.contains(&d.version));
            if in_range {
                entries.extend(
                    self.changelog_of(&d.id)
                        .into_iter()
                        .map(|c| c.entry.clone()),
                );
            }
        }
        entries
    }

    /// Moves a release between phases once the effects of the current phase are confirmed.
    /// Returns true when the release reached its stages and should keep advancing.
    pub(super) fn release_phase_step(&mut self, id: &DeploymentId) -> bool {
        let Some(d) = self.get(id) else { return false };
        match d.phase {
            Some(ReleasePhase::ResolvingRc) => {
                self.number_rc(id);
                false
            }
            Some(ReleasePhase::BranchingRc) => {
                self.tag_rc(id);
                false
            }
            Some(ReleasePhase::TaggingRc) => {
                if let Some(d) = self.touch(id) {
                    d.phase = Some(ReleasePhase::Stages);
                    refresh_status(d);
                }
                true
            }
            Some(ReleasePhase::ResolvingProduction) => {
                self.name_production_tags(id);
                false
            }
            Some(ReleasePhase::TaggingProduction) => {
                if let Some(d) = self.touch(id) {
                    d.phase = Some(ReleasePhase::Done);
                    d.status = DeploymentStatus::Succeeded;
                }
                false
            }
            Some(ReleasePhase::Stages | ReleasePhase::Done) | None => false,
        }
    }

    /// Names the RC tag (above every RC tag in the registries and every earlier attempt that
    /// may have created one), stores it, then queues the release branches; the RC tags follow
    /// once every branch exists.
    ///
    /// An attempt counts once it asked for its RC tags, or while it is live (it still may): an
    /// attempt that ended creating its branches never reached a registry, and the next attempt
    /// takes its number.
    fn number_rc(&mut self, id: &DeploymentId) {
        let Some(d) = self.get(id) else { return };
        let set = d.application_set.clone();
        let bundle = d.bundle.clone().unwrap_or_default();
        let prefix = rc_prefix(&set, &bundle);
        let from_registry = d
            .observed_tags
            .values()
            .map(|tags| next_suffix(&prefix, tags.iter().map(String::as_str)))
            .max()
            .unwrap_or(0);
        let attempts: Vec<String> = self
            .deployments()
            .into_iter()
            .filter(|o| {
                o.id != *id
                    && o.track == DeploymentTrack::Release
                    && o.application_set == set
                    && o.bundle.as_deref() == Some(bundle.as_str())
                    && !(o.status.is_final() && o.phase == Some(ReleasePhase::BranchingRc))
            })
            .map(|o| o.version.clone())
            .collect();
        let from_attempts = next_suffix(&prefix, attempts.iter().map(String::as_str));
        let rc = format!("{prefix}{}", from_registry.max(from_attempts));
        let branch = format!("release/{set}/{bundle}");
        let mut effects = Vec::new();
        for (app, a) in &d.apps {
            if let Some(repository) = &a.repository {
                effects.push((
                    format!("{id}/branch/{app}"),
                    EffectKind::CreateBranch {
                        repository: repository.clone(),
                        branch: branch.clone(),
                        from_tag: a.version.clone(),
                    },
                ));
            }
        }
        if let Some(d) = self.touch(id) {
            d.version = rc;
            d.phase = Some(ReleasePhase::BranchingRc);
            d.observed_tags.clear();
        }
        for (effect_id, kind) in effects {
            self.enqueue(id, effect_id, kind);
        }
        self.advance(id);
    }

    /// Every release branch exists: queues the RC tags.
    fn tag_rc(&mut self, id: &DeploymentId) {
        let Some(d) = self.get(id) else { return };
        let rc = d.version.clone();
        let mut effects = Vec::new();
        for a in d.apps.values() {
            for registry in &a.registries {
                effects.push((
                    format!("{id}/rc/tag/{registry}/{}", a.image),
                    EffectKind::TagImage {
                        registry: registry.clone(),
                        image: a.image.clone(),
                        source: a.version.clone(),
                        tag: rc.clone(),
                    },
                ));
            }
        }
        if let Some(d) = self.touch(id) {
            d.phase = Some(ReleasePhase::TaggingRc);
        }
        for (effect_id, kind) in effects {
            self.enqueue(id, effect_id, kind);
        }
        self.advance(id);
    }

    /// Names each app's production tag from the tags listed, then queues them (and releases).
    fn name_production_tags(&mut self, id: &DeploymentId) {
        let Some(d) = self.get(id) else { return };
        let rc = d.version.clone();
        let create_releases = self.snap.settings.create_releases;
        let notes = self.release_notes(id);
        let mut named = Vec::new();
        let mut effects = Vec::new();
        for (app, a) in &d.apps {
            let seen: Vec<&str> = a
                .registries
                .iter()
                .filter_map(|r| d.observed_tags.get(&format!("{r}/{}", a.image)))
                .flatten()
                .map(String::as_str)
                .collect();
            let Ok(tag) = production_tag(&rc, seen) else {
                continue;
            };
            for registry in &a.registries {
                effects.push((
                    format!("{id}/production/tag/{registry}/{}", a.image),
                    EffectKind::TagImage {
                        registry: registry.clone(),
                        image: a.image.clone(),
                        source: rc.clone(),
                        tag: tag.clone(),
                    },
                ));
            }
            if let (true, Some(repository)) = (create_releases, &a.repository) {
                effects.push((
                    format!("{id}/github-release/{app}"),
                    EffectKind::CreateRelease {
                        repository: repository.clone(),
                        tag: a.version.clone(),
                        name: format!("{} {}", d.application_set, tag),
                        notes: notes.clone(),
                    },
                ));
            }
            named.push((app.clone(), tag));
        }
        if let Some(d) = self.touch(id) {
            for (app, tag) in named {
                if let Some(a) = d.apps.get_mut(&app) {
                    a.production_tag = Some(tag);
                }
            }
            d.phase = Some(ReleasePhase::TaggingProduction);
        }
        for (effect_id, kind) in effects {
            self.enqueue(id, effect_id, kind);
        }
        self.advance(id);
    }

    /// Markdown release notes from a release's changelog: breaking changes first, then by type.
    fn release_notes(&self, id: &DeploymentId) -> String {
        let entries = self.changelog_of(id);
        let mut notes = String::new();
        let breaking: Vec<_> = entries.iter().filter(|c| c.entry.breaking).collect();
        if !breaking.is_empty() {
            notes.push_str("### Breaking changes\n\n");
            for c in breaking {
                notes.push_str(&format!(
                    "- {}: {}\n",
                    c.entry.application, c.entry.description
                ));
            }
            notes.push('\n');
        }
        let mut by_type: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for c in entries.iter().filter(|c| !c.entry.breaking) {
            let scope = c
                .entry
                .scope
                .as_ref()
                .map_or(String::new(), |s| format!("**{s}**: "));
            by_type
                .entry(c.entry.kind.as_str())
                .or_default()
                .push(format!(
                    "- {}: {scope}{}\n",
                    c.entry.application, c.entry.description
                ));
        }
        for (kind, lines) in by_type {
            notes.push_str(&format!("### {kind}\n\n"));
            for line in lines {
                notes.push_str(&line);
            }
            notes.push('\n');
        }
        notes
    }
}
