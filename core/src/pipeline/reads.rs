//! What a decision reads: keys a store answers with indexed queries, never a scan of history.
//!
//! A decision sees the *open* deployments of the application sets it concerns (not final, or
//! with effects still in their outbox), the deployments it names, and, by key, the few finished
//! ones it may need: the deployment a replayed notification created (by dedup key), the builds
//! of a version (to check it passed, and for its authors), the attempts of a release bundle (to
//! number its RC and to retry it), the builds since the last release (for its changelog). What
//! history as a whole says, it reads from [records](super::records). Holds and environment
//! versions come whole: they grow with the tenant, not with history.
//!
//! [`reads_for`] plans the reads of an input from what is loaded so far; a driver loads what is
//! missing ([`ReadPlan`]) and asks again until nothing is (two or three rounds at most: a retried release needs
//! the release before it knows its bundle). [`State::select`] is the reference semantics of a
//! store's load, and a property test requires the same decision from the selected state as from
//! the whole one.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::input::Input;
use super::model::{DeploymentId, DeploymentTrack, State};
use super::records::{passed_key, released_key, sequence_key};
use crate::manifest::{Catalog, Source};
use crate::version::order_key;

/// PreRelease builds of one application whose version's [`order_key`] is above `after` (when
/// set) and at most `up_to`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionRange {
    /// The application.
    pub application: String,
    /// The order key the range starts above, if any.
    pub after: Option<String>,
    /// The order key the range ends at, inclusive.
    pub up_to: String,
}

impl VersionRange {
    /// Whether `version` is in the range (a version semver does not parse never is).
    #[must_use]
    pub fn contains(&self, version: &str) -> bool {
        order_key(version)
            .is_some_and(|k| self.after.as_ref().is_none_or(|after| k > *after) && k <= self.up_to)
    }
}

/// What to load. Every field is a key, answered by an index; holds and environment versions
/// are always loaded, and with every deployment its approvals and changelog.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reads {
    /// The open deployments of every application set.
    pub all_open: bool,
    /// The open deployments of these application sets.
    pub open_sets: BTreeSet<String>,
    /// These deployments, whatever their status.
    pub deployments: BTreeSet<DeploymentId>,
    /// The deployments created by these notifications' dedup keys.
    pub dedup_keys: BTreeSet<String>,
    /// The PreRelease deployments of these (application, version) pairs.
    pub builds: BTreeSet<(String, String)>,
    /// The release attempts of these (application set, bundle) pairs.
    pub bundles: BTreeSet<(String, String)>,
    /// The PreRelease deployments in these version ranges.
    pub ranges: BTreeSet<VersionRange>,
    /// These records.
    pub records: BTreeSet<String>,
}

impl Reads {
    /// True when there is nothing to load but holds and environment versions.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Reads::default()
    }

    /// What `self` asks for that `done` did not.
    #[must_use]
    pub fn minus(&self, done: &Reads) -> Reads {
        fn left<T: Ord + Clone>(a: &BTreeSet<T>, b: &BTreeSet<T>) -> BTreeSet<T> {
            a.difference(b).cloned().collect()
        }
        Reads {
            all_open: self.all_open && !done.all_open,
            open_sets: if done.all_open {
                BTreeSet::new()
            } else {
                left(&self.open_sets, &done.open_sets)
            },
            deployments: left(&self.deployments, &done.deployments),
            dedup_keys: left(&self.dedup_keys, &done.dedup_keys),
            builds: left(&self.builds, &done.builds),
            bundles: left(&self.bundles, &done.bundles),
            ranges: left(&self.ranges, &done.ranges),
            records: left(&self.records, &done.records),
        }
    }

    /// Adds everything `other` asks for.
    pub fn extend(&mut self, other: Reads) {
        self.all_open |= other.all_open;
        self.open_sets.extend(other.open_sets);
        self.deployments.extend(other.deployments);
        self.dedup_keys.extend(other.dedup_keys);
        self.builds.extend(other.builds);
        self.bundles.extend(other.bundles);
        self.ranges.extend(other.ranges);
        self.records.extend(other.records);
    }
}

/// The changelog ranges of a release of `versions` in `set`: per app, above the version the
/// set's last successful release carried (as recorded) and up to the chosen one. When either
/// version is one semver does not parse, the app has no range (and no changelog): no order
/// says which builds lie between.
#[must_use]
pub fn changelog_ranges(
    state: &State,
    set: &str,
    versions: &BTreeMap<String, String>,
) -> Vec<VersionRange> {
    let previous = state.recorded_release(set);
    versions
        .iter()
        .filter_map(|(app, chosen)| {
            let after = match previous.and_then(|p| p.get(app)) {
                Some(v) => Some(order_key(v)?),
                None => None,
            };
            Some(VersionRange {
                application: app.clone(),
                after,
                up_to: order_key(chosen)?,
            })
        })
        .collect()
}

