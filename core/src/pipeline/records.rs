//! Records the store keeps beside the history, so that a decision never reads the history.
//!
//! Each record summarizes every deployment of one application set or application: the highest
//! creation sequence, the best build that passed its PreRelease stages, the versions of the last
//! successful release. A record only ever rises: a write carries a `rank`, and a store keeps
//! whichever of the stored and the written record ranks higher. Raising is idempotent and
//! commutative, so concurrent decisions never conflict on a record, a repeated write changes
//! nothing, and a store can rebuild every record from its deployments
//! ([`State::rebuild_records`]) at any time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{Deployment, DeploymentId, DeploymentStatus, DeploymentTrack, State};
use crate::version::order_key;

/// What a record says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum RecordValue {
    /// The highest creation sequence among an application set's deployments.
    Sequence {
        /// The sequence.
        sequence: u64,
    },
    /// An application's best build that passed its PreRelease stages: the highest version by
    /// semver precedence (a version semver does not parse ranks below every one it does), the
    /// later build among equals. What a release bundle takes unless told otherwise.
    Passed {
        /// Its version.
        version: String,
        /// The deployment that passed.
        deployment: DeploymentId,
        /// That deployment's sequence.
        sequence: u64,
    },
    /// The last-created release of an application set that succeeded: where the next release's
    /// changelog starts.
    Released {
        /// Its versions, by application.
        versions: BTreeMap<String, String>,
        /// The release deployment.
        deployment: DeploymentId,
        /// Its sequence.
        sequence: u64,
    },
}

/// A record and the rank it is kept by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// Compared as bytes: a record replaces a stored one only when its rank is higher.
    pub rank: String,
    /// The value.
    pub value: RecordValue,
}

/// The key of an application set's [`RecordValue::Sequence`].
#[must_use]
pub fn sequence_key(application_set: &str) -> String {
    format!("sequence/{application_set}")
}

/// The key of an application's [`RecordValue::Passed`].
#[must_use]
pub fn passed_key(application: &str) -> String {
    format!("passed/{application}")
}

/// The key of an application set's [`RecordValue::Released`].
#[must_use]
pub fn released_key(application_set: &str) -> String {
    format!("released/{application_set}")
}

/// The records `d` raises, by key.
#[must_use]
pub fn records_of(d: &Deployment) -> Vec<(String, Record)> {
    let by_sequence = format!("{:020}", d.sequence);
    let mut out = vec![(
        sequence_key(&d.application_set),
        Record {
            rank: by_sequence.clone(),
            value: RecordValue::Sequence {
                sequence: d.sequence,
            },
        },
    )];
    if d.status != DeploymentStatus::Succeeded {
        return out;
    }
    match (d.track, d.application.as_deref()) {
        (DeploymentTrack::PreRelease, Some(app)) => {
            // Versions semver parses rank above the others ("1" > "0"); order keys are prefix
            // free, so the sequence after the space only breaks ties between equal versions.
            let rank = match order_key(&d.version) {
                Some(key) => format!("1{key} {by_sequence}"),
                None => format!("0 {by_sequence}"),
            };
            out.push((
                passed_key(app),
                Record {
                    rank,
                    value: RecordValue::Passed {
                        version: d.version.clone(),
                        deployment: d.id.clone(),
                        sequence: d.sequence,
                    },
                },
            ));
        }
        (DeploymentTrack::Release, _) => out.push((
            released_key(&d.application_set),
            Record {
                rank: by_sequence,
                value: RecordValue::Released {
                    versions: d
                        .apps
                        .iter()
                        .map(|(a, b)| (a.clone(), b.version.clone()))
                        .collect(),
                    deployment: d.id.clone(),
                    sequence: d.sequence,
                },
            },
        )),
        _ => {}
    }
    out
}

impl State {
    /// Keeps `record` under `key` unless the stored one ranks at least as high.
    pub fn raise_record(&mut self, key: &str, record: &Record) {
        match self.records.get(key) {
            Some(stored) if stored.rank >= record.rank => {}
            _ => {
                self.records.insert(key.to_string(), record.clone());
            }
        }
    }

    /// Raises every record the stored deployments imply: how a store builds the records for
    /// history written before it kept them (idempotent, like every raise).
    pub fn rebuild_records(&mut self) {
        let raised: Vec<(String, Record)> =
            self.deployments.values().flat_map(records_of).collect();
        for (key, record) in &raised {
            self.raise_record(key, record);
        }
    }

    /// The highest creation sequence recorded for an application set.
    #[must_use]
    pub fn recorded_sequence(&self, application_set: &str) -> u64 {
        match self.records.get(&sequence_key(application_set)) {
            Some(Record {
                value: RecordValue::Sequence { sequence },
                ..
            }) => *sequence,
            _ => 0,
        }
    }

    /// An application's best passed build, as recorded.
    #[must_use]
    pub fn recorded_passed(&self, application: &str) -> Option<&str> {
        match self.records.get(&passed_key(application)) {
            Some(Record {
                value: RecordValue::Passed { version, .. },
                ..
            }) => Some(version),
            _ => None,
        }
    }

    /// The versions of an application set's last successful release, as recorded.
    #[must_use]
    pub fn recorded_release(&self, application_set: &str) -> Option<&BTreeMap<String, String>> {
        match self.records.get(&released_key(application_set)) {
            Some(Record {
                value: RecordValue::Released { versions, .. },
                ..
            }) => Some(versions),
            _ => None,
        }
    }
}
