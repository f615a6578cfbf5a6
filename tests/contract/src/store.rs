//! The `Store` contract.

use std::collections::BTreeMap;

use cd_core::pipeline::{
    ApprovalAction, ApprovalRecord, ChangelogEntry, ChangelogRecord, Deployment, DeploymentId,
    DeploymentStatus, DeploymentTrack, EnvVersion, Hold, Scope, StageRecord, StageStatus, State,
    StateWrite, Timestamp,
};
use cd_ports::{DeploymentFilter, Store, StoreError};

/// A pending PreRelease deployment with one stage: a row for stores to hold.
#[must_use]
pub fn deployment(id: &str, set: &str, app: &str, key: Option<&str>) -> Deployment {
    Deployment {
        id: DeploymentId(id.into()),
        revision: 1,
        track: DeploymentTrack::PreRelease,
        status: DeploymentStatus::Pending,
        application_set: set.into(),
        application: Some(app.into()),
        bundle: None,
        version: "v1.0.0".into(),
        apps: BTreeMap::new(),
        phase: None,
        observed_tags: BTreeMap::new(),
        stages: vec![StageRecord {
            index: 0,
            environments: vec!["development".into()],
            approval: None,
            status: StageStatus::Pending,
            commit_sha: None,
            run_id: None,
            started_at: None,
            finished_at: None,
            deadline: None,
            message: None,
        }],
        current_stage: 0,
        build: None,
        dedup_key: key.map(str::to_string),
        requested_by: None,
        authors: vec![],
        last_deployed_versions: BTreeMap::new(),
        outbox: vec![],
        parked: None,
        undelivered_events: 0,
        events_emitted: 0,
        reason: None,
        created_at: Timestamp(1_000),
        updated_at: Timestamp(1_000),
        sequence: 1,
    }
}

fn create(d: &Deployment) -> StateWrite {
    StateWrite::PutDeployment {
        deployment: Box::new(d.clone()),
        expected_revision: None,
    }
}

fn approval(id: &str, n: &str, action: ApprovalAction) -> ApprovalRecord {
    ApprovalRecord {
        deployment: DeploymentId(id.into()),
        approval_id: n.into(),
        stage_index: 0,
        actor: "jane".into(),
        action,
        comment: "ok".into(),
        at: Timestamp(2_000),
    }
}

/// Runs the `Store` contract against stores made by `make` (each call: a fresh, empty store).
pub async fn store_contract<S: Store, F: Fn() -> S>(make: F) {
    creates_and_reads_back(&make()).await;
    rejects_stale_revisions_and_duplicates(&make()).await;
    applies_all_or_nothing(&make()).await;
    keeps_the_ledger_append_only(&make()).await;
    loads_by_scope(&make()).await;
    lists_with_filters(&make()).await;
}

async fn creates_and_reads_back(store: &dyn Store) {
    let d = deployment("d1", "shop", "api", Some("k1"));
    store.apply(&[create(&d)]).await.unwrap();
    let state = store.load(&Scope::All).await.unwrap();
    assert_eq!(
        state.deployments.get(&d.id),
        Some(&d),
        "a created deployment reads back equal"
    );
    let view = store
        .deployment(&d.id)
        .await
        .unwrap()
        .expect("deployment() finds it");
    assert_eq!(view.deployment, d);
    assert!(
        store
            .deployment(&DeploymentId("nope".into()))
            .await
            .unwrap()
            .is_none()
    );
}

async fn rejects_stale_revisions_and_duplicates(store: &dyn Store) {
    let d = deployment("d1", "shop", "api", Some("k1"));
    store.apply(&[create(&d)]).await.unwrap();
    let again = store.apply(&[create(&d)]).await;
    assert!(
        matches!(again, Err(StoreError::Conflict(_))),
        "creating an existing id is a Conflict: {again:?}"
    );
    let same_key = deployment("d2", "shop", "api", Some("k1"));
    let dup = store.apply(&[create(&same_key)]).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "a taken dedup key is a Conflict: {dup:?}"
    );

    let mut next = d.clone();
    next.revision = 2;
    next.status = DeploymentStatus::InProgress;
    let update = |d: &Deployment, expected| StateWrite::PutDeployment {
        deployment: Box::new(d.clone()),
        expected_revision: Some(expected),
    };
    store.apply(&[update(&next, 1)]).await.unwrap();
    let mut stale = d.clone();
    stale.revision = 2;
    stale.status = DeploymentStatus::Failed;
    let lost = store.apply(&[update(&stale, 1)]).await;
    assert!(
        matches!(lost, Err(StoreError::Conflict(_))),
        "a stale revision is a Conflict: {lost:?}"
    );
    let state = store.load(&Scope::All).await.unwrap();
    assert_eq!(
        state.deployments[&d.id].status,
        DeploymentStatus::InProgress,
        "the loser wrote nothing"
    );
}

