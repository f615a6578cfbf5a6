//! Properties over random input sequences, with duplicates, reorderings, faults and crashes.
//!
//! The invariants checked in `World::execute` on every effect (a held environment never
//! receives a promotion; a tag exists before a manifest names it; no environment's version goes
//! back except by rollback) and in `World::input` (the ledger only grows) run on every step here.

use std::collections::BTreeSet;

use cd_core::pipeline::{
    ApprovalAction, ApprovalRecorded, DeploymentId, DeploymentStatus, EngineStatus, Input,
    Rejection, SequentialIds, Snapshot, StageStatus, State, Timestamp, Viewer, awaits, decide,
    gate_needs,
};
use proptest::prelude::*;

use super::world::{Fault, World};

const APPS: [&str; 3] = ["shop-api", "shop-web", "shop-worker"];
const ACTORS: [&str; 5] = ["jane", "omar", "li", "sam", "li@northwind.example"];
const ENVS: [&str; 3] = ["development", "staging", "production"];

#[derive(Clone, Debug)]
enum Step {
    Push {
        app: usize,
        patch: u64,
        hotfix: bool,
    },
    Release {
        bundle: usize,
        /// Asks for this patch of one app explicitly (which may not have passed, or may be older
        /// than the last release) instead of each app's best passed build.
        pin: Option<(usize, u64)>,
    },
    Engine {
        deployment: usize,
        success: bool,
    },
    Act {
        deployment: usize,
        actor: usize,
        reject: bool,
    },
    Retry {
        deployment: usize,
    },
    Cancel {
        deployment: usize,
    },
    Rollback {
        app: usize,
        env: usize,
        patch: u64,
    },
    Hold {
        env: usize,
        lift: bool,
    },
    Tick {
        minutes: i64,
    },
    Effects {
        picks: Vec<usize>,
    },
    Crash,
    Fault {
        kind: usize,
        permanent: bool,
    },
    Duplicate,
    Redeliver {
        pick: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..3usize, 0..6u64, prop::bool::weighted(0.15)).prop_map(|(app, patch, hotfix)| Step::Push { app, patch, hotfix }),
        1 => (0..2usize, prop::option::weighted(0.3, (0..3usize, 0..6u64))).prop_map(|(bundle, pin)| Step::Release { bundle, pin }),
        4 => (any::<usize>(), prop::bool::weighted(0.8)).prop_map(|(deployment, success)| Step::Engine { deployment, success }),
        3 => (any::<usize>(), 0..5usize, prop::bool::weighted(0.2)).prop_map(|(deployment, actor, reject)| Step::Act { deployment, actor, reject }),
        1 => any::<usize>().prop_map(|deployment| Step::Retry { deployment }),
        1 => any::<usize>().prop_map(|deployment| Step::Cancel { deployment }),
        1 => (0..3usize, 0..3usize, 0..6u64).prop_map(|(app, env, patch)| Step::Rollback { app, env, patch }),
        1 => (0..3usize, any::<bool>()).prop_map(|(env, lift)| Step::Hold { env, lift }),
        1 => (1..90i64).prop_map(|minutes| Step::Tick { minutes }),
        6 => prop::collection::vec(any::<usize>(), 1..8).prop_map(|picks| Step::Effects { picks }),
        1 => Just(Step::Crash),
        1 => (0..3usize, prop::bool::weighted(0.3)).prop_map(|(kind, permanent)| Step::Fault { kind, permanent }),
        2 => Just(Step::Duplicate),
        1 => any::<usize>().prop_map(|pick| Step::Redeliver { pick }),
    ]
}

fn pick(w: &World, n: usize) -> Option<DeploymentId> {
    let ids: Vec<&DeploymentId> = w.state.deployments.keys().collect();
    (!ids.is_empty()).then(|| ids[n % ids.len()].clone())
}

