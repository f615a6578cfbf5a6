//! The simulated world: the in-memory ports behind fault decorators, a driver, the simulated
//! engine, and a loop that runs everything to quiescence, optionally reordering effects and
//! crashing the manager between any two steps.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cd_core::manifest::{Catalog, Source};
use cd_core::pipeline::{
    BuildNotified, Decision, EffectKind, IdSource, Input, Settings, State, StatusReported,
    Timestamp,
};
use cd_ports::{
    Driver, DriverError, EffectLoop, LoopPolicy, ManualClock, Ports, Recorded, RetryPolicy,
};
use sha2::{Digest, Sha256};

use crate::engine::{EngineMode, RunTarget, SimEngine};
use crate::faults::{Faults, Faulty, Operation};
use crate::journal::Journal;
use crate::{MemoryNotifier, MemoryRegistry, MemoryRepo, MemorySourceHost, MemoryStore, SimRng};

/// Ids `d1`, `d2`, ... that survive a manager crash, as a UUID source would.
#[derive(Clone, Debug, Default)]
pub(crate) struct SharedIds(Arc<Mutex<u64>>);

impl IdSource for SharedIds {
    fn next_id(&mut self) -> String {
        let n = self
            .0
            .lock()
            .map(|mut n| {
                *n += 1;
                *n
            })
            .unwrap_or_default();
        format!("d{n}")
    }
}

/// How much chaos the loop adds on its own (the random simulation turns it on).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Chaos {
    /// Perform queued effects in a random order.
    pub(crate) reorder: bool,
    /// Chance, in percent, of a manager crash before or after each effect.
    pub(crate) crash_percent: u64,
}

/// Attempts the simulated engine makes to deliver one report.
const ENGINE_DELIVERY_ATTEMPTS: u32 = 3;

/// The adapters a manager process runs on.
struct Parts {
    store: Arc<MemoryStore>,
    registry: Arc<MemoryRegistry>,
    repo: Arc<MemoryRepo>,
    source: Arc<MemorySourceHost>,
    notifier: Arc<MemoryNotifier>,
    clock: Arc<ManualClock>,
    faults: Arc<Faults>,
    ids: SharedIds,
}

impl Parts {
    /// A manager process: the service's effect loop over a driver over the faulty ports.
    fn manager(&self) -> EffectLoop {
        EffectLoop::new(Arc::new(self.driver()), LoopPolicy::default())
    }

    fn driver(&self) -> Driver {
        let ports = Ports {
            store: Arc::new(Faulty::new(self.store.clone(), self.faults.clone())),
            registry: Arc::new(Faulty::new(self.registry.clone(), self.faults.clone())),
            repo: Arc::new(Faulty::new(self.repo.clone(), self.faults.clone())),
            source: self.source.clone(),
            notifier: Arc::new(Faulty::new(self.notifier.clone(), self.faults.clone())),
            clock: self.clock.clone(),
        };
        Driver::new(
            ports,
            Settings::default(),
            RetryPolicy {
                catalog_ttl_ms: i64::MAX,
                ..RetryPolicy::default()
            },
            Box::new(self.ids.clone()),
        )
    }
}

/// One simulated installation.
pub(crate) struct World {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) store: Arc<MemoryStore>,
    pub(crate) registry: Arc<MemoryRegistry>,
    pub(crate) repo: Arc<MemoryRepo>,
    pub(crate) source: Arc<MemorySourceHost>,
    pub(crate) notifier: Arc<MemoryNotifier>,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) faults: Arc<Faults>,
    ids: SharedIds,
    /// The manager: the very loop the service runs, with its driver.
    manager: EffectLoop,
    pub(crate) engine: SimEngine,
    pub(crate) rng: SimRng,
    pub(crate) chaos: Chaos,
    pub(crate) crashes: u64,
    /// Every decision's effects that promote, with the holds in force right after the decision.
    pub(crate) promotions: Vec<(Vec<String>, Vec<String>)>,
    /// Engine reports held back by chaos, delivered later in a random order.
    delayed: Vec<StatusReported>,
}

fn digest_of(image: &str, version: &str) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(format!("{image}@{version}").as_bytes()))
    )
}