async fn applies_all_or_nothing(store: &dyn Store) {
    let a = deployment("a", "shop", "api", None);
    store.apply(&[create(&a)]).await.unwrap();
    let b = deployment("b", "shop", "web", None);
    let env = EnvVersion {
        application: "api".into(),
        environment: "development".into(),
        version: "v1.0.0".into(),
        previous: None,
        deployment: a.id.clone(),
        track: DeploymentTrack::PreRelease,
        in_flight: true,
        revision: 1,
    };
    // b is new and fine, but a's write is stale: neither may land.
    let mut stale_a = a.clone();
    stale_a.revision = 5;
    let writes = vec![
        create(&b),
        StateWrite::PutEnvVersion {
            value: env.clone(),
            expected_revision: None,
        },
        StateWrite::PutDeployment {
            deployment: Box::new(stale_a),
            expected_revision: Some(4),
        },
    ];
    assert!(matches!(
        store.apply(&writes).await,
        Err(StoreError::Conflict(_))
    ));
    let state = store.load(&Scope::All).await.unwrap();
    assert!(
        !state.deployments.contains_key(&b.id),
        "a failed decision wrote part of itself"
    );
    assert!(state.env_versions.is_empty());

    store
        .apply(&[StateWrite::PutEnvVersion {
            value: env.clone(),
            expected_revision: None,
        }])
        .await
        .unwrap();
    let taken = store
        .apply(&[StateWrite::PutEnvVersion {
            value: env.clone(),
            expected_revision: None,
        }])
        .await;
    assert!(
        matches!(taken, Err(StoreError::Conflict(_))),
        "an environment version claimed twice: {taken:?}"
    );
    let mut committed = env.clone();
    committed.in_flight = false;
    committed.revision = 2;
    store
        .apply(&[StateWrite::PutEnvVersion {
            value: committed.clone(),
            expected_revision: Some(1),
        }])
        .await
        .unwrap();
    let state = store.load(&Scope::All).await.unwrap();
    assert_eq!(state.env_versions.values().next(), Some(&committed));

    let hold = Hold {
        reason: "freeze".into(),
        actor: "jane".into(),
        at: Timestamp(5),
    };
    store
        .apply(&[StateWrite::PutHold {
            environment: "production".into(),
            hold: hold.clone(),
        }])
        .await
        .unwrap();
    assert_eq!(
        store
            .load(&Scope::All)
            .await
            .unwrap()
            .holds
            .get("production"),
        Some(&hold)
    );
    store
        .apply(&[StateWrite::RemoveHold {
            environment: "production".into(),
        }])
        .await
        .unwrap();
    assert!(store.load(&Scope::All).await.unwrap().holds.is_empty());
}

async fn keeps_the_ledger_append_only(store: &dyn Store) {
    let d = deployment("d1", "shop", "api", None);
    store.apply(&[create(&d)]).await.unwrap();
    // Ids that sort against append order: the ledger must keep the order of the appends.
    let first = approval("d1", "z9", ApprovalAction::Approve);
    let second = approval("d1", "a1", ApprovalAction::Reject);
    store
        .apply(&[StateWrite::AppendApproval(first.clone())])
        .await
        .unwrap();
    store
        .apply(&[StateWrite::AppendApproval(second.clone())])
        .await
        .unwrap();
    let reused = store
        .apply(&[StateWrite::AppendApproval(approval(
            "d1",
            "z9",
            ApprovalAction::Reject,
        ))])
        .await;
    assert!(
        matches!(reused, Err(StoreError::Conflict(_))),
        "an approval id is never reused: {reused:?}"
    );
    let view = store.deployment(&d.id).await.unwrap().unwrap();
    let got: Vec<(&str, ApprovalAction)> = view
        .approvals
        .iter()
        .map(|a| (a.approval_id.as_str(), a.action))
        .collect();
    assert_eq!(
        got,
        [
            ("z9", ApprovalAction::Approve),
            ("a1", ApprovalAction::Reject)
        ],
        "ledger order is append order"
    );
    assert_eq!(view.approvals[0].actor, "jane");
    assert_eq!(view.approvals[0].comment, "ok");

    let entry = ChangelogEntry {
        application: "api".into(),
        version: "v1.0.0".into(),
        kind: "feat".into(),
        scope: Some("cart".into()),
        description: "add carts".into(),
        breaking: false,
        commit: Some("abc".into()),
        pr: Some(7),
    };
    let later = ChangelogEntry {
        description: "carts expire".into(),
        ..entry.clone()
    };
    for (id, e) in [("c9", &entry), ("c1", &later)] {
        store
            .apply(&[StateWrite::AppendChangelog(ChangelogRecord {
                deployment: d.id.clone(),
                changelog_id: id.into(),
                entry: e.clone(),
            })])
            .await
            .unwrap();
    }
    let view = store.deployment(&d.id).await.unwrap().unwrap();
    let got: Vec<(&str, &ChangelogEntry)> = view
        .changelog
        .iter()
        .map(|c| (c.changelog_id.as_str(), &c.entry))
        .collect();
    assert_eq!(got, [("c9", &entry), ("c1", &later)], "append order");
}

