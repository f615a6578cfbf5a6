//! `token-broker --config FILE`: TOML, every field checked at start, with the field at fault
//! named in the error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// GitHub Actions' OIDC issuer.
pub const ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// A manifest tree (directory) holding the TokenPolicy manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifests: Option<PathBuf>,
    /// Or a git remote holding it, fetched every `reload_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifests_remote: Option<String>,
    /// The branch of `manifests_remote`.
    #[serde(default = "default_branch")]
    pub manifests_branch: String,
    /// Where the clone of `manifests_remote` is kept (default: a directory under the system's
    /// temporary directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifests_workdir: Option<PathBuf>,
    /// How often the policies are read again, in seconds (1 to 60).
    #[serde(default = "default_reload")]
    pub reload_seconds: u64,
    /// Requests per minute allowed for each `repository` claim.
    #[serde(default = "default_rate")]
    pub rate_limit_per_minute: u32,
    /// A file the audit events are appended to, one JSON object a line (default: stdout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<PathBuf>,
    /// The OIDC issuer and audience.
    pub oidc: OidcSection,
    /// The GitHub App.
    pub github: GithubSection,
}

/// `[oidc]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSection {
    /// The pinned issuer (https; http only on loopback, for tests).
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// The audience tokens must carry, exactly: the broker's URL.
    pub audience: String,
}

/// `[github]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubSection {
    /// The REST API (https; http only on loopback, for tests).
    #[serde(default = "default_api")]
    pub api: String,
    /// The App's id.
    pub app_id: String,
    /// The App's private key (PEM), read at start and never logged.
    pub private_key_file: PathBuf,
    /// The organization whose installation issues the tokens.
    pub owner: String,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8090))
}
fn default_branch() -> String {
    "main".into()
}
fn default_reload() -> u64 {
    30
}
fn default_rate() -> u32 {
    60
}
fn default_issuer() -> String {
    ACTIONS_ISSUER.into()
}
fn default_api() -> String {
    "https://api.github.com".into()
}

/// A configuration that cannot be used: the file, the field and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}: {problem}")]
pub struct ConfigError {
    /// The configuration file.
    pub file: String,
    /// The field at fault (`oidc.issuer`), or `-` for the whole file.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl Config {
    /// Reads and checks `path`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, the field and the problem.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            field: "-".into(),
            problem: format!("cannot read: {e}"),
        })?;
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError {
            file: file.clone(),
            field: "-".into(),
            problem: e.to_string().replace('\n', " "),
        })?;
        config.check().map_err(|(field, problem)| ConfigError {
            file,
            field: field.into(),
            problem,
        })?;
        Ok(config)
    }

    /// Checks what TOML's types do not: endpoints, one policy source, ranges, names.
    ///
    /// # Errors
    /// The field at fault and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        cd_oidc::checked_endpoint(&self.oidc.issuer).map_err(|e| ("oidc.issuer", e.to_string()))?;
        if self.oidc.audience.trim().is_empty() {
            return Err(("oidc.audience", "is empty".into()));
        }
        cd_oidc::checked_endpoint(&self.github.api).map_err(|e| ("github.api", e.to_string()))?;
        if self.github.app_id.is_empty() || !self.github.app_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err((
                "github.app_id",
                format!("'{}' is not an App id (digits)", self.github.app_id),
            ));
        }
        let owner_ok = !self.github.owner.is_empty()
            && self.github.owner.len() <= 39
            && self
                .github
                .owner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !owner_ok {
            return Err((
                "github.owner",
                format!("'{}' is not a GitHub organization name", self.github.owner),
            ));
        }
        match (&self.manifests, &self.manifests_remote) {
            (Some(_), Some(_)) => {
                return Err((
                    "manifests_remote",
                    "set either manifests or manifests_remote, not both".into(),
                ));
            }
            (None, None) => {
                return Err((
                    "manifests",
                    "is missing: a directory (manifests) or a git remote (manifests_remote) holding the TokenPolicies".into(),
                ));
            }
            _ => {}
        }
        if !(1..=60).contains(&self.reload_seconds) {
            return Err((
                "reload_seconds",
                format!("{} is not between 1 and 60", self.reload_seconds),
            ));
        }
        if self.rate_limit_per_minute == 0 {
            return Err(("rate_limit_per_minute", "must be at least 1".into()));
        }
        Ok(())
    }

    /// The configuration as TOML, defaults filled in (what `--check` prints). It holds no
    /// secret: the key is named by its file.
    #[must_use]
    pub fn effective(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, (String, String)> {
        let config: Config = toml::from_str(text).map_err(|e| ("-".into(), e.to_string()))?;
        config
            .check()
            .map_err(|(f, p)| (f.to_string(), p))
            .map(|()| config)
    }

    const BASE: &str = "manifests = \"/srv/m\"\n[oidc]\naudience = \"https://broker.example.com\"\n[github]\napp_id = \"123\"\nprivate_key_file = \"/k.pem\"\nowner = \"northwind\"\n";

    #[test]
    fn defaults_are_github_and_the_loopback_port() {
        let c = parse(BASE).unwrap();
        assert_eq!(c.oidc.issuer, ACTIONS_ISSUER);
        assert_eq!(c.github.api, "https://api.github.com");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8090");
        assert_eq!((c.rate_limit_per_minute, c.reload_seconds), (60, 30));
        let again: Config = toml::from_str(&c.effective()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn each_bad_field_is_named() {
        for (edit, field) in [
            (
                ("[oidc]\n", "[oidc]\nissuer = \"http://issuer.example\"\n"),
                "oidc.issuer",
            ),
            (
                ("[github]\n", "[github]\napi = \"http://api.example\"\n"),
                "github.api",
            ),
            (("app_id = \"123\"", "app_id = \"abc\""), "github.app_id"),
            (
                ("owner = \"northwind\"", "owner = \"north/wind\""),
                "github.owner",
            ),
            (("manifests = \"/srv/m\"\n", ""), "manifests"),
            (
                (
                    "manifests = \"/srv/m\"\n",
                    "manifests = \"/srv/m\"\nmanifests_remote = \"https://x/m.git\"\n",
                ),
                "manifests_remote",
            ),
            (
                (
                    "manifests = \"/srv/m\"\n",
                    "manifests = \"/srv/m\"\nreload_seconds = 120\n",
                ),
                "reload_seconds",
            ),
            (
                (
                    "manifests = \"/srv/m\"\n",
                    "manifests = \"/srv/m\"\nrate_limit_per_minute = 0\n",
                ),
                "rate_limit_per_minute",
            ),
            (
                (
                    "audience = \"https://broker.example.com\"",
                    "audience = \" \"",
                ),
                "oidc.audience",
            ),
            (
                (
                    "manifests = \"/srv/m\"\n",
                    "manifests = \"/srv/m\"\nlisten_on = \"x\"\n",
                ),
                "-",
            ),
        ] {
            let text = BASE.replacen(edit.0, edit.1, 1);
            assert_eq!(parse(&text).map(|_| ()).unwrap_err().0, field, "{text}");
        }
    }
}