/// The dedup key of a build notification's deployment of `application`.
#[must_use]
pub fn dedup_key(
    build_definition: &str,
    container: &str,
    version: &str,
    application: &str,
) -> String {
    format!("{build_definition}/{container}/{version}/{application}")
}

/// The applications a build notification deploys: those whose BuildDefinition built the image,
/// or the ExternalApplication it names.
#[must_use]
pub fn build_applications<'a>(
    catalog: &'a Catalog,
    build_definition: &str,
    container: &str,
) -> Vec<&'a str> {
    let mut apps: Vec<&str> = catalog
        .applications_for_build(build_definition, container)
        .into_iter()
        .map(|a| a.name.as_str())
        .collect();
    if apps.is_empty()
        && let Some(app) = catalog.applications.get(build_definition)
        && matches!(&app.source, Source::External { image, .. } if image == container)
    {
        apps.push(&app.name);
    }
    apps
}

/// What deciding `input` reads, given what `done` asked for and `loaded` holds so far. Asked
/// again after each load, it only grows; a driver stops when it asks for nothing new (see
/// [`ReadPlan`], which runs the rounds).
#[must_use]
pub fn reads_for(input: &Input, catalog: &Catalog, loaded: &State, done: &Reads) -> Reads {
    let mut r = Reads::default();
    let set_of_app = |app: &str| {
        catalog
            .applications
            .get(app)
            .map(|a| a.application_set.clone())
    };
    // Where new deployments may be created: their set's sequence record is read.
    let mut creating_in = BTreeSet::new();
    match input {
        Input::BuildNotified(b) => {
            for app in build_applications(catalog, &b.build_definition_id, &b.container) {
                r.dedup_keys.insert(dedup_key(
                    &b.build_definition_id,
                    &b.container,
                    &b.version,
                    app,
                ));
                if let Some(set) = set_of_app(app) {
                    creating_in.insert(set);
                }
            }
        }
        Input::ReleaseRequested(req) => {
            let set = &req.application_set;
            creating_in.insert(set.clone());
            r.bundles.insert((set.clone(), req.bundle.clone()));
            r.records.insert(released_key(set));
            let mut chosen = BTreeMap::new();
            for app in catalog
                .applications
                .values()
                .filter(|a| a.application_set == *set)
            {
                r.records.insert(passed_key(&app.name));
                let version = req
                    .versions
                    .get(&app.name)
                    .map(String::as_str)
                    .or_else(|| loaded.recorded_passed(&app.name));
                if let Some(v) = version {
                    chosen.insert(app.name.clone(), v.to_string());
                }
            }
            release_reads(&mut r, loaded, done, set, &chosen);
        }
        Input::RollbackRequested { application, .. } => match set_of_app(application) {
            Some(set) => {
                creating_in.insert(set);
            }
            None => r.all_open = true,
        },
        Input::RetryRequested { deployment, .. } => {
            r.deployments.insert(deployment.clone());
            if let Some(d) = loaded.deployments.get(deployment) {
                creating_in.insert(d.application_set.clone());
                if d.track == DeploymentTrack::Release {
                    r.records.insert(released_key(&d.application_set));
                    let versions = d
                        .apps
                        .iter()
                        .map(|(a, b)| (a.clone(), b.version.clone()))
                        .collect();
                    release_reads(&mut r, loaded, done, &d.application_set, &versions);
                }
            }
        }
        Input::StatusReported(s) => named(&mut r, loaded, &s.deployment),
        Input::ApprovalRecorded(a) => named(&mut r, loaded, &a.deployment),
        Input::CancelRequested { deployment, .. } => named(&mut r, loaded, deployment),
        Input::EffectCompleted { deployment, .. } | Input::EffectFailed { deployment, .. } => {
            named(&mut r, loaded, deployment);
        }
        Input::HoldPlaced { .. } | Input::HoldLifted { .. } | Input::Tick => r.all_open = true,
    }
    for set in creating_in {
        r.records.insert(sequence_key(&set));
        r.open_sets.insert(set);
    }
    // A release in view may number its RC or start over: it reads every attempt of its bundle.
    for d in loaded.deployments.values() {
        if d.track == DeploymentTrack::Release
            && let Some(bundle) = &d.bundle
        {
            r.bundles
                .insert((d.application_set.clone(), bundle.clone()));
        }
    }
    r
}

/// A named deployment, and the open deployments of its set (which its outcome may move on).
fn named(r: &mut Reads, loaded: &State, id: &DeploymentId) {
    r.deployments.insert(id.clone());
    if let Some(d) = loaded.deployments.get(id) {
        r.open_sets.insert(d.application_set.clone());
    }
}

/// What starting a release attempt of `versions` reads: the builds of those versions (to check
/// they passed, and for their authors) and the builds since the last release (its changelog).
fn release_reads(
    r: &mut Reads,
    loaded: &State,
    done: &Reads,
    set: &str,
    versions: &BTreeMap<String, String>,
) {
    for (app, v) in versions {
        r.builds.insert((app.clone(), v.clone()));
    }
    // The ranges start at the last release: only once its record was read (present or not)
    // do they have their lower bound.
    if done.records.contains(&released_key(set)) {
        r.ranges.extend(changelog_ranges(loaded, set, versions));
    }
}

