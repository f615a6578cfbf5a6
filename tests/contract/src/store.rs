//! The `Store` contract.

use std::collections::BTreeMap;

use cd_core::pipeline::{
    ApprovalAction, ApprovalRecord, BundleApp, ChangelogEntry, ChangelogRecord, CloudEvent,
    Deployment, DeploymentId, DeploymentStatus, DeploymentTrack, Effect, EffectKind, EnvVersion,
    Hold, PendingEffect, Reads, Record, RecordValue, StageRecord, StageStatus, State, StateWrite,
    Timestamp, VersionRange, records_of,
};
use cd_ports::{DeploymentFilter, ListCursor, Store, StoreError};

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

/// Every open deployment (what these checks write is all open), holds and versions.
fn everything_open() -> Reads {
    Reads {
        all_open: true,
        ..Reads::default()
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
    loads_by_key(&make()).await;
    loads_stay_bounded(&make(), 10_000).await;
    lists_with_filters(&make()).await;
    answers_the_portals_queries(&make()).await;
}

/// `holds` and `waiting_on_people` answer as their reference semantics say, whatever query a
/// store makes for them.
async fn answers_the_portals_queries(store: &dyn Store) {
    assert!(store.holds().await.unwrap().is_empty());
    assert!(store.waiting_on_people().await.unwrap().is_empty());
    let hold = Hold {
        reason: "freeze <b>".into(),
        actor: "jane".into(),
        at: Timestamp(5),
    };
    let mut waiting = deployment("w1", "shop", "api", None);
    waiting.status = DeploymentStatus::AwaitingApproval;
    waiting.created_at = Timestamp(3_000);
    waiting.sequence = 3;
    let mut rejected = deployment("w2", "shop", "web", None);
    rejected.status = DeploymentStatus::Rejected;
    rejected.track = DeploymentTrack::Hotfix;
    rejected.created_at = Timestamp(4_000);
    rejected.sequence = 4;
    let mut gated_release = release("w3", "2026.12", DeploymentStatus::AwaitingApproval, 5);
    gated_release.created_at = Timestamp(2_000);
    let running = deployment("w4", "shop", "api", None);
    let mut done = deployment("w5", "shop", "api", None);
    done.status = DeploymentStatus::Succeeded;
    let mut writes: Vec<StateWrite> = [&waiting, &rejected, &gated_release, &running, &done]
        .into_iter()
        .map(create)
        .collect();
    writes.push(StateWrite::PutHold {
        environment: "production".into(),
        hold: hold.clone(),
    });
    writes.push(StateWrite::AppendApproval(approval(
        "w1",
        "a1",
        ApprovalAction::Approve,
    )));
    writes.push(StateWrite::AppendApproval(approval(
        "w2",
        "a2",
        ApprovalAction::Reject,
    )));
    writes.push(StateWrite::AppendApproval(approval(
        "w5",
        "a3",
        ApprovalAction::Approve,
    )));
    store.apply(&writes).await.unwrap();

    assert_eq!(
        store.holds().await.unwrap(),
        BTreeMap::from([("production".to_string(), hold)])
    );
    let inbox = store.waiting_on_people().await.unwrap();
    let ids: Vec<&str> = inbox.iter().map(|v| v.deployment.id.0.as_str()).collect();
    assert_eq!(ids, ["w2", "w1", "w3"], "waiting ones only, newest first");
    let ledgers: Vec<Vec<&str>> = inbox
        .iter()
        .map(|v| v.approvals.iter().map(|a| a.approval_id.as_str()).collect())
        .collect();
    assert_eq!(
        ledgers,
        [vec!["a2"], vec!["a1"], vec![]],
        "each with its own ledger"
    );
    // Change times: the commit time when CI sent one, else the creation; the earliest of a
    // build notified twice; builds the store does not hold are left out.
    let mut committed = shaped(
        "c1",
        "shop",
        "api",
        "v2.0.0",
        DeploymentStatus::Succeeded,
        10,
    );
    committed.created_at = Timestamp(9_000);
    committed.build = Some(cd_core::pipeline::BuildRef {
        build_definition: "api".into(),
        container: "api".into(),
        commit_sha: "abc".into(),
        repository: "api".into(),
        git_ref: "refs/heads/main".into(),
        digest: None,
        author: None,
        committed_at: Some(Timestamp(7_000)),
    });
    let mut again = shaped(
        "c2",
        "shop",
        "api",
        "v2.0.0",
        DeploymentStatus::Succeeded,
        11,
    );
    again.created_at = Timestamp(9_500);
    let mut plain = shaped(
        "c3",
        "shop",
        "web",
        "v2.0.0",
        DeploymentStatus::Succeeded,
        12,
    );
    plain.created_at = Timestamp(8_000);
    // A build that is not wanted, though its application and its version each are.
    let unwanted = shaped(
        "c4",
        "shop",
        "web",
        "v3.0.0",
        DeploymentStatus::Succeeded,
        13,
    );
    store
        .apply(&[
            create(&committed),
            create(&again),
            create(&plain),
            create(&unwanted),
        ])
        .await
        .unwrap();
    let wanted: std::collections::BTreeSet<(String, String)> = [
        ("api", "v2.0.0"),
        ("web", "v2.0.0"),
        ("worker", "v2.0.0"),
        ("api", "v3.0.0"),
    ]
    .into_iter()
    .map(|(a, v)| (a.to_string(), v.to_string()))
    .collect();
    let times = store.change_times(&wanted).await.unwrap();
    assert_eq!(
        times,
        BTreeMap::from([
            (("api".to_string(), "v2.0.0".to_string()), Timestamp(7_000)),
            (("web".to_string(), "v2.0.0".to_string()), Timestamp(8_000)),
        ])
    );
    assert_eq!(
        times,
        cd_ports::change_times([&committed, &again, &plain]),
        "the reference semantics agree"
    );
    assert!(
        store
            .change_times(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );
    // The reference semantics over what a load returns agree.
    let open = store.load(&everything_open()).await.unwrap();
    let reference: Vec<DeploymentId> = cd_ports::waiting_on_people(&open)
        .into_iter()
        .map(|v| v.deployment.id)
        .collect();
    assert_eq!(
        reference,
        inbox
            .iter()
            .map(|v| v.deployment.id.clone())
            .collect::<Vec<_>>()
    );
}

async fn creates_and_reads_back(store: &dyn Store) {
    let d = deployment("d1", "shop", "api", Some("k1"));
    store.apply(&[create(&d)]).await.unwrap();
    let state = store.load(&everything_open()).await.unwrap();
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
    let state = store.load(&everything_open()).await.unwrap();
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
    let state = store.load(&everything_open()).await.unwrap();
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
    let state = store.load(&everything_open()).await.unwrap();
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
            .load(&everything_open())
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
    assert!(
        store
            .load(&everything_open())
            .await
            .unwrap()
            .holds
            .is_empty()
    );
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
    // A cancel is a ledger row too.
    store
        .apply(&[StateWrite::AppendApproval(approval(
            "d1",
            "m5",
            ApprovalAction::Cancel,
        ))])
        .await
        .unwrap();
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
            ("a1", ApprovalAction::Reject),
            ("m5", ApprovalAction::Cancel)
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

/// A deployment in a given status, track and version, for the keyed loads.
fn shaped(
    id: &str,
    set: &str,
    app: &str,
    version: &str,
    status: DeploymentStatus,
    sequence: u64,
) -> Deployment {
    Deployment {
        version: version.into(),
        status,
        sequence,
        dedup_key: Some(format!("key-{id}")),
        ..deployment(id, set, app, None)
    }
}

fn release(id: &str, bundle: &str, status: DeploymentStatus, sequence: u64) -> Deployment {
    Deployment {
        track: DeploymentTrack::Release,
        application: None,
        bundle: Some(bundle.into()),
        version: format!("shop-{bundle}-rc.0"),
        apps: [(
            "api".to_string(),
            BundleApp {
                version: "v1.1.0".into(),
                image: "api".into(),
                registries: vec!["containers".into()],
                repository: None,
                branch_commit: None,
                production_tag: None,
            },
        )]
        .into(),
        status,
        sequence,
        ..deployment(id, "shop", "api", None)
    }
}

/// `state` with what stores may differ in set aside: approval times are the store's own
/// (Spanner records its commit time), and ledger rows of different deployments may come in any
/// order (each deployment's own rows keep theirs).
fn comparable(mut s: State) -> State {
    for a in &mut s.approvals {
        a.at = Timestamp(0);
    }
    s.approvals.sort_by(|a, b| a.deployment.cmp(&b.deployment));
    s.changelogs.sort_by(|a, b| a.deployment.cmp(&b.deployment));
    s
}

async fn loads_by_key(store: &dyn Store) {
    use DeploymentStatus::{Failed, Pending, Succeeded};
    let mut owing = shaped("owes", "shop", "api", "v0.8.0", Failed, 5);
    owing.outbox = vec![PendingEffect {
        effect: Effect {
            id: "owes/event".into(),
            deployment: DeploymentId("owes".into()),
            kind: EffectKind::Publish {
                event: CloudEvent {
                    specversion: "1.0".into(),
                    id: "owes/1".into(),
                    source: "/test".into(),
                    event_type: "t".into(),
                    subject: "owes".into(),
                    time: Timestamp(0),
                    datacontenttype: "application/json".into(),
                    data: serde_json::Value::Null,
                },
            },
        },
        parked: false,
    }];
    let deployments = [
        shaped("open", "shop", "api", "v1.2.0", Pending, 1),
        shaped("books", "books", "catalog", "v1.0.0", Pending, 1),
        shaped("passed", "shop", "api", "v1.1.0", Succeeded, 2),
        shaped("older", "shop", "api", "v0.9.0", Failed, 3),
        shaped("latest", "shop", "api", "latest", Succeeded, 4),
        owing,
        release("r1", "2026.11", Succeeded, 6),
        release("r2", "2026.12", Pending, 7),
    ];
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
    let note = |d: &str, id: &str| {
        StateWrite::AppendChangelog(ChangelogRecord {
            deployment: DeploymentId(d.into()),
            changelog_id: id.into(),
            entry: ChangelogEntry {
                application: "api".into(),
                version: "v1.0.0".into(),
                kind: "fix".into(),
                scope: None,
                description: format!("fix in {d}"),
                breaking: false,
                commit: None,
                pr: None,
            },
        })
    };
    let mut writes = vec![deployments.iter().map(create).collect::<Vec<_>>()];
    writes.push(vec![
        StateWrite::AppendApproval(approval("passed", "x1", ApprovalAction::Approve)),
        StateWrite::AppendApproval(approval("open", "x2", ApprovalAction::Approve)),
        StateWrite::AppendApproval(approval("passed", "x3", ApprovalAction::Reject)),
        StateWrite::PutHold {
            environment: "production".into(),
            hold: Hold {
                reason: "r".into(),
                actor: "jane".into(),
                at: Timestamp(1),
            },
        },
        env("api", "r1"),
        env("catalog", "books"),
        note("passed", "n1"),
        note("open", "n2"),
        note("passed", "n3"),
    ]);
    // Records only rise: the lower of two raises never replaces the higher, in either order.
    let raise = |rank: &str, sequence: u64| StateWrite::RaiseRecord {
        key: "sequence/shop".into(),
        record: Record {
            rank: rank.into(),
            value: RecordValue::Sequence { sequence },
        },
    };
    writes.push(vec![raise("00000000000000000009", 9)]);
    writes.push(vec![raise("00000000000000000008", 8)]);
    writes.push(
        deployments
            .iter()
            .flat_map(records_of)
            .map(|(key, record)| StateWrite::RaiseRecord { key, record })
            .collect(),
    );
    let mut expected = State::default();
    for w in &writes {
        store.apply(w).await.unwrap();
        expected.apply(w).unwrap();
    }
    assert_eq!(
        expected.recorded_sequence("shop"),
        9,
        "the higher raise stays"
    );
    let key = |v: &str| cd_core::version::order_key(v).unwrap();
    let reads = [
        Reads::default(),
        Reads {
            all_open: true,
            ..Reads::default()
        },
        Reads {
            open_sets: ["shop".to_string()].into(),
            ..Reads::default()
        },
        Reads {
            deployments: [
                DeploymentId("passed".into()),
                DeploymentId("missing".into()),
            ]
            .into(),
            ..Reads::default()
        },
        Reads {
            dedup_keys: ["key-older".to_string(), "key-none".to_string()].into(),
            ..Reads::default()
        },
        Reads {
            builds: [
                ("api".to_string(), "v1.1.0".to_string()),
                ("api".to_string(), "latest".to_string()),
            ]
            .into(),
            ..Reads::default()
        },
        Reads {
            bundles: [("shop".to_string(), "2026.11".to_string())].into(),
            ..Reads::default()
        },
        Reads {
            ranges: [
                VersionRange {
                    application: "api".into(),
                    after: Some(key("v0.9.0")),
                    up_to: key("v1.2.0"),
                },
                VersionRange {
                    application: "api".into(),
                    after: None,
                    up_to: key("v0.9.0"),
                },
            ]
            .into(),
            ..Reads::default()
        },
        Reads {
            records: [
                "sequence/shop".to_string(),
                "passed/api".to_string(),
                "released/shop".to_string(),
                "passed/none".to_string(),
            ]
            .into(),
            ..Reads::default()
        },
    ];
    for r in &reads {
        let got = store.load(r).await.unwrap();
        assert_eq!(
            comparable(got),
            comparable(expected.select(r)),
            "load({r:?}) differs from the writes, selected"
        );
    }
    // What the keys found, spelled out, so the reference itself is checked too.
    let ids = |r: &Reads| {
        let s = expected.select(r);
        s.deployments
            .keys()
            .map(|d| d.0.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&reads[1]),
        ["books", "open", "owes", "r2"],
        "open: not final, or owing an effect"
    );
    assert_eq!(
        ids(&reads[7]),
        ["older", "open", "owes", "passed"],
        "(v0.9.0, v1.2.0] and up to v0.9.0"
    );
    assert_eq!(
        expected.recorded_passed("api"),
        Some("v1.1.0"),
        "semver ranks above 'latest'"
    );
}

/// After `history` finished deployments, the load of a decision's reads returns the open ones
/// and the keyed few: the same as after a handful.
async fn loads_stay_bounded(store: &dyn Store, history: usize) {
    let batch = 500;
    let reads_of_a_build = |n: usize| Reads {
        open_sets: ["shop".to_string()].into(),
        dedup_keys: [format!("key-new-{n}")].into(),
        records: ["sequence/shop".to_string(), "passed/api".to_string()].into(),
        ..Reads::default()
    };
    let mut sizes = Vec::new();
    let mut written = 0;
    for goal in [10, history] {
        while written < goal {
            let n = (goal - written).min(batch);
            let rows: Vec<StateWrite> = (written..written + n)
                .map(|i| {
                    let d = shaped(
                        &format!("h{i:06}"),
                        "shop",
                        "api",
                        &format!("v1.0.{i}"),
                        DeploymentStatus::Succeeded,
                        i as u64 + 10,
                    );
                    create(&d)
                })
                .collect();
            store.apply(&rows).await.unwrap();
            written += n;
        }
        let open = shaped(
            &format!("live{goal}"),
            "shop",
            "api",
            "v9.0.0",
            DeploymentStatus::Pending,
            1,
        );
        store.apply(&[create(&open)]).await.unwrap();
        let loaded = store.load(&reads_of_a_build(goal)).await.unwrap();
        sizes.push(loaded.deployments.len());
    }
    assert_eq!(
        sizes[0] + 1,
        sizes[1],
        "only the new open deployment is added: {sizes:?}"
    );
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
    // Pages follow their cursors to the end, in order, each deployment once: here across ties
    // of creation time (sequence and id break them) and both tables (a release lists under the
    // apps of its bundle).
    let mut more = Vec::new();
    for i in 0..7u64 {
        let mut d = deployment(&format!("p{i}"), "shop", "api", None);
        d.created_at = Timestamp(1_500);
        d.sequence = 10 + i % 3;
        more.push(create(&d));
    }
    more.push(create(&release(
        "r",
        "2026.11",
        DeploymentStatus::Pending,
        11,
    )));
    store.apply(&more).await.unwrap();
    let everything = only(DeploymentFilter::default()).await;
    assert_eq!(everything.len(), 10);
    for application in [None, Some("api".to_string())] {
        let whole = only(DeploymentFilter {
            application: application.clone(),
            ..Default::default()
        })
        .await;
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .list(&DeploymentFilter {
                    application: application.clone(),
                    limit: 3,
                    after: after.clone(),
                    ..Default::default()
                })
                .await
                .unwrap();
            after = page.last().map(ListCursor::after);
            paged.extend(page.iter().map(|d| d.id.0.clone()));
            if page.len() < 3 {
                break;
            }
        }
        assert_eq!(paged, whole, "pages of {application:?}");
    }
    assert!(
        only(DeploymentFilter {
            application: Some("api".into()),
            track: Some(DeploymentTrack::Release),
            ..Default::default()
        })
        .await
            == ["r"],
        "a release lists under its bundle's apps"
    );
}

/// History for a store's backfill test: the rows, the reads that find them only through the
/// keyed columns and records a backfill derives, and what those reads must return.
#[derive(Debug)]
pub struct BackfillSample {
    /// A finished build (found by its version key) and an open one (by its open flag).
    pub writes: Vec<StateWrite>,
    /// The open deployments of `shop`, the builds of `api` up to v1.1.0, two records.
    pub reads: Reads,
    /// The whole state the writes make, its records rebuilt.
    pub expected: State,
}

impl BackfillSample {
    /// Checks what a store loaded for [`BackfillSample::reads`] after its backfill.
    pub fn check(&self, got: &State) {
        assert_eq!(*got, self.expected.select(&self.reads));
        assert_eq!(
            got.deployments
                .keys()
                .map(|d| d.0.as_str())
                .collect::<Vec<_>>(),
            ["open", "passed"],
            "open by its flag, passed by its version key"
        );
        assert_eq!(got.recorded_passed("api"), Some("v1.1.0"));
        assert_eq!(got.recorded_sequence("shop"), 4);
    }
}

/// See [`BackfillSample`].
#[must_use]
pub fn backfill_sample() -> BackfillSample {
    let passed = Deployment {
        status: DeploymentStatus::Succeeded,
        version: "v1.1.0".into(),
        sequence: 3,
        ..deployment("passed", "shop", "api", Some("k1"))
    };
    let open = Deployment {
        version: "v1.2.0".into(),
        sequence: 4,
        ..deployment("open", "shop", "api", Some("k2"))
    };
    let writes: Vec<StateWrite> = [&passed, &open].into_iter().map(create).collect();
    let mut expected = State::default();
    expected.apply(&writes).unwrap();
    expected.rebuild_records();
    let reads = Reads {
        open_sets: ["shop".to_string()].into(),
        ranges: [VersionRange {
            application: "api".into(),
            after: None,
            up_to: cd_core::version::order_key("v1.1.0").unwrap(),
        }]
        .into(),
        records: ["sequence/shop".into(), "passed/api".into()].into(),
        ..Reads::default()
    };
    BackfillSample {
        writes,
        reads,
        expected,
    }
}