/// Turns a step into an input (or performs it directly), returning the input to remember.
fn run(w: &mut World, step: &Step, last: &Option<Input>) -> Option<Input> {
    let input = match step {
        Step::Push { app, patch, hotfix } => {
            let version = if *hotfix {
                format!("v1.0.{patch}-hotfix.0")
            } else {
                format!("v1.0.{patch}")
            };
            w.publish_image(APPS[*app], &version);
            // Every build carries an author and a changelog entry, so releases read both from
            // the builds they take, and the bounded snapshot must find them.
            Input::BuildNotified(cd_core::pipeline::BuildNotified {
                build_definition_id: APPS[*app].into(),
                container: APPS[*app].into(),
                // Some authors are approvers too, and the track forbids them to approve their
                // own change (see `the_pipeline_keeps_its_invariants_under_any_sequence`).
                author: Some(if patch % 2 == 0 {
                    ACTORS[usize::try_from(*patch).unwrap_or(0) % ACTORS.len()].to_string()
                } else {
                    format!("dev-{patch}")
                }),
                changelog: vec![cd_core::pipeline::ChangelogEntry {
                    application: String::new(),
                    version: String::new(),
                    kind: "fix".into(),
                    scope: None,
                    description: format!("fix {patch}"),
                    breaking: false,
                    commit: None,
                    pr: None,
                }],
                version,
                git_ref: "refs/heads/main".into(),
                ..Default::default()
            })
        }
        Step::Release { bundle, pin } => {
            Input::ReleaseRequested(cd_core::pipeline::ReleaseRequested {
                application_set: "shop".into(),
                bundle: format!("2026.{}", 11 + bundle),
                actor: "sam".into(),
                versions: pin
                    .iter()
                    .map(|(app, patch)| (APPS[*app].to_string(), format!("v1.0.{patch}")))
                    .collect(),
            })
        }
        Step::Engine {
            deployment,
            success,
        } => {
            // The engine reports on commits that exist, for the stage their trailers name,
            // possibly before the manager recorded the commit.
            if w.commits.is_empty() {
                return None;
            }
            let commit = w.commits[deployment % w.commits.len()].clone();
            Input::StatusReported(cd_core::pipeline::StatusReported {
                deployment: commit.deployment,
                stage_index: commit.stage,
                status: if *success {
                    EngineStatus::Success
                } else {
                    EngineStatus::Failed
                },
                run_id: "run".into(),
                commit_sha: commit.sha,
                message: "engine".into(),
            })
        }
        Step::Act {
            deployment,
            actor,
            reject,
        } => {
            let id = pick(w, *deployment)?;
            let stage_index = w.deployment(&id).current_stage;
            Input::ApprovalRecorded(cd_core::pipeline::ApprovalRecorded {
                deployment: id,
                stage_index,
                actor: ACTORS[*actor].into(),
                action: if *reject {
                    ApprovalAction::Reject
                } else {
                    ApprovalAction::Approve
                },
                comment: String::new(),
            })
        }
        Step::Retry { deployment } => Input::RetryRequested {
            deployment: pick(w, *deployment)?,
            actor: "jane".into(),
        },
        Step::Cancel { deployment } => Input::CancelRequested {
            deployment: pick(w, *deployment)?,
            actor: "jane".into(),
            comment: "not this one".into(),
        },
        Step::Rollback { app, env, patch } => Input::RollbackRequested {
            application: APPS[*app].into(),
            environment: ENVS[*env].into(),
            version: format!("v1.0.{patch}"),
            actor: "jane".into(),
        },
        Step::Hold { env, lift } if *lift => Input::HoldLifted {
            environment: ENVS[*env].into(),
            actor: "jane".into(),
        },
        Step::Hold { env, .. } => Input::HoldPlaced {
            environment: ENVS[*env].into(),
            reason: "freeze".into(),
            actor: "jane".into(),
        },
        Step::Tick { minutes } => {
            w.now = Timestamp(w.now.0 + minutes * 60_000);
            Input::Tick
        }
        Step::Effects { picks } => {
            // Effects complete in any order: that is how reordered deliveries look to the core.
            for p in picks {
                if w.queue.is_empty() {
                    break;
                }
                let n = p % w.queue.len();
                let effect = w.queue.remove(n).unwrap();
                w.perform(effect);
            }
            return None;
        }
        Step::Crash => {
            w.crash_and_restart();
            return None;
        }
        Step::Fault { kind, permanent } => {
            let name = ["write-manifests", "tag-image", "create-branch"][*kind];
            w.faults.insert(
                name,
                if *permanent {
                    Fault::Permanent
                } else {
                    Fault::Transient
                },
            );
            return None;
        }
        Step::Duplicate => {
            // The input just applied, applied again at once: f(f(s)) = f(s).
            let input = last.clone()?;
            let before = w.state.clone();
            let _ = w.input(input);
            assert_same(
                &before,
                &w.state,
                "applying an input twice differs from once",
            );
            return None;
        }
        Step::Redeliver { pick } => {
            // Notifications and engine reports may come again at any later time.
            if w.delivered.is_empty() {
                return None;
            }
            let input = w.delivered[pick % w.delivered.len()].clone();
            let before = w.state.clone();
            let _ = w.input(input);
            assert_same(
                &before,
                &w.state,
                "a redelivered notification or report changed the state",
            );
            return None;
        }
    };
    let before = w.state.clone();
    match w.input(input.clone()) {
        Err(_) => assert_same(&before, &w.state, "a rejection wrote something"),
        Ok(_) if matches!(input, Input::BuildNotified(_) | Input::StatusReported(_)) => {
            w.delivered.push(input.clone());
        }
        Ok(_) => {}
    }
    Some(input)
}