impl World {
    pub(crate) fn new(
        files: Vec<(String, String)>,
        engine: EngineMode,
        seed: u64,
    ) -> Result<World, cd_core::manifest::Problems> {
        let catalog = Arc::new(Catalog::load_valid(files.clone())?);
        let journal = Arc::new(Journal::default());
        let faults = Faults::new();
        let store = Arc::new(MemoryStore::new());
        let registry = Arc::new(MemoryRegistry::with_journal(journal.clone()));
        let repo = Arc::new(MemoryRepo::with_journal(files, journal));
        let source = Arc::new(MemorySourceHost::new());
        let notifier = Arc::new(MemoryNotifier::new());
        let clock = Arc::new(ManualClock::new(Timestamp(1_767_225_600_000)));
        let ids = SharedIds::default();
        // The versions the manifests name when the simulation begins were built and pushed
        // by CI before it: every manifest version resolves to an image tag.
        for dc in catalog.deployment_configs.values() {
            let (Some(version), Some(image)) = (&dc.version, catalog.image_of(&dc.application))
            else {
                continue;
            };
            for r in image.registries {
                registry.push(r, image.name, version, &digest_of(image.name, version));
            }
        }
        let parts = Parts {
            store,
            registry,
            repo,
            source,
            notifier,
            clock,
            faults,
            ids,
        };
        Ok(World {
            manager: parts.manager(),
            catalog,
            store: parts.store,
            registry: parts.registry,
            repo: parts.repo,
            source: parts.source,
            notifier: parts.notifier,
            clock: parts.clock,
            faults: parts.faults,
            ids: parts.ids,
            engine: SimEngine::new(engine),
            rng: SimRng::new(seed),
            chaos: Chaos::default(),
            crashes: 0,
            promotions: Vec::new(),
            delayed: Vec::new(),
        })
    }

    fn parts(&self) -> Parts {
        Parts {
            store: self.store.clone(),
            registry: self.registry.clone(),
            repo: self.repo.clone(),
            source: self.source.clone(),
            notifier: self.notifier.clone(),
            clock: self.clock.clone(),
            faults: self.faults.clone(),
            ids: self.ids.clone(),
        }
    }

    /// The manager dies: everything in flight is lost. A new one starts from the store (its
    /// first housekeeping reads the outboxes).
    pub(crate) fn crash(&mut self) {
        self.crashes += 1;
        self.manager = self.parts().manager();
    }

    /// Publishes an image tag in every registry of the build (as CI does before notifying).
    pub(crate) fn publish(&self, build_definition: &str, container: &str, version: &str) {
        for registry in self.registries_of(build_definition, container) {
            self.registry.push(
                &registry,
                container,
                version,
                &digest_of(container, version),
            );
        }
    }

    /// Pre-existing tags from a scenario's `images`.
    pub(crate) fn seed_image(&self, image: &str, tag: &str, digest: &str) {
        let registries: Vec<String> = self
            .catalog
            .applications
            .keys()
            .filter_map(|a| self.catalog.image_of(a))
            .filter(|i| i.name == image)
            .flat_map(|i| i.registries.to_vec())
            .collect();
        let registries = if registries.is_empty() {
            vec!["default".to_string()]
        } else {
            registries
        };
        for r in registries {
            self.registry.push(&r, image, tag, digest);
        }
    }

    fn registries_of(&self, build_definition: &str, container: &str) -> Vec<String> {
        if let Some(c) = self
            .catalog
            .build_definitions
            .get(build_definition)
            .and_then(|b| b.containerize.as_ref())
        {
            return c.registries.clone();
        }
        match self
            .catalog
            .applications
            .get(build_definition)
            .map(|a| &a.source)
        {
            Some(Source::External { image, registries }) if image == container => {
                registries.clone()
            }
            _ => Vec::new(),
        }
    }

    /// The GithubRepository a build comes from.
    pub(crate) fn repository_of(&self, build_definition: &str) -> String {
        self.catalog
            .build_definitions
            .get(build_definition)
            .map(|b| b.github_repository.clone())
            .unwrap_or_default()
    }

    /// A CI push: image tag, source tag, then the notification.
    pub(crate) fn notification(
        &self,
        build_definition: &str,
        container: &str,
        version: &str,
        commit: &str,
        git_ref: &str,
    ) -> BuildNotified {
        self.publish(build_definition, container, version);
        let repository = self.repository_of(build_definition);
        if !repository.is_empty() {
            self.source.tag(&repository, version, commit);
        }
        BuildNotified {
            build_definition_id: build_definition.to_string(),
            container: container.to_string(),
            version: version.to_string(),
            commit_sha: commit.to_string(),
            repository,
            git_ref: git_ref.to_string(),
            digest: Some(digest_of(container, version)),
            author: None,
            committed_at: None,
            changelog: Vec::new(),
        }
    }

    /// Submits an input, then runs everything to quiescence.
    pub(crate) fn input(&mut self, input: &Input) -> Result<Decision, DriverError> {
        let decision = self.submit(input);
        self.settle();
        decision
    }

    /// Submits an input as a request handler of the service does: a stored decision goes to
    /// the effect loop; when the store failed, the decision may or may not be stored, and the
    /// loop reads the outboxes.
    fn submit(&mut self, input: &Input) -> Result<Decision, DriverError> {
        let decision = futures_executor::block_on(self.manager.driver().submit(input));
        match &decision {
            Ok(d) => {
                self.note(d);
                self.manager.observe(d);
            }
            Err(DriverError::Rejected(_)) => {}
            Err(_) => self.manager.rescan_soon(),
        }
        decision
    }

