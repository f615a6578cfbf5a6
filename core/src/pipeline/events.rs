//! Events: every status change of a deployment or a stage becomes a CloudEvent in the outbox.
//!
//! Events are derived by comparing a deployment before and after a decision, so no handler can
//! forget one.

use serde_json::json;

use super::Settings;
use super::effect::{CloudEvent, Effect, EffectKind, PendingEffect};
use super::model::{Deployment, Timestamp};

/// Appends to `new`'s outbox one Publish effect per status change since `old`.
pub(super) fn emit(
    old: Option<&Deployment>,
    new: &mut Deployment,
    settings: &Settings,
    now: Timestamp,
) {
    let mut events = Vec::new();
    let deployment_data = |d: &Deployment| {
        json!({
            "deployment": d.id.0,
            "track": d.track.as_str(),
            "status": d.status.as_str(),
            "application": d.application,
            "applicationSet": d.application_set,
            "bundle": d.bundle,
            "version": d.version,
            "reason": d.reason,
        })
    };
    if old.is_none() {
        events.push(("deployment.created".to_string(), deployment_data(new)));
    }
    if old.map(|o| o.status) != Some(new.status) && old.is_some() {
        let kind = format!("deployment.{}", new.status.as_str().to_ascii_lowercase());
        events.push((kind, deployment_data(new)));
    }
    for stage in &new.stages {
        let before = old
            .and_then(|o| o.stages.get(stage.index))
            .map(|s| s.status);
        if before == Some(stage.status)
            || (before.is_none() && stage.status == super::StageStatus::Pending)
        {
            continue;
        }
        let kind = format!("stage.{}", stage.status.as_str().to_ascii_lowercase());
        events.push((
            kind,
            json!({
                "deployment": new.id.0,
                "track": new.track.as_str(),
                "stage": stage.index,
                "environments": stage.environments,
                "status": stage.status.as_str(),
                "version": new.version,
                "commitSha": stage.commit_sha,
                "message": stage.message,
            }),
        ));
    }
    for (kind, data) in events {
        new.events_emitted += 1;
        let id = format!("{}-{}", new.id, new.events_emitted);
        new.outbox.push(PendingEffect {
            effect: Effect {
                id: format!("{}/event/{}", new.id, new.events_emitted),
                deployment: new.id.clone(),
                kind: EffectKind::Publish {
                    event: CloudEvent {
                        specversion: "1.0".to_string(),
                        id,
                        source: settings.event_source.clone(),
                        event_type: format!("dev.infrastream.{kind}"),
                        subject: new.id.0.clone(),
                        time: now,
                        datacontenttype: "application/json".to_string(),
                        data,
                    },
                },
            },
            parked: false,
        });
    }
}
