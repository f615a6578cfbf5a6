//! The overview's data: each application set as a matrix of applications by environments,
//! built from the manifests at the head and the open deployments. Pure, so it is tested
//! without a page.

use cd_core::manifest::{Catalog, Track};
use cd_core::pipeline::{Deployment, StageStatus, State, Timestamp, env_key};

/// One application set's matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SetMatrix {
    /// The set.
    pub(crate) name: String,
    /// Its environments, in the order its track reaches them (pre-release first).
    pub(crate) environments: Vec<String>,
    /// Its applications, each with a cell per environment (in `environments` order).
    pub(crate) rows: Vec<(String, Vec<Cell>)>,
    /// Its open deployments, newest first.
    pub(crate) in_flight: Vec<InFlight>,
}

/// What one application runs in one environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cell {
    /// The version running there: the last this engine wrote and saw committed, else what the
    /// manifests at the head name (if the application deploys there).
    pub(crate) version: Option<String>,
    /// A version being written or deployed there now, and by which deployment.
    pub(crate) arriving: Option<(String, String)>,
}

/// An open deployment and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InFlight {
    /// Its id.
    pub(crate) id: String,
    /// Track, as spelt on the wire.
    pub(crate) track: &'static str,
    /// The application, or the bundle.
    pub(crate) what: String,
    /// Its version.
    pub(crate) version: String,
    /// Its status, as spelt on the wire.
    pub(crate) status: &'static str,
    /// The current stage's environments and status.
    pub(crate) stage: Option<(Vec<String>, StageStatus)>,
    /// How long the current stage has waited, in milliseconds (from when it was reached, or
    /// from the deployment's creation when it has not been reached yet).
    pub(crate) waited_ms: i64,
}

fn what(d: &Deployment) -> String {
    d.application
        .clone()
        .or_else(|| d.bundle.clone())
        .unwrap_or_default()
}

/// The matrices of every application set of `catalog`, from `state` (its open deployments
/// and environment versions) at `now`.
pub(crate) fn matrices(catalog: &Catalog, state: &State, now: Timestamp) -> Vec<SetMatrix> {
    catalog
        .application_sets
        .values()
        .map(|set| {
            let mut environments: Vec<String> = Vec::new();
            if let Some(track) = catalog.release_tracks.get(&set.release_track) {
                for kind in [Track::PreRelease, Track::Release] {
                    for stage in track.stages(kind) {
                        for env in &stage.environments {
                            if !environments.contains(env) {
                                environments.push(env.clone());
                            }
                        }
                    }
                }
            }
            let rows = catalog
                .applications_in_set(&set.name)
                .into_iter()
                .map(|app| {
                    let cells = environments
                        .iter()
                        .map(|env| {
                            // What this engine last wrote there is the freshest word; the
                            // manifests at the head (read at most a few seconds ago) say what
                            // runs where it never wrote.
                            let manifests = catalog
                                .deployment_config(&app.name, env)
                                .and_then(|dc| dc.version.clone());
                            match state.env_versions.get(&env_key(&app.name, env)) {
                                Some(v) if v.in_flight => Cell {
                                    version: v.previous.clone().or(manifests),
                                    arriving: Some((v.version.clone(), v.deployment.0.clone())),
                                },
                                Some(v) => Cell {
                                    version: Some(v.version.clone()),
                                    arriving: None,
                                },
                                None => Cell {
                                    version: manifests,
                                    arriving: None,
                                },
                            }
                        })
                        .collect();
                    (app.name.clone(), cells)
                })
                .collect();
            let mut open: Vec<&Deployment> = state
                .deployments
                .values()
                .filter(|d| d.application_set == set.name && !d.status.is_final())
                .collect();
            open.sort_by(|a, b| {
                (b.created_at, b.sequence, &b.id).cmp(&(a.created_at, a.sequence, &a.id))
            });
            let in_flight = open
                .into_iter()
                .map(|d| {
                    let stage = d.stage();
                    let since = stage.and_then(|s| s.started_at).unwrap_or(d.created_at);
                    InFlight {
                        id: d.id.0.clone(),
                        track: d.track.as_str(),
                        what: what(d),
                        version: d.version.clone(),
                        status: d.status.as_str(),
                        stage: stage.map(|s| (s.environments.clone(), s.status)),
                        waited_ms: now.0.saturating_sub(since.0).max(0),
                    }
                })
                .collect();
            SetMatrix {
                name: set.name.clone(),
                environments,
                rows,
                in_flight,
            }
        })
        .collect()
}

/// A duration in milliseconds as people read it: `45s`, `12m`, `3h 05m`, `2d 04h`.
pub(crate) fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m) = (s / 86_400, (s / 3600) % 24, (s / 60) % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m:02}m"),
        (d, h, _) => format!("{d}d {h:02}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cd_core::pipeline::{DeploymentId, DeploymentTrack, EnvVersion};

    fn written(
        app: &str,
        env: &str,
        version: &str,
        previous: Option<&str>,
        in_flight: bool,
    ) -> (String, EnvVersion) {
        (
            env_key(app, env),
            EnvVersion {
                application: app.into(),
                environment: env.into(),
                version: version.into(),
                previous: previous.map(str::to_string),
                deployment: DeploymentId("d-1".into()),
                track: DeploymentTrack::Release,
                in_flight,
                revision: 1,
            },
        )
    }

    #[test]
    fn a_cell_shows_what_was_written_last_and_what_is_arriving() {
        let catalog = Catalog::load_valid(crate::tenant::example_files()).unwrap();
        let state = State {
            env_versions: [
                written("shop-api", "development", "v1.2.0", Some("v1.1.0"), false),
                written("shop-api", "production", "v1.2.0", Some("v1.1.0"), true),
            ]
            .into(),
            ..State::default()
        };
        let sets = matrices(&catalog, &state, Timestamp(0));
        let shop = sets.iter().find(|s| s.name == "shop").unwrap();
        assert_eq!(shop.environments, ["development", "staging", "production"]);
        let (_, api) = shop.rows.iter().find(|(a, _)| a == "shop-api").unwrap();
        assert_eq!(
            api[0].version.as_deref(),
            Some("v1.2.0"),
            "written, committed"
        );
        assert_eq!(api[0].arriving, None);
        assert_eq!(
            api[1].version.as_deref(),
            Some("v0.0.0"),
            "never written: the manifests"
        );
        assert_eq!(
            api[2].version.as_deref(),
            Some("v1.1.0"),
            "what ran before the write in flight"
        );
        assert_eq!(
            api[2].arriving,
            Some(("v1.2.0".to_string(), "d-1".to_string()))
        );
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(-5), "0s");
        assert_eq!(duration(45_000), "45s");
        assert_eq!(duration(12 * 60_000 + 5_000), "12m");
        assert_eq!(duration(3 * 3_600_000 + 5 * 60_000), "3h 05m");
        assert_eq!(duration(2 * 86_400_000 + 4 * 3_600_000), "2d 04h");
    }
}