    /// Notes the promotions of a stored decision, with the holds in force right after it.
    fn note(&mut self, decision: &Decision) {
        let holds: Vec<String> = self.store.snapshot().holds.keys().cloned().collect();
        for e in &decision.effects {
            if let EffectKind::WriteManifests { edits, .. } = &e.kind {
                let envs = edits.iter().map(|x| x.environment.clone()).collect();
                self.promotions.push((envs, holds.clone()));
            }
        }
    }

    /// Runs the effect loop and the engine until nothing moves. Time moves only to retry what
    /// failed (as the service's loop would wait).
    pub(crate) fn settle(&mut self) {
        for _ in 0..10_000 {
            for decision in futures_executor::block_on(self.manager.housekeeping()) {
                self.note(&decision);
            }
            let mut performed = false;
            while self.step_effect() {
                performed = true;
            }
            let mut delivered = self.run_engine();
            if !delivered && !self.delayed.is_empty() {
                // Late reports arrive, in any order, once nothing else moves.
                while !self.delayed.is_empty() {
                    let i = self.rng.below(self.delayed.len());
                    let report = self.delayed.swap_remove(i);
                    self.deliver(report);
                }
                delivered = true;
            }
            if performed || delivered {
                continue;
            }
            // Nothing moves now: wait for what failed to be tried again, if anything did.
            match self.manager.retry_at() {
                Some(at) => {
                    let now = self.manager.driver().now();
                    self.clock.advance(at.0.saturating_sub(now.0).max(0));
                }
                None => return,
            }
        }
    }

    /// Performs and records one effect, crashing the manager before or after performing it
    /// when chaos says so. Returns false when no effect may run now.
    fn step_effect(&mut self) -> bool {
        let reorder = self.chaos.reorder;
        let rng = &mut self.rng;
        let next = self
            .manager
            .next_effect(|n| if reorder { rng.below(n) } else { 0 });
        let Some(effect) = futures_executor::block_on(next) else {
            return false;
        };
        if self.chaos.crash_percent > 0 && self.rng.chance(self.chaos.crash_percent) {
            self.crash(); // before performing it
            return true;
        }
        let outcome = futures_executor::block_on(self.manager.perform(&effect));
        if self.chaos.crash_percent > 0 && self.rng.chance(self.chaos.crash_percent) {
            self.crash(); // performed, outcome lost
            return true;
        }
        if let Recorded::Decided(d) =
            futures_executor::block_on(self.manager.record(effect, outcome))
        {
            self.note(&d);
        }
        true
    }

    /// Lets the engine see new commits and deliver the reports that are due. Returns whether
    /// anything was delivered.
    fn run_engine(&mut self) -> bool {
        let polled = futures_executor::block_on(self.engine.poll(
            self.repo.as_ref(),
            self.store.as_ref(),
            &self.catalog,
        ));
        if polled.is_err() {
            return false;
        }
        let mut reports = self.engine.due();
        let any = !reports.is_empty();
        while !reports.is_empty() {
            let i = if self.chaos.reorder {
                self.rng.below(reports.len())
            } else {
                0
            };
            let report = reports.remove(i);
            if self.chaos.reorder && self.rng.chance(30) {
                self.delayed.push(report);
            } else {
                self.deliver(report);
            }
        }
        any
    }

    /// Delivers an engine report; the engine retries a few times, then the report is lost (the
    /// stage's deadline takes over).
    pub(crate) fn deliver(&mut self, report: StatusReported) {
        for _ in 0..ENGINE_DELIVERY_ATTEMPTS {
            if self.faults.take(Operation::Engine) {
                continue;
            }
            let _ = self.submit(&Input::StatusReported(report));
            return;
        }
    }

    /// Answers (or scripts) the engine's run for a target.
    pub(crate) fn engine_answer(
        &mut self,
        target: RunTarget,
        status: cd_core::pipeline::EngineStatus,
    ) {
        let _ = futures_executor::block_on(self.engine.poll(
            self.repo.as_ref(),
            self.store.as_ref(),
            &self.catalog,
        ));
        if let Some(report) = self.engine.answer(target, status) {
            self.deliver(report);
        }
        self.settle();
    }

    /// Moves time forward and lets the effect loop do what falls due: ticks past engine
    /// deadlines, reads the outboxes again.
    pub(crate) fn tick(&mut self, seconds: i64) {
        self.clock.advance(seconds.saturating_mul(1000));
        self.settle();
    }

    /// Everything stored.
    pub(crate) fn state(&self) -> State {
        self.store.snapshot()
    }

    /// Images and their tags across registries: `image -> tag -> digest`.
    pub(crate) fn images(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (key, tags) in self.registry.snapshot() {
            let image = key
                .split_once('/')
                .map_or(key.as_str(), |(_, i)| i)
                .to_string();
            out.entry(image).or_default().extend(tags);
        }
        out
    }
}
