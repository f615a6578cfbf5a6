//! `cd-manager`'s configuration: the service's ([`cd_service::Config`]) and the sections only
//! this binary can open, `[pubsub]` and `[github]`, read from the same file. The service reads
//! the file without those sections; this module reads only them, so an error in either points
//! at its line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cd_service::Config;
use cd_service::config::{ConfigError, read_file, sections};
use serde::{Deserialize, Serialize};

/// The top-level sections this binary adds to the service's configuration.
pub(crate) const SECTIONS: &[&str] = &["pubsub", "github"];

/// Google Cloud Pub/Sub.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PubSubConfig {
    /// The project of the topic and subscription.
    pub(crate) project: Option<String>,
    /// Publish the pipeline's CloudEvents to this topic (instead of `events.jsonl`).
    pub(crate) events_topic: Option<String>,
    /// Take build notifications from this subscription.
    pub(crate) notifications_subscription: Option<String>,
}

/// GitHub, as a GitHub App: release branches and releases. Without it, source repositories
/// are local bare repositories.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct GithubConfig {
    /// The API base (GitHub Enterprise: `https://HOST/api/v3`).
    pub(crate) api: String,
    /// The App's id.
    pub(crate) app_id: Option<String>,
    /// The installation the service acts as.
    pub(crate) installation_id: Option<u64>,
    /// The organization of repositories named without an owner.
    pub(crate) owner: Option<String>,
    /// The file holding the App's private key (a mounted secret; never the key itself).
    pub(crate) private_key_file: Option<PathBuf>,
}

impl Default for GithubConfig {
    fn default() -> Self {
        GithubConfig {
            api: "https://api.github.com".into(),
            app_id: None,
            installation_id: None,
            owner: None,
            private_key_file: None,
        }
    }
}

/// The sections of [`SECTIONS`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Sections {
    /// Pub/Sub.
    pub(crate) pubsub: PubSubConfig,
    /// GitHub.
    pub(crate) github: GithubConfig,
}

/// Everything `cd-manager` is configured with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ManagerConfig {
    /// The service's configuration.
    pub(crate) service: Config,
    /// This binary's own sections.
    pub(crate) own: Sections,
}

impl ManagerConfig {
    /// Parses a file's text; `name` is used in errors.
    pub(crate) fn from_toml(name: &str, text: &str) -> Result<ManagerConfig, ConfigError> {
        Ok(ManagerConfig {
            service: Config::from_toml_with(name, text, SECTIONS)?,
            own: sections(name, text, SECTIONS)?,
        })
    }

    /// Reads `path` (or the embedded defaults), applies the `INFRASTREAM_*` overrides in
    /// `env` and checks the whole.
    pub(crate) fn load(
        path: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<ManagerConfig, ConfigError> {
        let mut config = match path {
            None => ManagerConfig::default(),
            Some(p) => ManagerConfig::from_toml(&p.display().to_string(), &read_file(p)?)?,
        };
        config.service = config.service.with_env(env)?;
        config.check()?;
        Ok(config)
    }

    /// Checks what the types cannot, in this binary's sections (the service checks its own).
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let err = |field: &str, reason: &str| ConfigError {
            source_name: "configuration".into(),
            field: field.into(),
            reason: reason.into(),
        };
        let p = &self.own.pubsub;
        let uses_pubsub = p.events_topic.is_some() || p.notifications_subscription.is_some();
        if uses_pubsub && p.project.is_none() {
            return Err(err(
                "pubsub.project",
                "required with a topic or a subscription",
            ));
        }
        if p.project.is_some() && !uses_pubsub {
            return Err(err(
                "pubsub",
                "a project without events_topic or notifications_subscription does nothing",
            ));
        }
        let g = &self.own.github;
        let set = [
            g.app_id.is_some(),
            g.installation_id.is_some(),
            g.owner.is_some(),
            g.private_key_file.is_some(),
        ];
        if set.iter().any(|s| *s) && !set.iter().all(|s| *s) {
            return Err(err(
                "github",
                "set app_id, installation_id, owner and private_key_file together",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<ManagerConfig, ConfigError> {
        let c = ManagerConfig::from_toml("cd.toml", text)?;
        c.service.check()?;
        c.check()?;
        Ok(c)
    }

    #[test]
    fn production_sections_are_checked_whole() {
        assert_eq!(
            check("[pubsub]\nproject = \"p\"\n").unwrap_err().field,
            "pubsub"
        );
        assert_eq!(
            check("[pubsub]\nevents_topic = \"t\"\n").unwrap_err().field,
            "pubsub.project"
        );
        assert_eq!(
            check("[github]\nowner = \"northwind\"\n")
                .unwrap_err()
                .field,
            "github"
        );
        let whole =
            check("[pubsub]\nproject = \"p\"\nevents_topic = \"t\"\n[store]\npath = \"s.db\"\n")
                .unwrap();
        assert_eq!(whole.own.pubsub.events_topic.as_deref(), Some("t"));
        assert_eq!(whole.service.store.path, Some(PathBuf::from("s.db")));
    }

    #[test]
    fn errors_in_either_part_keep_their_line() {
        let e = check("listen = \"127.0.0.1:1\"\n\n[github]\napp_id = 4242\n").unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.source_name.as_str()),
            ("line 4", "cd.toml")
        );
        let e = check("[github]\napp_id = \"1\"\n[engine]\npoll_ms = \"often\"\n").unwrap_err();
        assert_eq!(e.field, "line 4", "{e}");
        let e = check("[github]\napp_id = \"1\"\n\n[pubsb]\nproject = \"p\"\n").unwrap_err();
        assert_eq!(e.field, "line 4", "{e}");
        assert!(e.reason.contains("pubsb"), "{e}");
        let e = check("[pubsub]\nprojekt = \"p\"\n").unwrap_err();
        // An unknown key is reported at the header of its table, as TOML reports it.
        assert_eq!(e.field, "line 1", "{e}");
        assert!(e.reason.contains("projekt"), "{e}");
    }
}
