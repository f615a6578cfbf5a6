//! Example flows: one test per behaviour of the seed's pipeline.

use cd_core::pipeline::{
    ApprovalAction, BuildNotified, DeploymentStatus as D, DeploymentTrack, EffectKind,
    EngineStatus, Input, Rejection, StageStatus as S, StateWrite, Timestamp, env_key,
};

use super::world::{Fault, World};

#[test]
fn a_build_runs_through_the_pre_release_stages() {
    let mut w = World::new();
    let decision = w.push("shop-api", "v1.0.1").unwrap();
    let id = World::one(&decision);
    // Intent first: the deployment and its claim on development are written with the effect.
    let write = decision
        .effects
        .iter()
        .find_map(|e| match &e.kind {
            EffectKind::WriteManifests { edits, message, .. } => {
                Some((edits.clone(), message.clone()))
            }
            _ => None,
        })
        .expect("the first stage is promoted at once");
    assert_eq!(write.0.len(), 1);
    assert_eq!(write.0[0].path, "apps/shop-api/deploy/development.yaml");
    assert_eq!(write.0[0].version, "v1.0.1");
    assert!(write.1.contains(&format!(
        "Infrastream-Deployment: {id}\nInfrastream-Stage: 0"
    )));
    assert_eq!(w.deployment(&id).status, D::InProgress);
    assert_eq!(w.stages(&id), [S::Promoting]);

    w.settle();
    assert_eq!(w.stages(&id), [S::Deploying]);
    assert_eq!(
        w.deployment(&id).stages[0].commit_sha.as_deref(),
        Some("c1")
    );
    w.engine(&id, EngineStatus::Success).unwrap();
    w.settle();
    assert_eq!(w.deployment(&id).status, D::Succeeded);
    assert_eq!(
        w.manifests["apps/shop-api/deploy/development.yaml"],
        "v1.0.1"
    );
    let env = &w.state.env_versions[&env_key("shop-api", "development")];
    assert_eq!((env.version.as_str(), env.in_flight), ("v1.0.1", false));
    assert!(
        w.events
            .contains(&"dev.infrastream.stage.succeeded".to_string()),
        "{:?}",
        w.events
    );
    assert!(
        w.events
            .contains(&"dev.infrastream.deployment.succeeded".to_string())
    );
}

#[test]
fn an_unknown_build_is_rejected_and_writes_nothing() {
    let mut w = World::new();
    let err = w
        .input(Input::BuildNotified(BuildNotified {
            build_definition_id: "shop-api".into(),
            container: "someone-else".into(),
            version: "v1.0.0".into(),
            ..BuildNotified::default()
        }))
        .unwrap_err();
    assert!(matches!(err, Rejection::UnknownBuild { .. }), "{err}");
    assert!(err.is_unknown());
    assert!(w.state.deployments.is_empty());
    let err = w
        .input(Input::BuildNotified(BuildNotified {
            build_definition_id: "shop-api".into(),
            container: "shop-api".into(),
            version: "v1 0".into(),
            ..BuildNotified::default()
        }))
        .unwrap_err();
    assert!(err.to_string().contains("invalid version"), "{err}");
}

#[test]
fn a_redelivered_notification_yields_the_same_deployment_and_no_effects() {
    let mut w = World::new();
    let first = World::one(&w.push("shop-web", "v2.0.0").unwrap());
    let again = w.push("shop-web", "v2.0.0").unwrap();
    assert_eq!(World::one(&again), first);
    assert!(again.is_noop(), "{again:?}");
    w.settle();
    let again = w.push("shop-web", "v2.0.0").unwrap();
    assert!(again.is_noop());
    assert_eq!(w.state.deployments.len(), 1);
}

#[test]
fn hotfix_versions_and_release_branches_take_the_hotfix_track() {
    let mut w = World::new();
    let id = World::one(&w.push("shop-api", "v1.0.0-hotfix.0").unwrap());
    let d = w.deployment(&id);
    assert_eq!(d.track, DeploymentTrack::Hotfix);
    assert_eq!(d.stages.len(), 2);
    assert_eq!(d.stages[0].environments, ["staging"]);

    w.publish_image("shop-web", "v3.1.0");
    let decision = w
        .input(Input::BuildNotified(BuildNotified {
            build_definition_id: "shop-web".into(),
            container: "shop-web".into(),
            version: "v3.1.0".into(),
            git_ref: "refs/heads/release/shop/2026.11".into(),
            ..BuildNotified::default()
        }))
        .unwrap();
    let d = w.deployment(&World::one(&decision));
    assert_eq!(
        (d.track, d.bundle.as_deref()),
        (DeploymentTrack::Hotfix, Some("2026.11"))
    );
}

