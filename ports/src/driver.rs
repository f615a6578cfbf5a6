//! The driver: runs `cd_core::pipeline::decide` over the ports.
//!
//! For every input it loads the state the input needs, decides, commits the writes (the intent)
//! with a revision check, and only then performs effects, each through its port, retrying
//! transient failures with backoff on the injected clock. Outcomes go back in as inputs. After a
//! restart, [`Driver::outstanding`] says what the stored outboxes still hold; the
//! [`EffectLoop`](crate::EffectLoop) performs it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use cd_core::manifest::{Catalog, Problems};
use cd_core::pipeline::{
    Decision, Deployment, DeploymentId, Effect, EffectKind, EffectOutcome, Hold, IdSource, Input,
    ManifestCommit, Promotion, ReadPlan, Reads, Rejection, Requirement, Settings, Snapshot, State,
    Timestamp, deadlines, decide, pending_effects, requirements,
};

use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::notifier::{Notifier, NotifyError};
use crate::registry::{Registry, RegistryError};
use crate::repo::{ManifestRepo, RepoError};
use crate::source::{SourceError, SourceHost};
use crate::store::{DeploymentFilter, DeploymentView, Store, StoreError};

/// The adapters a driver runs on.
#[derive(Clone)]
pub struct Ports {
    /// State.
    pub store: Arc<dyn Store>,
    /// Image tags.
    pub registry: Arc<dyn Registry>,
    /// The manifest repository.
    pub repo: Arc<dyn ManifestRepo>,
    /// Source repositories.
    pub source: Arc<dyn SourceHost>,
    /// Events.
    pub notifier: Arc<dyn Notifier>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ports")
    }
}

/// How hard the driver tries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per effect before it is reported failed (transient errors only).
    pub attempts: u32,
    /// First backoff, doubled after each failed attempt.
    pub first_backoff_ms: u64,
    /// Backoff ceiling.
    pub max_backoff_ms: u64,
    /// Re-decisions after store conflicts before giving up.
    pub conflict_attempts: u32,
    /// How long a loaded catalog is reused before the repository is read again.
    pub catalog_ttl_ms: i64,
}

impl RetryPolicy {
    /// The backoff of one retried call.
    #[must_use]
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.first_backoff_ms, self.max_backoff_ms)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_backoff_ms: 200,
            max_backoff_ms: 10_000,
            conflict_attempts: 16,
            catalog_ttl_ms: 10_000,
        }
    }
}

/// Why the driver could not handle an input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The core refused the input; nothing was written.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The store failed after retries.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The manifests at the repository head are invalid: no decision can be made on them.
    #[error("the manifests are invalid: {0}")]
    Manifests(Problems),
    /// The manifest repository could not be read.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// What a new deployment names could not be checked: the registry or the source host did
    /// not answer. Nothing was written; the sender should try again (Pub/Sub redelivers).
    #[error("cannot check that the {what} exists: {error}")]
    Unverified {
        /// What was to be checked.
        what: String,
        /// The last error.
        error: String,
    },
    /// Concurrent writers kept changing the same deployments.
    #[error("gave up after {0} conflicting attempts")]
    Contended(u32),
}

/// What the store says is still to do (see [`Driver::outstanding`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outstanding {
    /// Every effect in a stored outbox and not parked.
    pub effects: Vec<Effect>,
    /// Every engine deadline of a stage still deploying.
    pub deadlines: Vec<Timestamp>,
}

struct CachedCatalog {
    at: Timestamp,
    catalog: Arc<Catalog>,
    /// The head was invalid at `at`: new work is refused until the head is valid again.
    invalid: Option<Problems>,
}