/// The rounds of loading what deciding one input reads: ask [`ReadPlan::next`] what to load,
/// hand the loaded part to [`ReadPlan::add`], until `next` asks for nothing; then
/// [`ReadPlan::finish`] is the snapshot to decide on. A driver runs it over a store, one load per
/// round; [`State::select_for`] runs it over a whole state.
#[derive(Debug)]
pub struct ReadPlan<'a> {
    input: &'a Input,
    catalog: &'a Catalog,
    done: Reads,
    loaded: State,
    first: bool,
}

impl<'a> ReadPlan<'a> {
    /// The plan for deciding `input` on `catalog`.
    #[must_use]
    pub fn new(input: &'a Input, catalog: &'a Catalog) -> Self {
        ReadPlan {
            input,
            catalog,
            done: Reads::default(),
            loaded: State::default(),
            first: true,
        }
    }

    /// What to load next, or `None` when everything the decision reads is loaded.
    #[must_use]
    pub fn next(&self) -> Option<Reads> {
        let more = reads_for(self.input, self.catalog, &self.loaded, &self.done).minus(&self.done);
        // The first load happens even when it names nothing: holds and environment versions
        // come with every load.
        (self.first || !more.is_empty()).then_some(more)
    }

    /// Takes in what a load of `reads` returned.
    pub fn add(&mut self, reads: Reads, part: State) {
        self.first = false;
        self.loaded.merge(part);
        self.done.extend(reads);
    }

    /// The snapshot to decide on.
    #[must_use]
    pub fn finish(self) -> State {
        self.loaded
    }
}

impl State {
    /// What a decision of `input` sees when a store holds this state: the [`ReadPlan`] of the
    /// input, each round answered by [`State::select`].
    #[must_use]
    pub fn select_for(&self, input: &Input, catalog: &Catalog) -> State {
        let mut plan = ReadPlan::new(input, catalog);
        while let Some(reads) = plan.next() {
            let part = self.select(&reads);
            plan.add(reads, part);
        }
        plan.finish()
    }

    /// The part of this state `reads` names: the reference semantics of a store's load.
    #[must_use]
    pub fn select(&self, reads: &Reads) -> State {
        let deployments: BTreeMap<_, _> = self
            .deployments
            .iter()
            .filter(|(id, d)| {
                let open =
                    d.is_open() && (reads.all_open || reads.open_sets.contains(&d.application_set));
                let build = d.track == DeploymentTrack::PreRelease
                    && d.application.as_ref().is_some_and(|app| {
                        reads.builds.contains(&(app.clone(), d.version.clone()))
                            || reads
                                .ranges
                                .iter()
                                .any(|r| r.application == *app && r.contains(&d.version))
                    });
                let bundle = d.track == DeploymentTrack::Release
                    && d.bundle.as_ref().is_some_and(|b| {
                        reads
                            .bundles
                            .contains(&(d.application_set.clone(), b.clone()))
                    });
                open || build
                    || bundle
                    || reads.deployments.contains(*id)
                    || d.dedup_key
                        .as_ref()
                        .is_some_and(|k| reads.dedup_keys.contains(k))
            })
            .map(|(k, d)| (k.clone(), d.clone()))
            .collect();
        State {
            approvals: self
                .approvals
                .iter()
                .filter(|a| deployments.contains_key(&a.deployment))
                .cloned()
                .collect(),
            changelogs: self
                .changelogs
                .iter()
                .filter(|c| deployments.contains_key(&c.deployment))
                .cloned()
                .collect(),
            holds: self.holds.clone(),
            env_versions: self.env_versions.clone(),
            records: self
                .records
                .iter()
                .filter(|(k, _)| reads.records.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            deployments,
        }
    }

    /// Adds what a later load returned. A deployment already here keeps its value, approvals
    /// and changelog; holds and environment versions are taken from the later load.
    pub fn merge(&mut self, later: State) {
        let State {
            deployments,
            approvals,
            changelogs,
            holds,
            env_versions,
            records,
        } = later;
        let fresh: BTreeSet<DeploymentId> = deployments
            .keys()
            .filter(|id| !self.deployments.contains_key(*id))
            .cloned()
            .collect();
        for (id, d) in deployments {
            self.deployments.entry(id).or_insert(d);
        }
        self.approvals.extend(
            approvals
                .into_iter()
                .filter(|a| fresh.contains(&a.deployment)),
        );
        self.changelogs.extend(
            changelogs
                .into_iter()
                .filter(|c| fresh.contains(&c.deployment)),
        );
        self.holds = holds;
        self.env_versions = env_versions;
        self.records.extend(records);
    }
}