async fn loads_by_scope(store: &dyn Store) {
    let a = deployment("a", "shop", "api", None);
    let b = deployment("b", "books", "catalog", None);
    let env = |app: &str, d: &str| StateWrite::PutEnvVersion {
        value: EnvVersion {
            application: app.into(),
            environment: "production".into(),
            version: "v1.0.0".into(),
            previous: None,
            deployment: DeploymentId(d.into()),
            track: DeploymentTrack::Release,
            in_flight: false,
            revision: 1,
        },
        expected_revision: None,
    };
    let note = |d: &str, id: &str, app: &str| {
        StateWrite::AppendChangelog(ChangelogRecord {
            deployment: DeploymentId(d.into()),
            changelog_id: id.into(),
            entry: ChangelogEntry {
                application: app.into(),
                version: "v1.0.0".into(),
                kind: "fix".into(),
                scope: None,
                description: format!("fix in {app}"),
                breaking: false,
                commit: None,
                pr: None,
            },
        })
    };
    let writes = [
        vec![create(&a), create(&b)],
        vec![
            StateWrite::AppendApproval(approval("a", "x1", ApprovalAction::Approve)),
            StateWrite::AppendApproval(approval("b", "x2", ApprovalAction::Approve)),
            StateWrite::PutHold {
                environment: "production".into(),
                hold: Hold {
                    reason: "r".into(),
                    actor: "jane".into(),
                    at: Timestamp(1),
                },
            },
            env("api", "a"),
            env("catalog", "b"),
            note("a", "n1", "api"),
            note("b", "n2", "catalog"),
        ],
    ];
    // What the store should hold, built without it; approval times are the store's own
    // (Spanner records its commit time), so they are compared apart.
    let mut expected = State::default();
    for w in &writes {
        store.apply(w).await.unwrap();
        expected.apply(w).unwrap();
    }
    let without_times = |mut s: State| {
        for a in &mut s.approvals {
            a.at = Timestamp(0);
        }
        s
    };
    for scope in [
        Scope::All,
        Scope::ApplicationSet("shop".into()),
        Scope::SetOf(DeploymentId("b".into())),
        Scope::SetOf(DeploymentId("missing".into())),
    ] {
        let got = store.load(&scope).await.unwrap();
        assert_eq!(
            without_times(got),
            without_times(expected.scoped(&scope)),
            "load({scope:?}) differs from the writes, scoped"
        );
    }
}

async fn lists_with_filters(store: &dyn Store) {
    let mut a = deployment("a", "shop", "api", None);
    let mut b = deployment("b", "shop", "web", None);
    b.created_at = Timestamp(2_000);
    b.sequence = 2;
    b.status = DeploymentStatus::Succeeded;
    a.track = DeploymentTrack::Hotfix;
    store.apply(&[create(&a), create(&b)]).await.unwrap();
    let all = store.list(&DeploymentFilter::default()).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|d| d.id.0.as_str()).collect();
    assert_eq!(ids, ["b", "a"], "newest first");
    let only = |f: DeploymentFilter| async move {
        store
            .list(&f)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.id.0)
            .collect::<Vec<_>>()
    };
    // Without a limit, and with the API's kind of limit (stores may filter in their query).
    for limit in [0, 10] {
        assert_eq!(
            only(DeploymentFilter {
                application: Some("api".into()),
                limit,
                ..Default::default()
            })
            .await,
            ["a"]
        );
        assert_eq!(
            only(DeploymentFilter {
                status: Some(DeploymentStatus::Succeeded),
                limit,
                ..Default::default()
            })
            .await,
            ["b"]
        );
        assert_eq!(
            only(DeploymentFilter {
                track: Some(DeploymentTrack::Hotfix),
                limit,
                ..Default::default()
            })
            .await,
            ["a"]
        );
    }
    assert_eq!(
        only(DeploymentFilter {
            limit: 1,
            ..Default::default()
        })
        .await,
        ["b"]
    );
    assert!(
        only(DeploymentFilter {
            application_set: Some("books".into()),
            ..Default::default()
        })
        .await
        .is_empty()
    );
}