/// Runs the core through the ports. Cheap to share: wrap it in an `Arc`.
///
/// A build taken to its first stage on the in-memory adapters: the driver decides and stores,
/// the [`EffectLoop`](crate::EffectLoop) performs (here, the manifest commit), and the stage
/// waits for the engine's report.
///
/// ```
/// use std::sync::Arc;
///
/// use cd_core::pipeline::{BuildNotified, Input, SequentialIds, Settings, StageStatus, Timestamp};
/// use cd_memory::{MemoryNotifier, MemoryRegistry, MemoryRepo, MemorySourceHost, MemoryStore};
/// use cd_ports::{Driver, EffectLoop, LoopPolicy, ManualClock, Ports, RetryPolicy};
///
/// # futures_executor::block_on(async {
/// let repo = Arc::new(MemoryRepo::new(cd_memory::minimal_tenant()));
/// let registry = Arc::new(MemoryRegistry::new());
/// registry.push("containers", "api", "v1.0.0", "sha256:aa"); // CI pushed the image
/// let ports = Ports {
///     store: Arc::new(MemoryStore::new()),
///     registry,
///     repo: repo.clone(),
///     source: Arc::new(MemorySourceHost::new()),
///     notifier: Arc::new(MemoryNotifier::new()),
///     clock: Arc::new(ManualClock::new(Timestamp(0))),
/// };
/// let ids = Box::new(SequentialIds::new("d-", 1));
/// let driver = Arc::new(Driver::new(ports, Settings::default(), RetryPolicy::default(), ids));
///
/// let build = Input::BuildNotified(BuildNotified {
///     build_definition_id: "api".into(),
///     container: "api".into(),
///     version: "v1.0.0".into(),
///     ..BuildNotified::default()
/// });
/// let decision = driver.submit(&build).await?;
/// let mut effects = EffectLoop::new(driver.clone(), LoopPolicy::default());
/// effects.observe(&decision);
/// effects.run_until_idle().await;
///
/// let view = driver.deployment(&decision.deployments[0]).await?.expect("stored");
/// assert_eq!(view.deployment.stages[0].status, StageStatus::Deploying);
/// assert!(repo.files()["api/development.yaml"].contains("version: v1.0.0"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Driver {
    ports: Ports,
    settings: Settings,
    retry: RetryPolicy,
    ids: Mutex<Box<dyn IdSource + Send>>,
    catalog: Mutex<Option<CachedCatalog>>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("settings", &self.settings)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

enum Failure {
    Transient(String),
    Permanent(String),
}

impl Driver {
    /// A driver over `ports`, with ids from `ids`.
    #[must_use]
    pub fn new(
        ports: Ports,
        settings: Settings,
        retry: RetryPolicy,
        ids: Box<dyn IdSource + Send>,
    ) -> Self {
        Driver {
            ports,
            settings,
            retry,
            ids: Mutex::new(ids),
            catalog: Mutex::new(None),
        }
    }

    /// One deployment with its approvals and changelog: a read for people (the API, the
    /// Portal) and for the effect loop, which decides nothing.
    ///
    /// # Errors
    /// The store's error.
    pub async fn deployment(
        &self,
        id: &DeploymentId,
    ) -> Result<Option<DeploymentView>, StoreError> {
        self.ports.store.deployment(id).await
    }

    /// Deployments passing `filter`, newest first: a read for people.
    ///
    /// # Errors
    /// The store's error.
    pub async fn deployments(
        &self,
        filter: &DeploymentFilter,
    ) -> Result<Vec<Deployment>, StoreError> {
        self.ports.store.list(filter).await
    }

    /// The holds in force, by environment: a read for people.
    ///
    /// # Errors
    /// The store's error.
    pub async fn holds(&self) -> Result<BTreeMap<String, Hold>, StoreError> {
        self.ports.store.holds().await
    }

    /// The deployments waiting on people, with their ledgers (see
    /// [`Store::waiting_on_people`]).
    ///
    /// # Errors
    /// The store's error.
    pub async fn waiting_on_people(&self) -> Result<Vec<DeploymentView>, StoreError> {
        self.ports.store.waiting_on_people().await
    }