/// Compares two states, printing only what differs.
fn assert_same(before: &State, after: &State, what: &str) {
    if before == after {
        return;
    }
    let mut diff = Vec::new();
    for (id, d) in &after.deployments {
        match before.deployments.get(id) {
            None => diff.push(format!("new deployment {id}: {:?} {}", d.track, d.version)),
            Some(b) if b != d => diff.push(format!(
                "{id} changed: {:?} -> {:?}, stages {:?} -> {:?}",
                b.status,
                d.status,
                b.stages.iter().map(|s| s.status).collect::<Vec<_>>(),
                d.stages.iter().map(|s| s.status).collect::<Vec<_>>()
            )),
            Some(_) => {}
        }
    }
    if before.approvals != after.approvals {
        diff.push(format!(
            "approvals {} -> {}",
            before.approvals.len(),
            after.approvals.len()
        ));
    }
    if before.env_versions != after.env_versions {
        diff.push("environment versions changed".into());
    }
    if before.holds != after.holds {
        diff.push("holds changed".into());
    }
    panic!("{what}: {}", diff.join("; "));
}

fn check_invariants(w: &World, seen: &mut BTreeSet<DeploymentId>) {
    let catalog = &w.catalog;
    for d in w.state.deployments.values() {
        for pair in d.stages.windows(2) {
            let started = !matches!(
                pair[1].status,
                StageStatus::Pending | StageStatus::Cancelled
            );
            assert!(
                !started || pair[0].status == StageStatus::Succeeded,
                "{}: stage {} started before stage {} succeeded: {:?}",
                d.id,
                pair[1].index,
                pair[0].index,
                d.stages
            );
        }
        for stage in &d.stages {
            let Some(policy) = &stage.approval else {
                continue;
            };
            if stage.commit_sha.is_none() && !matches!(stage.status, StageStatus::Promoting) {
                continue;
            }
            let ledger: Vec<_> = w
                .state
                .approvals
                .iter()
                .filter(|a| a.deployment == d.id && a.stage_index == stage.index)
                .collect();
            let after = ledger
                .iter()
                .rposition(|a| a.action == ApprovalAction::Reject)
                .map_or(0, |i| i + 1);
            let stakeholders = catalog.stakeholders(policy);
            let approvers: BTreeSet<String> = ledger[after..]
                .iter()
                .filter(|a| a.action == ApprovalAction::Approve)
                .map(|a| catalog.identity(&a.actor))
                .filter(|who| stakeholders.contains(who))
                .collect();
            assert!(
                approvers.len() >= policy.min_approvals as usize,
                "{}: stage {} promoted with {} of {} approvals",
                d.id,
                stage.index,
                approvers.len(),
                policy.min_approvals
            );
        }
    }
    // An ended deployment waits on nothing: nothing of it is parked.
    for d in w.state.deployments.values() {
        if d.status.is_final() {
            assert!(
                d.parked.is_none() && d.outbox.iter().all(|p| !p.parked),
                "{} ended ({}) with parked work: {:?}",
                d.id,
                d.status.as_str(),
                d.outbox
            );
        }
    }
    // A cancel in the ledger means a cancelled deployment.
    for a in &w.state.approvals {
        if a.action == ApprovalAction::Cancel {
            let d = &w.state.deployments[&a.deployment];
            assert_eq!(
                d.status,
                DeploymentStatus::Cancelled,
                "{}: a cancel recorded",
                d.id
            );
        }
    }
    // An environment is claimed only by a live deployment, or by an ended one whose commit may
    // still be landing.
    for (key, v) in &w.state.env_versions {
        if !v.in_flight {
            continue;
        }
        let d = &w.state.deployments[&v.deployment];
        let writing = d.outbox.iter().any(|p| {
            matches!(
                p.effect.kind,
                cd_core::pipeline::EffectKind::WriteManifests { .. }
            )
        });
        assert!(
            !d.status.is_final() || writing,
            "{key} is claimed by {} ({}) with nothing in flight",
            d.id,
            d.status.as_str()
        );
    }
    // What a gate shows people is what a decision does: the viewer may act exactly when an
    // APPROVE from them would not be refused for who they are, and a waiting gate always
    // needs at least one more approval.
    for d in w.state.deployments.values() {
        let Some(needs) = gate_needs(catalog, &w.settings, d, &w.state.approvals, None) else {
            continue;
        };
        assert!(
            needs.remaining > 0
                && needs.approved_by.len() + needs.remaining as usize
                    == needs.min_approvals as usize,
            "{}: a waiting gate says {needs:?}",
            d.id
        );
        for actor in ACTORS {
            let shown = gate_needs(catalog, &w.settings, d, &w.state.approvals, Some(actor))
                .and_then(|n| n.viewer);
            let snapshot = Snapshot {
                catalog,
                state: &w.state,
                settings: &w.settings,
            };
            let approve = Input::ApprovalRecorded(ApprovalRecorded {
                deployment: d.id.clone(),
                stage_index: needs.stage,
                actor: actor.into(),
                action: ApprovalAction::Approve,
                comment: "ok".into(),
            });
            let decided = decide(&snapshot, &approve, w.now, &mut SequentialIds::new("v-", 1));
            let refused_for_who = matches!(
                decided,
                Err(Rejection::NotAStakeholder { .. } | Rejection::AuthorMayNotApprove { .. })
            );
            assert_eq!(
                shown == Some(Viewer::May),
                !refused_for_who,
                "{}: the gate shows {shown:?} to {actor}, a decision says {decided:?}",
                d.id
            );
            if let (Some(Viewer::MayNot(why)), Err(refusal)) = (&shown, &decided) {
                assert_eq!(why, &refusal.to_string(), "the reason shown is the refusal");
            }
            // The gate waits on whoever may answer it and has not approved: once their
            // approval is stored, it no longer waits on them.
            let waits = awaits(catalog, &w.settings, d, &w.state.approvals, actor).is_some();
            if waits {
                let decision = decided.as_ref().expect("a waiting gate takes the approval");
                let mut after = w.state.clone();
                after.apply(&decision.writes).unwrap();
                if let Some(d) = after.deployments.get(&d.id) {
                    assert!(
                        awaits(catalog, &w.settings, d, &after.approvals, actor).is_none(),
                        "{}: still waits on {actor} after their approval",
                        d.id
                    );
                }
            }
        }
    }
    // No deployment is ever lost.
    for id in seen.iter() {
        assert!(
            w.state.deployments.contains_key(id),
            "deployment {id} disappeared"
        );
    }
    seen.extend(w.state.deployments.keys().cloned());
}