#[test]
fn a_newer_version_supersedes_waiting_ones_and_an_older_arrival_is_superseded_at_once() {
    let mut w = World::new();
    // v1 is being committed; v2 queues behind it; v3 supersedes the queued v2.
    let v1 = World::one(&w.push("shop-api", "v1.0.1").unwrap());
    let v2 = World::one(&w.push("shop-api", "v1.0.2").unwrap());
    assert_eq!(w.stages(&v2), [S::Pending], "queued behind v1's promotion");
    let v3 = World::one(&w.push("shop-api", "v1.0.3").unwrap());
    assert_eq!(w.deployment(&v2).status, D::Superseded);
    assert_eq!(
        w.deployment(&v2).reason.as_deref(),
        Some("superseded by v1.0.3")
    );
    assert_eq!(
        w.deployment(&v1).status,
        D::InProgress,
        "a started deployment is not superseded"
    );
    // Out of order: v1.0.0 arrives last and is older than every live one.
    let v0 = World::one(&w.push("shop-api", "v1.0.0").unwrap());
    assert_eq!(w.deployment(&v0).status, D::Superseded);
    w.settle();
    w.engine(&v1, EngineStatus::Success).unwrap();
    w.settle();
    w.engine(&v3, EngineStatus::Success).unwrap();
    w.settle();
    let written: Vec<&str> = w.history[&("shop-api".into(), "development".into())]
        .iter()
        .map(|(v, _)| v.as_str())
        .collect();
    assert_eq!(written, ["v1.0.1", "v1.0.3"]);
}

/// Pushes every app through development, releases, and returns the release id at staging.
fn release_at_staging(w: &mut World) -> cd_core::pipeline::DeploymentId {
    w.all_pass_prerelease("v1.0.0");
    let id = World::one(&w.release("2026.11").unwrap());
    w.settle();
    id
}

#[test]
fn a_release_tags_rc_before_any_manifest_names_it_then_gates_production() {
    let mut w = World::new();
    let id = release_at_staging(&mut w);
    let d = w.deployment(&id);
    assert_eq!(d.version, "shop-2026.11-rc.0");
    assert_eq!(d.apps.len(), 3);
    assert!(
        d.apps
            .values()
            .all(|a| a.branch_commit.as_deref() == Some("src-v1.0.0"))
    );
    assert_eq!(w.branches.len(), 3);
    for image in ["shop-api", "shop-web", "shop-worker"] {
        let tags = &w.registry[&format!("containers/{image}")];
        assert_eq!(
            tags["shop-2026.11-rc.0"], tags["v1.0.0"],
            "RC takes the semver tag's digest"
        );
    }
    assert_eq!(w.stages(&id), [S::Deploying, S::Pending]);
    let staging_commit = w.commits.last().unwrap();
    assert_eq!(
        staging_commit.files.len(),
        3,
        "one commit for every app of the stage"
    );

    w.engine(&id, EngineStatus::Success).unwrap();
    w.settle();
    assert_eq!(w.stages(&id), [S::Succeeded, S::AwaitingApproval]);
    assert_eq!(w.deployment(&id).status, D::AwaitingApproval);

    let err = w.approve(&id, "sam").unwrap_err();
    assert!(matches!(err, Rejection::NotAStakeholder { .. }), "{err}");
    w.approve(&id, "jane").unwrap();
    assert!(
        w.approve(&id, "jane@northwind.example").unwrap().is_noop(),
        "the same person again"
    );
    assert_eq!(w.stages(&id), [S::Succeeded, S::AwaitingApproval]);
    w.approve(&id, "omar").unwrap();
    assert_eq!(w.stages(&id), [S::Succeeded, S::Promoting]);
    w.settle();
    w.engine(&id, EngineStatus::Success).unwrap();
    w.settle();
    let d = w.deployment(&id);
    assert_eq!(d.status, D::Succeeded);
    assert_eq!(
        d.version, "shop-2026.11-rc.0",
        "a release keeps its RC tag as version"
    );
    for (app, a) in &d.apps {
        assert_eq!(a.production_tag.as_deref(), Some("shop-2026.11"), "{app}");
        let tags = &w.registry[&format!("containers/{}", a.image)];
        assert_eq!(tags["shop-2026.11"], tags["v1.0.0"]);
    }
    assert_eq!(
        w.manifests["apps/shop-web/deploy/production.yaml"],
        "shop-2026.11-rc.0"
    );
    assert_eq!(w.state.approvals.len(), 2);
}