    /// The records `keys` name (each application's best passed build, a set's last release,
    /// ...: see `cd_core::pipeline::records`), read by key: what a release preview shows.
    ///
    /// # Errors
    /// The store's error.
    pub async fn records(
        &self,
        keys: BTreeSet<String>,
    ) -> Result<BTreeMap<String, cd_core::pipeline::Record>, StoreError> {
        let state = self
            .ports
            .store
            .load(&Reads {
                records: keys,
                ..Reads::default()
            })
            .await?;
        Ok(state.records)
    }

    /// When the changes these (application, version) builds carry were made (see
    /// [`Store::change_times`]).
    ///
    /// # Errors
    /// The store's error.
    pub async fn change_times(
        &self,
        builds: &BTreeSet<(String, String)>,
    ) -> Result<BTreeMap<(String, String), Timestamp>, StoreError> {
        self.ports.store.change_times(builds).await
    }

    /// Every open deployment with its ledger and changelog, the holds and the environment
    /// versions: what an overview of the pipeline reads (over the open index, never the
    /// history).
    ///
    /// # Errors
    /// The store's error.
    pub async fn open_state(&self) -> Result<State, StoreError> {
        self.ports
            .store
            .load(&Reads {
                all_open: true,
                ..Reads::default()
            })
            .await
    }

    /// Whether the store can take a decision now (see [`Store::ready`]).
    ///
    /// # Errors
    /// The store's error.
    pub async fn store_ready(&self) -> Result<(), StoreError> {
        self.ports.store.ready().await
    }

    /// Whether the manifest remote answers (see [`ManifestRepo::reachable`]).
    ///
    /// # Errors
    /// The repository's error.
    pub async fn manifests_reachable(&self) -> Result<(), RepoError> {
        self.ports.repo.reachable().await
    }