/// Runs until nothing is queued, with no faults, answering every DEPLOYING stage with success.
fn drain(w: &mut World) {
    w.faults.clear();
    for _ in 0..200 {
        w.settle();
        let deploying: Vec<DeploymentId> = w
            .state
            .deployments
            .values()
            .filter(|d| {
                !d.status.is_final()
                    && d.stage()
                        .is_some_and(|s| s.status == StageStatus::Deploying)
            })
            .map(|d| d.id.clone())
            .collect();
        if deploying.is_empty() && w.queue.is_empty() {
            return;
        }
        for id in deploying {
            w.engine(&id, EngineStatus::Success).unwrap();
        }
    }
    panic!("the pipeline did not settle");
}

fn cases() -> u32 {
    std::env::var("PIPELINE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

proptest! {
    // 256 cases in CI (about a second); widen with PIPELINE_CASES=100000.
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn the_pipeline_keeps_its_invariants_under_any_sequence(steps in prop::collection::vec(step(), 1..60)) {
        let mut w = World::new();
        // Authors may not approve their own change on any track here.
        w.settings.forbid_author_approval = w.catalog.release_tracks.keys().cloned().collect();
        let mut last = None;
        let mut seen = BTreeSet::new();
        for step in &steps {
            last = run(&mut w, step, &last);
            check_invariants(&w, &mut seen);
        }
        // Once faults stop, every deployment ends or waits on a human (a gate, a hold, a retry).
        drain(&mut w);
        check_invariants(&w, &mut seen);
        // A promotion parked on a failed commit holds its environments until retried: stages
        // queued behind it wait on that human too.
        let parked_claims: BTreeSet<String> = w
            .state
            .env_versions
            .iter()
            .filter(|(_, v)| v.in_flight && w.state.deployments[&v.deployment].parked.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        for d in w.state.deployments.values() {
            let queued_behind_parked = d.stage().is_some_and(|s| {
                s.status == StageStatus::Pending
                    && d.applications().iter().any(|a| {
                        s.environments
                            .iter()
                            .any(|e| parked_claims.contains(&cd_core::pipeline::env_key(a, e)))
                    })
            });
            let waits_on_human = d.parked.is_some()
                || queued_behind_parked
                || d.stage().is_some_and(|s| s.status.is_gated() || s.status == StageStatus::Held);
            if !(d.status.is_final() || waits_on_human) {
                for x in w.state.deployments.values() {
                    eprintln!("{} {:?} {:?} {} {:?} stages={:?} parked={:?} outbox={:?} reason={:?}", x.id, x.track, x.application, x.version, x.status, x.stages.iter().map(|s| s.status).collect::<Vec<_>>(), x.parked, x.outbox.iter().map(|p| (&p.effect.id, p.parked)).collect::<Vec<_>>(), x.reason);
                }
                eprintln!("{:#?}", w.state.env_versions);
            }
            prop_assert!(d.status.is_final() || waits_on_human, "{} stuck: {:?} {:?}", d.id, d.status, d.stages);
        }
        assert_state_round_trips(&w.state);
    }
}

/// The state is plain data: what a store writes, it reads back the same.
fn assert_state_round_trips(state: &State) {
    let json = serde_json::to_string(state).unwrap();
    let back: State = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, state);
}