#[test]
fn a_release_is_refused_until_every_app_passed_pre_release() {
    let mut w = World::new();
    let api = World::one(&w.push("shop-api", "v1.0.0").unwrap());
    w.settle();
    w.engine(&api, EngineStatus::Success).unwrap();
    w.settle();
    let web = World::one(&w.push("shop-web", "v1.0.0").unwrap());
    w.settle();
    w.engine(&web, EngineStatus::Failed).unwrap();
    let before = w.state.clone();
    let err = w.release("2026.11").unwrap_err();
    match &err {
        Rejection::ReleaseNotReady { missing, .. } => {
            let apps: Vec<&str> = missing.iter().map(|(a, _)| a.as_str()).collect();
            assert_eq!(apps, ["shop-web", "shop-worker"]);
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .contains("shop-worker: no version has passed"),
        "{err}"
    );
    assert_eq!(w.state, before, "a rejection writes nothing");
}

#[test]
fn a_rejection_halts_and_a_later_quorum_resumes() {
    let mut w = World::new();
    let id = release_at_staging(&mut w);
    w.engine(&id, EngineStatus::Success).unwrap();
    w.settle();
    w.approve(&id, "jane").unwrap();
    w.act(&id, "li", ApprovalAction::Reject).unwrap();
    assert_eq!(w.deployment(&id).status, D::Rejected);
    assert_eq!(w.stages(&id)[1], S::Rejected);
    // jane's earlier approval no longer counts: one approval after the rejection is not enough.
    w.approve(&id, "omar").unwrap();
    assert_eq!(w.stages(&id)[1], S::AwaitingApproval);
    w.approve(&id, "jane").unwrap();
    assert_eq!(w.stages(&id)[1], S::Promoting);
    let actions: Vec<_> = w
        .state
        .approvals
        .iter()
        .map(|a| (a.actor.as_str(), a.action))
        .collect();
    assert_eq!(
        actions,
        [
            ("jane", ApprovalAction::Approve),
            ("li", ApprovalAction::Reject),
            ("omar", ApprovalAction::Approve),
            ("jane", ApprovalAction::Approve)
        ]
    );
}

#[test]
fn a_failed_engine_run_fails_the_release_and_a_retry_is_a_new_attempt_with_the_next_rc() {
    let mut w = World::new();
    let first = release_at_staging(&mut w);
    w.engine(&first, EngineStatus::Failed).unwrap();
    w.settle();
    let d = w.deployment(&first);
    assert_eq!(d.status, D::Failed);
    assert!(d.reason.as_deref().unwrap().contains("image pull failed"));
    assert_eq!(w.stages(&first), [S::Failed, S::Cancelled]);
    let retry = w
        .input(Input::RetryRequested {
            deployment: first.clone(),
            actor: "sam".into(),
        })
        .unwrap();
    let second = World::one(&retry);
    assert_ne!(second, first);
    w.settle();
    assert_eq!(w.deployment(&second).version, "shop-2026.11-rc.1");
    // Retrying the failed attempt again points at the new one instead of a third.
    let again = w
        .input(Input::RetryRequested {
            deployment: first.clone(),
            actor: "sam".into(),
        })
        .unwrap();
    assert_eq!(World::one(&again), second);
    assert!(again.is_noop());
    // The second attempt fails too and is retried: a retry of the first (from a page opened
    // before) points at the newest attempt, not the failed second one.
    w.engine(&second, EngineStatus::Failed).unwrap();
    w.settle();
    assert_eq!(w.deployment(&second).status, D::Failed);
    let third = World::one(
        &w.input(Input::RetryRequested {
            deployment: second.clone(),
            actor: "sam".into(),
        })
        .unwrap(),
    );
    assert!(third != first && third != second);
    let stale = w
        .input(Input::RetryRequested {
            deployment: first.clone(),
            actor: "sam".into(),
        })
        .unwrap();
    assert_eq!(World::one(&stale), third);
    assert!(stale.is_noop());
    // Once the set is gone from the manifests, a failed attempt cannot be retried: refused,
    // saying why, rather than accepted with nothing started.
    w.settle();
    w.engine(&third, EngineStatus::Failed).unwrap();
    w.settle();
    w.catalog.application_sets.clear();
    let err = w
        .input(Input::RetryRequested {
            deployment: third.clone(),
            actor: "sam".into(),
        })
        .unwrap_err();
    assert!(
        err.to_string().contains("no longer in the manifests"),
        "{err}"
    );
}

#[test]
fn an_attempt_that_fails_before_any_rc_tag_is_asked_for_leaves_its_number_to_the_next() {
    let mut w = World::new();
    w.all_pass_prerelease("v1.0.0");
    w.faults.insert("create-branch", Fault::Permanent);
    let first = World::one(&w.release("2026.11").unwrap());
    w.settle();
    let d = w.deployment(&first);
    assert_eq!(d.status, D::Failed);
    assert_eq!(d.version, "shop-2026.11-rc.0", "the number it had");
    for image in ["shop-api", "shop-web", "shop-worker"] {
        assert!(
            !w.registry[&format!("containers/{image}")].contains_key("shop-2026.11-rc.0"),
            "no RC tag was asked for before every branch existed"
        );
    }
    let retry = w
        .input(Input::RetryRequested {
            deployment: first.clone(),
            actor: "sam".into(),
        })
        .unwrap();
    let second = World::one(&retry);
    w.settle();
    assert_eq!(
        w.deployment(&second).version,
        "shop-2026.11-rc.0",
        "the failed attempt never reached a registry: its number is reused"
    );
    assert_eq!(w.stages(&second), [S::Deploying, S::Pending]);
}

#[test]
fn a_new_release_attempt_cancels_a_live_one_and_a_repeated_request_changes_nothing() {
    let mut w = World::new();
    let first = release_at_staging(&mut w);
    assert!(
        w.release("2026.11").unwrap().is_noop(),
        "same versions: the same attempt"
    );
    for app in ["shop-api", "shop-web", "shop-worker"] {
        let id = World::one(&w.push(app, "v1.1.0").unwrap());
        w.settle();
        w.engine(&id, EngineStatus::Success).unwrap();
        w.settle();
    }
    let second = World::one(&w.release("2026.11").unwrap());
    assert_eq!(w.deployment(&first).status, D::Cancelled);
    w.settle();
    assert_eq!(w.deployment(&second).version, "shop-2026.11-rc.1");
    // A late report for the cancelled attempt changes nothing.
    let stale = w.engine(&first, EngineStatus::Success).unwrap();
    assert!(stale.is_noop());
}

#[test]
fn a_hold_keeps_an_approved_stage_held_until_lifted() {
    let mut w = World::new();
    let id = release_at_staging(&mut w);
    w.input(Input::HoldPlaced {
        environment: "production".into(),
        reason: "freeze".into(),
        actor: "jane".into(),
    })
    .unwrap();
    w.engine(&id, EngineStatus::Success).unwrap();
    w.settle();
    assert_eq!(
        w.stages(&id)[1],
        S::AwaitingApproval,
        "the gate comes before the hold"
    );
    w.approve(&id, "jane").unwrap();
    w.approve(&id, "li").unwrap();
    w.settle();
    assert_eq!(w.stages(&id)[1], S::Held);
    assert_eq!(w.deployment(&id).status, D::InProgress);
    let lifted = w
        .input(Input::HoldLifted {
            environment: "production".into(),
            actor: "jane".into(),
        })
        .unwrap();
    assert!(
        lifted
            .writes
            .iter()
            .any(|x| matches!(x, StateWrite::RemoveHold { .. }))
    );
    assert_eq!(w.stages(&id)[1], S::Promoting);
    let err = w
        .input(Input::HoldPlaced {
            environment: "prod".into(),
            reason: "x".into(),
            actor: "jane".into(),
        })
        .unwrap_err();
    assert!(err.to_string().contains("no Environment named 'prod'"));
}

#[test]
fn an_engine_that_never_reports_fails_the_stage_at_its_deadline() {
    let mut w = World::new();
    let id = World::one(&w.push("shop-worker", "v0.1.0").unwrap());
    w.settle();
    let deadline = cd_core::pipeline::next_deadline(&w.state).unwrap();
    w.now = Timestamp(deadline.0 - 1);
    assert!(
        w.input(Input::Tick).unwrap().is_noop(),
        "a tick before the deadline does nothing"
    );
    w.now = deadline;
    w.input(Input::Tick).unwrap();
    assert_eq!(w.deployment(&id).status, D::Failed);
    assert_eq!(w.stages(&id), [S::Failed]);
    assert!(w.input(Input::Tick).unwrap().is_noop());
}

#[test]
fn a_transient_failure_beyond_the_budget_waits_for_a_retry() {
    let mut w = World::new();
    w.faults.insert("write-manifests", Fault::Transient);
    let id = World::one(&w.push("shop-api", "v1.0.1").unwrap());
    w.settle();
    let d = w.deployment(&id);
    assert_eq!(
        d.status,
        D::Pending,
        "manifest commit failure: the deployment stays PENDING"
    );
    assert!(d.parked.is_some());
    assert!(w.commits.is_empty());
    w.crash_and_restart();
    w.settle();
    assert!(
        w.commits.is_empty(),
        "a parked effect does not run again on restart"
    );
    w.input(Input::RetryRequested {
        deployment: id.clone(),
        actor: "jane".into(),
    })
    .unwrap();
    w.settle();
    assert_eq!(w.stages(&id), [S::Deploying]);
    assert_eq!(w.commits.len(), 1);
    let err = w
        .input(Input::RetryRequested {
            deployment: id.clone(),
            actor: "jane".into(),
        })
        .unwrap_err();
    assert!(matches!(err, Rejection::NotRetryable { .. }));
}

#[test]
fn an_rc_tag_that_exists_with_another_digest_fails_the_attempt() {
    let mut w = World::new();
    w.all_pass_prerelease("v1.0.0");
    w.registry
        .get_mut("containers/shop-web")
        .unwrap()
        .insert("shop-2026.11-rc.0".into(), "sha256:elsewhere".into());
    // The registry already has rc.0 for one image: the next attempt numbers above it.
    let id = World::one(&w.release("2026.11").unwrap());
    w.settle();
    assert_eq!(w.deployment(&id).version, "shop-2026.11-rc.1");
    // A permanent tag failure fails the attempt without writing manifests.
    let mut w = World::new();
    w.all_pass_prerelease("v1.0.0");
    w.faults.insert("tag-image", Fault::Permanent);
    let id = World::one(&w.release("2026.11").unwrap());
    let commits = w.commits.len();
    w.settle();
    assert_eq!(w.deployment(&id).status, D::Failed);
    assert_eq!(w.commits.len(), commits);
}

#[test]
fn a_rollback_redeploys_an_existing_tag_and_fails_for_a_missing_one() {
    let mut w = World::new();
    w.publish_image("shop-api", "v0.9.0");
    let ok = World::one(
        &w.input(Input::RollbackRequested {
            application: "shop-api".into(),
            environment: "production".into(),
            version: "v0.9.0".into(),
            actor: "jane".into(),
        })
        .unwrap(),
    );
    w.settle();
    assert_eq!(w.stages(&ok), [S::Deploying]);
    assert_eq!(
        w.manifests["apps/shop-api/deploy/production.yaml"],
        "v0.9.0"
    );
    let missing = World::one(
        &w.input(Input::RollbackRequested {
            application: "shop-api".into(),
            environment: "staging".into(),
            version: "v0.1.0".into(),
            actor: "jane".into(),
        })
        .unwrap(),
    );
    w.settle();
    let d = w.deployment(&missing);
    assert_eq!(d.status, D::Failed);
    assert!(
        d.reason
            .as_deref()
            .unwrap()
            .contains("tag v0.1.0 does not exist")
    );
    let err = w
        .input(Input::RollbackRequested {
            application: "shop-api".into(),
            environment: "qa".into(),
            version: "v0.9.0".into(),
            actor: "jane".into(),
        })
        .unwrap_err();
    assert!(matches!(err, Rejection::UnknownEnvironment { .. }));
}

#[test]
fn a_crash_after_the_push_completes_the_promotion_exactly_once() {
    let mut w = World::new();
    let id = World::one(&w.push("shop-api", "v1.0.1").unwrap());
    // The driver pushes the commit, then dies before recording the outcome.
    let effect = w.queue.pop_front().unwrap();
    let lost = w.execute(&effect);
    assert!(lost.is_some());
    assert_eq!(w.commits.len(), 1);
    assert_eq!(
        w.stages(&id),
        [S::Promoting],
        "the outcome was never recorded"
    );
    w.crash_and_restart();
    w.settle();
    assert_eq!(w.commits.len(), 1, "the promotion is not committed twice");
    assert_eq!(w.stages(&id), [S::Deploying]);
    assert_eq!(
        w.deployment(&id).stages[0].commit_sha.as_deref(),
        Some("c1")
    );
}

#[test]
fn a_report_that_arrives_before_the_commit_is_recorded_completes_the_stage() {
    let mut w = World::new();
    let id = World::one(&w.push("shop-api", "v1.0.1").unwrap());
    // The engine reconciled commit c9 (ours, by its trailers) before the driver recorded it.
    w.input(Input::StatusReported(cd_core::pipeline::StatusReported {
        deployment: id.clone(),
        stage_index: 0,
        status: EngineStatus::Success,
        run_id: "r".into(),
        commit_sha: "c9".into(),
        message: String::new(),
    }))
    .unwrap();
    assert_eq!(w.deployment(&id).status, D::Succeeded);
    assert!(
        w.deployment(&id)
            .outbox
            .iter()
            .all(|p| !matches!(p.effect.kind, EffectKind::WriteManifests { .. }))
    );
    assert!(!w.state.env_versions[&env_key("shop-api", "development")].in_flight);
}

#[test]
fn approvals_are_checked_before_anything_is_appended() {
    let mut w = World::new();
    let id = World::one(&w.push("shop-api", "v1.0.1").unwrap());
    let err = w.approve(&id, "jane").unwrap_err();
    assert!(matches!(err, Rejection::NoGate { .. }), "{err}");
    let err = w
        .input(Input::ApprovalRecorded(
            cd_core::pipeline::ApprovalRecorded {
                deployment: "nope".into(),
                stage_index: 0,
                actor: "jane".into(),
                action: ApprovalAction::Approve,
                comment: String::new(),
            },
        ))
        .unwrap_err();
    assert!(matches!(err, Rejection::UnknownDeployment(_)));
    assert!(w.state.approvals.is_empty());

    // An author may not approve their own change where the track forbids it.
    let mut w = World::new();
    w.settings.forbid_author_approval = vec!["main".into()];
    let id = release_at_staging(&mut w);
    w.engine(&id, EngineStatus::Success).unwrap();
    w.settle();
    w.state.deployments.get_mut(&id).unwrap().authors = vec!["omar@northwind.example".into()];
    let err = w.approve(&id, "omar").unwrap_err();
    assert!(
        matches!(err, Rejection::AuthorMayNotApprove { .. }),
        "{err}"
    );
    let err = w.approve(&id, "omar").unwrap_err();
    assert!(err.to_string().contains("authored"));
    // The gate tells the author so before they try, with the decision's own words.
    let d = &w.state.deployments[&id];
    let needs =
        cd_core::pipeline::gate_needs(&w.catalog, &w.settings, d, &w.state.approvals, Some("omar"))
            .unwrap();
    assert_eq!(
        needs.viewer,
        Some(cd_core::pipeline::Viewer::MayNot(err.to_string()))
    );
    assert_eq!(needs.remaining, needs.min_approvals);
    // Approving a stage that is not waiting is refused too.
    let err = w
        .input(Input::ApprovalRecorded(
            cd_core::pipeline::ApprovalRecorded {
                deployment: id.clone(),
                stage_index: 0,
                actor: "jane".into(),
                action: ApprovalAction::Approve,
                comment: String::new(),
            },
        ))
        .unwrap_err();
    assert!(matches!(
        err,
        Rejection::NoGate { .. } | Rejection::NotAwaitingApproval { .. }
    ));
}

#[test]
fn an_approval_repeated_after_its_gate_opened_changes_nothing() {
    let mut w = World::new();
    let id = release_at_staging(&mut w);
    w.engine(&id, EngineStatus::Success).unwrap();
    w.settle();
    let gate = w.deployment(&id).current_stage;
    w.approve(&id, "jane").unwrap();
    w.approve(&id, "omar").unwrap();
    assert_ne!(
        w.deployment(&id).stages[gate].status,
        S::AwaitingApproval,
        "the quorum of two opened the gate"
    );
    let ledger = w.state.approvals.len();
    // The same approvals again (a client's retry, or one sent to two replicas): harmless.
    for actor in ["jane", "omar"] {
        let again = w
            .input(Input::ApprovalRecorded(
                cd_core::pipeline::ApprovalRecorded {
                    deployment: id.clone(),
                    stage_index: gate,
                    actor: actor.into(),
                    action: ApprovalAction::Approve,
                    comment: String::new(),
                },
            ))
            .unwrap();
        assert!(again.is_noop(), "{again:?}");
        assert_eq!(again.deployments, std::slice::from_ref(&id));
    }
    assert_eq!(w.state.approvals.len(), ledger);
    // Someone who did not approve, or a different action, is still refused: the gate is past.
    for (actor, action) in [
        ("li", ApprovalAction::Approve),
        ("jane", ApprovalAction::Reject),
    ] {
        let late = w
            .input(Input::ApprovalRecorded(
                cd_core::pipeline::ApprovalRecorded {
                    deployment: id.clone(),
                    stage_index: gate,
                    actor: actor.into(),
                    action,
                    comment: String::new(),
                },
            ))
            .unwrap_err();
        assert!(
            matches!(late, Rejection::NotAwaitingApproval { .. }),
            "{late}"
        );
    }
    assert_eq!(w.state.approvals.len(), ledger);
}

#[test]
fn every_rejection_names_what_is_wrong() {
    let mut w = World::new();
    let release = |w: &mut World, set: &str, bundle: &str, versions: &[(&str, &str)]| {
        w.input(Input::ReleaseRequested(
            cd_core::pipeline::ReleaseRequested {
                application_set: set.into(),
                bundle: bundle.into(),
                versions: versions
                    .iter()
                    .map(|(a, v)| (a.to_string(), v.to_string()))
                    .collect(),
                actor: "sam".into(),
            },
        ))
        .unwrap_err()
    };
    let err = release(&mut w, "books", "2026.11", &[]);
    assert_eq!(err, Rejection::UnknownApplicationSet("books".into()));
    // A bundle name is one segment of a branch and a part of a tag: anything else is invalid
    // input, named, before anything is written.
    for bundle in ["2026/11", "", "-rc", "a..b", "x.lock", "2026.11.", "sp ace"] {
        let err = release(&mut w, "shop", bundle, &[]);
        assert!(
            matches!(
                &err,
                Rejection::InvalidInput {
                    field: "bundle",
                    ..
                }
            ),
            "{bundle:?}: {err}"
        );
    }
    let err = release(&mut w, "shop", "2026.11", &[("shop-cart", "v1.0.0")]);
    assert_eq!(err, Rejection::UnknownApplication("shop-cart".into()));
    let err = release(&mut w, "shop", "2026.11", &[("shop-api", "v9.9.9")]);
    assert!(
        err.to_string()
            .contains("shop-api: v9.9.9 has not passed every pre-release stage"),
        "{err}"
    );
    let err = w
        .input(Input::RollbackRequested {
            application: "shop-cart".into(),
            environment: "production".into(),
            version: "v1.0.0".into(),
            actor: "jane".into(),
        })
        .unwrap_err();
    assert_eq!(err, Rejection::UnknownApplication("shop-cart".into()));

    // A version the pipeline cannot order never reaches a manifest.
    for version in ["latest", "v1.2", "main-abc123"] {
        let err = w.push("shop-api", version).unwrap_err();
        assert!(
            matches!(&err, Rejection::InvalidInput { field: "version", reason } if reason.contains("cannot be ordered")),
            "{version}: {err}"
        );
    }
    let id = World::one(&w.push("shop-api", "v1.0.0").unwrap());
    let err = w
        .input(Input::StatusReported(cd_core::pipeline::StatusReported {
            deployment: id.clone(),
            stage_index: 7,
            status: EngineStatus::Success,
            run_id: String::new(),
            commit_sha: "c1".into(),
            message: String::new(),
        }))
        .unwrap_err();
    assert_eq!(
        err,
        Rejection::UnknownStage {
            deployment: id.clone(),
            stage: 7
        }
    );
    assert!(err.is_unknown());

    // A release at its gated production stage: approving staging (done) is refused.
    let mut w = World::new();
    let id = release_at_staging(&mut w);
    w.engine(&id, EngineStatus::Success).unwrap();
    w.settle();
    w.approve(&id, "jane").unwrap();
    w.approve(&id, "li").unwrap();
    w.settle();
    let err = w.approve(&id, "omar").unwrap_err();
    assert!(
        matches!(
            err,
            Rejection::NotAwaitingApproval {
                status: S::Deploying,
                stage: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("is DEPLOYING, not awaiting approval")
    );
    // Every rejection above wrote nothing.
    assert_eq!(w.state.approvals.len(), 2);
}

#[test]
fn a_promotion_to_a_version_already_in_the_manifests_succeeds_without_a_commit() {
    let mut w = World::new();
    // Someone already wrote v1.0.1 into development by hand.
    w.manifests.insert(
        "apps/shop-api/deploy/development.yaml".into(),
        "v1.0.1".into(),
    );
    let id = World::one(&w.push("shop-api", "v1.0.1").unwrap());
    w.settle();
    assert!(
        w.commits.is_empty(),
        "executePromotion is a no-op when already correct"
    );
    assert_eq!(w.deployment(&id).status, D::Succeeded);
    assert_eq!(
        w.deployment(&id).stages[0].message.as_deref(),
        Some("manifests already at this version")
    );
}

#[test]
fn an_rc_tag_created_before_a_crash_is_not_recreated() {
    let mut w = World::new();
    w.all_pass_prerelease("v1.0.0");
    let id = World::one(&w.release("2026.11").unwrap());
    // Run effects until the first RC tag is created, then crash before recording it.
    loop {
        let effect = w.queue.pop_front().unwrap();
        if matches!(effect.kind, EffectKind::TagImage { .. }) {
            assert!(w.execute(&effect).is_some());
            break;
        }
        w.perform(effect);
    }
    w.crash_and_restart();
    w.settle();
    let d = w.deployment(&id);
    assert_eq!(
        d.version, "shop-2026.11-rc.0",
        "the stored RC name is reused"
    );
    assert_eq!(w.stages(&id), [S::Deploying, S::Pending]);
    let rc_tags: usize = w
        .registry
        .values()
        .map(|tags| tags.keys().filter(|t| t.contains("-rc.")).count())
        .sum();
    assert_eq!(rc_tags, 3, "one RC tag per image, none twice");
}

#[test]
fn a_transient_tagging_failure_waits_for_a_retry_of_the_release() {
    let mut w = World::new();
    w.all_pass_prerelease("v1.0.0");
    w.faults.insert("tag-image", Fault::Transient);
    let id = World::one(&w.release("2026.11").unwrap());
    w.settle();
    assert_eq!(
        w.deployment(&id).status,
        D::Pending,
        "AR tagging failure: release initiation waits"
    );
    let before = w.commits.len();
    w.input(Input::RetryRequested {
        deployment: id.clone(),
        actor: "sam".into(),
    })
    .unwrap();
    w.settle();
    assert_eq!(
        w.deployment(&id).version,
        "shop-2026.11-rc.0",
        "the retry reuses the RC name"
    );
    assert_eq!(w.commits.len(), before + 1);
}

#[test]
fn a_completed_release_publishes_its_changelog_as_release_notes() {
    let mut w = World::new();
    w.settings.create_releases = true;
    let entry = |kind: &str, scope: Option<&str>, description: &str, breaking: bool| {
        cd_core::pipeline::ChangelogEntry {
            application: String::new(),
            version: String::new(),
            kind: kind.into(),
            scope: scope.map(str::to_string),
            description: description.into(),
            breaking,
            commit: None,
            pr: Some(12),
        }
    };
    for app in ["shop-api", "shop-web", "shop-worker"] {
        w.publish_image(app, "v1.0.0");
        let changelog = if app == "shop-api" {
            vec![
                entry("feat", Some("cart"), "saved carts", false),
                entry("fix", None, "drop the v1 checkout", true),
            ]
        } else {
            vec![entry("fix", None, &format!("{app} fix"), false)]
        };
        let id = World::one(
            &w.input(Input::BuildNotified(BuildNotified {
                build_definition_id: app.into(),
                container: app.into(),
                version: "v1.0.0".into(),
                changelog,
                ..BuildNotified::default()
            }))
            .unwrap(),
        );
        w.settle();
        w.engine(&id, EngineStatus::Success).unwrap();
        w.settle();
    }
    let id = World::one(&w.release("2026.11").unwrap());
    w.settle();
    w.engine(&id, EngineStatus::Success).unwrap();
    w.settle();
    w.approve(&id, "jane").unwrap();
    w.approve(&id, "omar").unwrap();
    w.settle();
    w.engine(&id, EngineStatus::Success).unwrap();
    w.settle();
    assert_eq!(w.deployment(&id).status, D::Succeeded);
    let changelog: Vec<_> = w
        .state
        .changelogs
        .iter()
        .filter(|c| c.deployment == id)
        .collect();
    assert_eq!(changelog.len(), 4, "the union of the apps' entries");
    assert_eq!(w.releases.len(), 3, "one release per repository");
    let (repo, tag, name, notes) = &w.releases[0];
    assert_eq!(
        (repo.as_str(), tag.as_str(), name.as_str()),
        ("shop-api", "v1.0.0", "shop shop-2026.11")
    );
    let breaking = notes.find("### Breaking changes").unwrap();
    let feat = notes.find("### feat").unwrap();
    assert!(breaking < feat, "breaking changes first:\n{notes}");
    assert!(
        notes.contains("- shop-api: **cart**: saved carts"),
        "{notes}"
    );
    assert!(
        notes.contains("- shop-api: drop the v1 checkout"),
        "{notes}"
    );
}

/// Takes a release that reached staging through production.
fn release_to_production(w: &mut World, id: &cd_core::pipeline::DeploymentId) {
    w.engine(id, EngineStatus::Success).unwrap();
    w.settle();
    w.approve(id, "jane").unwrap();
    w.approve(id, "omar").unwrap();
    w.settle();
    w.engine(id, EngineStatus::Success).unwrap();
    w.settle();
    assert_eq!(w.deployment(id).status, D::Succeeded);
}

#[test]
fn a_release_may_pin_a_build_older_than_the_last_release_and_finds_it_by_key() {
    // Every `World::input` also decides on the bounded snapshot (open deployments, keyed
    // lookups, records) and requires the same decision: here the pinned build is finished and
    // outside the changelog range, so only the keyed lookup of its version finds it.
    let mut w = World::new();
    let first = release_at_staging(&mut w);
    release_to_production(&mut w, &first);
    w.all_pass_prerelease("v1.0.1");
    let pinned = w
        .input(Input::ReleaseRequested(
            cd_core::pipeline::ReleaseRequested {
                application_set: "shop".into(),
                bundle: "2026.12".into(),
                actor: "sam".into(),
                versions: [("shop-api".to_string(), "v1.0.0".to_string())].into(),
            },
        ))
        .unwrap();
    let id = World::one(&pinned);
    let apps = &w.deployment(&id).apps;
    assert_eq!(apps["shop-api"].version, "v1.0.0");
    assert_eq!(apps["shop-web"].version, "v1.0.1", "the best passed build");
    // A version that never passed is refused, by the same keyed lookup.
    let err = w
        .input(Input::ReleaseRequested(
            cd_core::pipeline::ReleaseRequested {
                application_set: "shop".into(),
                bundle: "2026.13".into(),
                actor: "sam".into(),
                versions: [("shop-api".to_string(), "v0.9.0".to_string())].into(),
            },
        ))
        .unwrap_err();
    assert!(matches!(err, Rejection::ReleaseNotReady { .. }), "{err}");
}

#[test]
fn a_waiting_release_is_cancelled_with_a_ledger_row_and_one_in_flight_is_not() {
    let mut w = World::new();
    let id = release_at_staging(&mut w);
    let cancel = |id: &cd_core::pipeline::DeploymentId| Input::CancelRequested {
        deployment: id.clone(),
        actor: "jane".into(),
        comment: "wrong bundle".into(),
    };
    // Staging is deploying: its commit may be landing.
    let err = w.input(cancel(&id)).unwrap_err();
    assert!(matches!(err, Rejection::NotCancellable { .. }), "{err}");
    w.engine(&id, EngineStatus::Success).unwrap();
    w.settle();
    assert_eq!(w.stages(&id), [S::Succeeded, S::AwaitingApproval]);
    let tags_before = w.registry.clone();
    w.input(cancel(&id)).unwrap();
    w.settle();
    let d = w.deployment(&id);
    assert_eq!(d.status, D::Cancelled);
    assert_eq!(d.reason.as_deref(), Some("cancelled by jane: wrong bundle"));
    assert_eq!(w.stages(&id), [S::Succeeded, S::Cancelled]);
    let last = w.state.approvals.last().unwrap();
    assert_eq!(
        (
            last.action,
            last.actor.as_str(),
            last.comment.as_str(),
            last.stage_index
        ),
        (ApprovalAction::Cancel, "jane", "wrong bundle", 1)
    );
    assert_eq!(w.registry, tags_before, "every tag kept");
    // A repeat changes nothing; approving it now is refused; it cannot be retried.
    assert!(w.input(cancel(&id)).unwrap().is_noop());
    assert!(w.approve(&id, "jane").is_err());
    let retry = w.input(Input::RetryRequested {
        deployment: id.clone(),
        actor: "jane".into(),
    });
    assert!(
        matches!(retry, Err(Rejection::NotRetryable { .. })),
        "{retry:?}"
    );
    // A finished deployment is not cancelled: it is rolled back.
    let build = w
        .state
        .deployments
        .values()
        .find(|d| d.status == D::Succeeded)
        .unwrap()
        .id
        .clone();
    let err = w.input(cancel(&build)).unwrap_err();
    assert!(err.to_string().contains("roll back"), "{err}");
    // A CANCEL is not a verdict on a gate.
    let verdict = w.input(Input::ApprovalRecorded(
        cd_core::pipeline::ApprovalRecorded {
            deployment: id,
            stage_index: 1,
            actor: "jane".into(),
            action: ApprovalAction::Cancel,
            comment: String::new(),
        },
    ));
    assert!(
        matches!(
            verdict,
            Err(Rejection::InvalidInput {
                field: "action",
                ..
            })
        ),
        "{verdict:?}"
    );
}