    /// The operator's settings.
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The manifests at the repository head, reused for `catalog_ttl_ms`.
    ///
    /// # Errors
    /// [`DriverError::Repo`] when the repository cannot be read, [`DriverError::Manifests`]
    /// when the manifests are invalid.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, DriverError> {
        let now = self.ports.clock.now();
        if let Ok(cache) = self.catalog.lock()
            && let Some(c) = cache.as_ref()
            && now.0.saturating_sub(c.at.0) < self.retry.catalog_ttl_ms
        {
            return match &c.invalid {
                None => Ok(c.catalog.clone()),
                Some(problems) => Err(DriverError::Manifests(problems.clone())),
            };
        }
        self.refresh_catalog().await
    }

    /// The catalog `input` is decided on. New work needs valid manifests at the head; work in
    /// flight (effect outcomes, engine reports, timers) continues on the last valid ones, so a
    /// broken manifest commit stops new promotions without stranding the ones under way.
    async fn catalog_for(&self, input: &Input) -> Result<Arc<Catalog>, DriverError> {
        let in_flight = matches!(
            input,
            Input::EffectCompleted { .. }
                | Input::EffectFailed { .. }
                | Input::StatusReported(_)
                | Input::Tick
        );
        if in_flight {
            self.catalog_or_last_valid().await
        } else {
            self.catalog().await
        }
    }

    /// The catalog at the manifest head or, when that head does not load, the last valid one
    /// (the head's error when there has been none).
    ///
    /// # Errors
    /// As [`Driver::catalog`], when no valid catalog was ever loaded.
    pub async fn catalog_or_last_valid(&self) -> Result<Arc<Catalog>, DriverError> {
        match self.catalog().await {
            Err(e) => match self.last_valid_catalog() {
                Some(c) => {
                    tracing::warn!(error = %e, "the manifest head does not load: using the last valid manifests");
                    Ok(c)
                }
                None => Err(e),
            },
            ok => ok,
        }
    }

    /// The last valid manifests this driver read, if any (also while the head is invalid).
    #[must_use]
    pub fn last_valid_catalog(&self) -> Option<Arc<Catalog>> {
        self.catalog
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.catalog.clone()))
    }

    /// Reads the manifests again.
    ///
    /// # Errors
    /// As [`Driver::catalog`].
    pub async fn refresh_catalog(&self) -> Result<Arc<Catalog>, DriverError> {
        let files = match self.retrying_repo_read().await {
            Ok((_, files)) => files,
            Err(e) => {
                // The remote is out of reach: keep what we know for another TTL instead of
                // making every input wait on the retries again.
                if let Ok(mut cache) = self.catalog.lock()
                    && let Some(c) = cache.as_mut()
                {
                    tracing::warn!(error = %e, "manifest repository unreachable; using the manifests last read");
                    c.at = self.ports.clock.now();
                    return match &c.invalid {
                        None => Ok(c.catalog.clone()),
                        Some(problems) => Err(DriverError::Manifests(problems.clone())),
                    };
                }
                return Err(e.into());
            }
        };
        let catalog = match Catalog::load_valid(files) {
            Ok(c) => Arc::new(c),
            Err(problems) => {
                // Keep the last good catalog, and do not read again before the TTL: someone
                // has to fix the manifests, and every input would otherwise fetch.
                if let Ok(mut cache) = self.catalog.lock()
                    && let Some(c) = cache.as_mut()
                {
                    c.at = self.ports.clock.now();
                    c.invalid = Some(problems.clone());
                }
                return Err(DriverError::Manifests(problems));
            }
        };
        if let Ok(mut cache) = self.catalog.lock() {
            *cache = Some(CachedCatalog {
                at: self.ports.clock.now(),
                catalog: catalog.clone(),
                invalid: None,
            });
        }
        Ok(catalog)
    }

    async fn retrying_repo_read(&self) -> Result<(String, Vec<(String, String)>), RepoError> {
        let mut backoff = self.retry.backoff();
        let mut attempt = 1;
        loop {
            match self.ports.repo.read().await {
                Err(RepoError::Unavailable(e)) if attempt < self.retry.attempts => {
                    tracing::warn!(error = %e, attempt, "manifest repository unavailable; retrying");
                }
                other => return other,
            }
            self.ports.clock.sleep(backoff.next_wait()).await;
            attempt += 1;
        }
    }

    /// What deciding `input` reads, loaded round by round as the core plans it
    /// (`cd_core::pipeline::ReadPlan`): one load for most inputs, two or three when a load names
    /// what to read next (a retried release, its bundle, the builds since the last release).
    async fn snapshot_for(&self, input: &Input, catalog: &Catalog) -> Result<State, StoreError> {
        let mut plan = ReadPlan::new(input, catalog);
        while let Some(reads) = plan.next() {
            let part = self.ports.store.load(&reads).await?;
            plan.add(reads, part);
        }
        Ok(plan.finish())
    }

    /// Decides `input` on fresh state and commits the decision's writes. Effects are *not*
    /// performed: they are in the stored outboxes and in the returned decision.
    ///
    /// # Errors
    /// [`DriverError::Rejected`] when the core refuses the input (nothing written); store,
    /// repository and manifest errors; [`DriverError::Contended`] after too many conflicts.
    pub async fn submit(&self, input: &Input) -> Result<Decision, DriverError> {
        let mut backoff = self.retry.backoff();
        let mut unavailable = 0;
        let mut verified = BTreeSet::new();
        for _ in 0..self.retry.conflict_attempts {
            let catalog = self.catalog_for(input).await?;
            let state = match self.snapshot_for(input, &catalog).await {
                Ok(state) => state,
                Err(StoreError::Unavailable(e)) if unavailable + 1 < self.retry.attempts => {
                    unavailable += 1;
                    tracing::warn!(error = %e, "store unavailable on load; retrying");
                    self.ports.clock.sleep(backoff.next_wait()).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let snapshot = Snapshot {
                catalog: &catalog,
                state: &state,
                settings: &self.settings,
            };
            let now = self.ports.clock.now();
            let decision = {
                let mut ids = self
                    .ids
                    .lock()
                    .map_err(|_| StoreError::Corrupt("id source poisoned".into()))?;
                decide(&snapshot, input, now, ids.as_mut())?
            };
            if decision.writes.is_empty() {
                return Ok(decision);
            }
            // Nothing is stored that names a version which does not resolve.
            let mut missing = Vec::new();
            for required in requirements(&decision, &catalog) {
                if verified.contains(&required) {
                    continue;
                }
                if self.exists(&required).await? {
                    verified.insert(required);
                } else {
                    missing.push(required);
                }
            }
            if !missing.is_empty() {
                return Err(Rejection::missing(input, missing).into());
            }
            match self.ports.store.apply(&decision.writes).await {
                Ok(()) => {
                    for id in &decision.deployments {
                        tracing::info!(deployment = %id, input = input.name(), writes = decision.writes.len(), effects = decision.effects.len(), "decided");
                    }
                    return Ok(decision);
                }
                Err(StoreError::Conflict(what)) => {
                    tracing::debug!(conflict = %what, input = input.name(), "conflict; deciding again");
                }
                Err(StoreError::Unavailable(e)) if unavailable + 1 < self.retry.attempts => {
                    unavailable += 1;
                    tracing::warn!(error = %e, "store unavailable on apply; deciding again");
                    self.ports.clock.sleep(backoff.next_wait()).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(DriverError::Contended(self.retry.conflict_attempts))
    }

    /// Whether `required` exists, asking its port and retrying while it does not answer.
    ///
    /// # Errors
    /// [`DriverError::Unverified`] when the port gives no answer after the retries.
    async fn exists(&self, required: &Requirement) -> Result<bool, DriverError> {
        let mut backoff = self.retry.backoff();
        let mut attempt = 1;
        loop {
            // Ok(answer), or Err((worth retrying, error)).
            let answer = match required {
                Requirement::ImageTag {
                    registry,
                    image,
                    tag,
                    ..
                } => match self.ports.registry.resolve(registry, image, tag).await {
                    Ok(_) => Ok(true),
                    Err(RegistryError::NotFound(_)) => Ok(false),
                    Err(RegistryError::Unavailable(e)) => Err((true, e)),
                    Err(e) => Err((false, e.to_string())),
                },
                Requirement::GitTag {
                    repository, tag, ..
                } => match self.ports.source.tag_commit(repository, tag).await {
                    Ok(commit) => Ok(commit.is_some()),
                    Err(SourceError::NotFound(_)) => Ok(false),
                    Err(SourceError::Unavailable(e)) => Err((true, e)),
                    Err(e) => Err((false, e.to_string())),
                },
            };
            match answer {
                Ok(exists) => return Ok(exists),
                Err((true, e)) if attempt < self.retry.attempts => {
                    tracing::warn!(what = %required, error = %e, attempt, "cannot check; retrying");
                    self.ports.clock.sleep(backoff.next_wait()).await;
                    attempt += 1;
                }
                Err((_, error)) => {
                    return Err(DriverError::Unverified {
                        what: required.to_string(),
                        error,
                    });
                }
            }
        }
    }

    /// What the store says is still to do: the effects of every outbox and the engine
    /// deadlines a tick must act on. The effect loop reads it at start and now and then after.
    ///
    /// # Errors
    /// Store errors.
    pub async fn outstanding(&self) -> Result<Outstanding, DriverError> {
        let open = Reads {
            all_open: true,
            ..Reads::default()
        };
        let state = self.ports.store.load(&open).await?;
        Ok(Outstanding {
            effects: pending_effects(&state),
            deadlines: deadlines(state.deployments.values()).collect(),
        })
    }

    /// The injected clock's time.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.ports.clock.now()
    }

    /// Performs one effect through its port, retrying transient failures with backoff, and
    /// returns the input that reports what came of it.
    pub async fn perform(&self, effect: &Effect) -> Input {
        let mut backoff = self.retry.backoff();
        let mut attempt = 1;
        let result = loop {
            match self.attempt(&effect.kind).await {
                Err(Failure::Transient(e)) if attempt < self.retry.attempts => {
                    tracing::warn!(deployment = %effect.deployment, effect = %effect.id, attempt, error = %e, "transient failure; retrying");
                    self.ports.clock.sleep(backoff.next_wait()).await;
                    attempt += 1;
                }
                other => break other,
            }
        };
        match result {
            Ok(outcome) => {
                tracing::debug!(deployment = %effect.deployment, effect = %effect.id, "effect done");
                Input::EffectCompleted {
                    deployment: effect.deployment.clone(),
                    effect_id: effect.id.clone(),
                    outcome,
                }
            }
            Err(failure) => {
                let (error, permanent) = match failure {
                    Failure::Transient(e) => (e, false),
                    Failure::Permanent(e) => (e, true),
                };
                tracing::error!(deployment = %effect.deployment, effect = %effect.id, permanent, error = %error, "effect failed");
                Input::EffectFailed {
                    deployment: effect.deployment.clone(),
                    effect_id: effect.id.clone(),
                    error,
                    permanent,
                }
            }
        }
    }

    async fn attempt(&self, kind: &EffectKind) -> Result<EffectOutcome, Failure> {
        let p = &self.ports;
        match kind {
            EffectKind::ListTags { registry, image } => p
                .registry
                .list_tags(registry, image, "")
                .await
                .map(|tags| EffectOutcome::Tags { tags })
                .map_err(registry_failure),
            EffectKind::TagImage {
                registry,
                image,
                source,
                tag,
            } => {
                let digest =
                    p.registry
                        .resolve(registry, image, source)
                        .await
                        .map_err(|e| match e {
                            RegistryError::NotFound(_) => Failure::Permanent(format!(
                                "tag {source} of {image} not found in {registry}"
                            )),
                            other => registry_failure(other),
                        })?;
                match p.registry.create_tag(registry, image, tag, &digest).await {
                    Ok(()) => Ok(EffectOutcome::Tagged { digest }),
                    Err(RegistryError::AlreadyExists { digest: existing })
                        if existing == digest =>
                    {
                        Ok(EffectOutcome::Tagged { digest })
                    }
                    Err(RegistryError::AlreadyExists { digest: existing }) => {
                        Err(Failure::Permanent(format!(
                            "tag {tag} of {image} in {registry} exists with digest {existing}, not {digest}; tags are never moved"
                        )))
                    }
                    Err(e) => Err(registry_failure(e)),
                }
            }
            EffectKind::WriteManifests {
                edits,
                message,
                deployment,
                stage,
            } => p
                .repo
                .write(
                    edits,
                    &ManifestCommit {
                        message: message.clone(),
                        promotion: Some(Promotion {
                            deployment: deployment.clone(),
                            stage: *stage,
                        }),
                    },
                )
                .await
                .map(|commit| EffectOutcome::Committed { commit })
                .map_err(|e| match e {
                    RepoError::Unavailable(m) => Failure::Transient(m),
                    other => Failure::Permanent(other.to_string()),
                }),
            EffectKind::CreateBranch {
                repository,
                branch,
                from_tag,
            } => p
                .source
                .create_branch(repository, branch, from_tag)
                .await
                .map(|commit| EffectOutcome::BranchAt { commit })
                .map_err(source_failure),
            EffectKind::CreateRelease {
                repository,
                tag,
                name,
                notes,
            } => p
                .source
                .create_release(repository, tag, name, notes)
                .await
                .map(|()| EffectOutcome::Released)
                .map_err(source_failure),
            EffectKind::Publish { event } => p
                .notifier
                .publish(event)
                .await
                .map(|()| EffectOutcome::Published)
                .map_err(|e| match e {
                    NotifyError::Unavailable(m) => Failure::Transient(m),
                    other => Failure::Permanent(other.to_string()),
                }),
        }
    }
}

fn registry_failure(e: RegistryError) -> Failure {
    match e {
        RegistryError::Unavailable(m) => Failure::Transient(m),
        other => Failure::Permanent(other.to_string()),
    }
}

fn source_failure(e: SourceError) -> Failure {
    match e {
        SourceError::Unavailable(m) => Failure::Transient(m),
        other => Failure::Permanent(other.to_string()),
    }
}
