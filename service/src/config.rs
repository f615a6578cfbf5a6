//! The service's configuration: a TOML file, then environment overrides, then embedded defaults.
//!
//! Every path that is not absolute is relative to the working directory; paths left out live
//! under `data_dir`. Nothing secret is ever read from this file: the webhook secret lives in its
//! own file (generated on first start in local mode), OIDC needs no secret at all.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A configuration problem, naming where it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {field}: {reason}")]
pub struct ConfigError {
    /// The file (or `environment`) the value came from.
    pub source_name: String,
    /// The field, e.g. `registry.url`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// Where state lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// An SQLite file (the embedded default).
    #[default]
    Sqlite,
    /// Cloud Spanner (the production binary, `cd-manager`).
    Spanner,
}

/// Where image tags live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryKind {
    /// OCI image layout directories (the embedded default).
    #[default]
    Layout,
    /// An OCI Distribution registry at `registry.url`.
    Oci,
    /// Google Artifact Registry (the production binary).
    ArtifactRegistry,
}

/// Who runs the manifests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// The service runs the engine itself: `engine.command` per affected DeploymentConfig.
    #[default]
    Local,
    /// An external engine (`infrastream engine`, Argo CD, Flux, ...) reports to the webhook.
    Webhook,
}

/// The store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite` or `spanner`.
    pub kind: StoreKind,
    /// The SQLite file (default `<data_dir>/state.db`).
    pub path: Option<PathBuf>,
    /// The Spanner database, `projects/P/instances/I/databases/D`.
    pub database: Option<String>,
    /// SQLite only: `full` (the default: an acknowledged decision survives a power loss) or
    /// `normal` (faster commits; the last ones before a power loss can be lost).
    pub synchronous: Synchronous,
}

/// SQLite's `synchronous` setting (see `cd_sqlite::Durability`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Synchronous {
    /// Every commit synced before it is acknowledged.
    #[default]
    Full,
    /// Commits synced at checkpoints.
    Normal,
}

/// The manifest repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ManifestsConfig {
    /// The git remote (default: the bare repository `<data_dir>/manifests.git`, created).
    pub remote: Option<String>,
    /// The branch the engine reconciles.
    pub branch: String,
    /// A directory of manifests an empty remote is seeded with (default: the example tenant).
    pub seed_from: Option<PathBuf>,
    /// Seed an empty remote at all.
    pub seed: bool,
    /// An `https` token for the remote, from `INFRASTREAM_GIT_TOKEN` (never from the file).
    #[serde(skip)]
    pub token: Option<Secret>,
}

/// A credential: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Default for ManifestsConfig {
    fn default() -> Self {
        ManifestsConfig {
            remote: None,
            branch: "main".into(),
            seed_from: None,
            seed: true,
            token: None,
        }
    }
}

/// The image registry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// `layout`, `oci` or `artifact_registry`.
    pub kind: RegistryKind,
    /// The layout root (default `<data_dir>/registry`).
    pub path: Option<PathBuf>,
    /// The registry URL (`oci`), e.g. `http://127.0.0.1:5000`.
    pub url: Option<String>,
    /// Prefix of repository names in the registry.
    pub prefix: String,
    /// Basic-auth user (`oci`); the password comes from the variable named by `password_env`.
    pub username: Option<String>,
    /// The environment variable holding the password.
    pub password_env: Option<String>,
}

/// Source repositories (release branches, releases).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    /// Bare repositories `org/name.git` under this directory (default `<data_dir>/sources`).
    pub dir: Option<PathBuf>,
    /// Repositories kept elsewhere, by GithubRepository name: the path of a git repository (a
    /// clone of yours, bare or not). Release branches are created in it.
    pub repositories: std::collections::BTreeMap<String, PathBuf>,
}

/// The engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// `local` or `webhook`.
    pub kind: EngineKind,
    /// The command the local engine runs per DeploymentConfig (`sh -c`); none reports success.
    pub command: Option<String>,
    /// How often the local engine looks for new commits.
    pub poll_ms: u64,
    /// A command running longer than this is stopped and counts as failed.
    pub command_timeout_ms: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            kind: EngineKind::Local,
            command: None,
            poll_ms: 500,
            command_timeout_ms: 15 * 60 * 1000,
        }
    }
}

/// OIDC: bearer tokens from one pinned issuer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL; its discovery document and JWKS are fetched from it and nowhere else.
    pub issuer: String,
    /// The audience tokens must carry.
    pub audience: String,
    /// The claim naming the actor (default `email`; an `email` with `email_verified: false`
    /// is refused).
    #[serde(default = "default_actor_claim")]
    pub actor_claim: String,
    /// The `sub` claims allowed to act as machines (the engine's status webhook, signed
    /// notifications): exact values, or prefixes ending in `*` (e.g.
    /// `repo:northwind/shop-api:*`). Empty: machines must use the HMAC secret.
    #[serde(default)]
    pub machine_subjects: Vec<String>,
    /// Origins besides the issuer's own that may serve its keys (`jwks_uri`). Google's
    /// `https://www.googleapis.com` is known for `https://accounts.google.com`.
    #[serde(default)]
    pub jwks_origins: Vec<String>,
    /// People sign in to the Portal through this issuer (authorization code with PKCE), when
    /// set. Without it, the Portal's sign-in page says how to configure it.
    #[serde(default)]
    pub portal: Option<PortalSignIn>,
}

/// The Portal's client at the OIDC issuer: `[auth.oidc.portal]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalSignIn {
    /// The client id registered at the issuer (the ID tokens' audience).
    pub client_id: String,
    /// A file holding the client secret, for a confidential client; without it the Portal is
    /// a public client and PKCE alone binds the code to the browser that asked for it.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Where the issuer sends people back: this service's public URL of `/auth/callback`
    /// (https, or http on a loopback address).
    pub redirect_url: String,
    /// The scopes asked for (default `openid email profile`; `openid` is always asked).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}

fn default_actor_claim() -> String {
    "email".into()
}

/// Who may call what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The shared HMAC secret file (default `<data_dir>/webhook-secret`, generated when missing).
    pub webhook_secret_file: Option<PathBuf>,
    /// The key Portal sessions are signed with (default `<data_dir>/session-key`, generated when
    /// missing). Replicas share it; machines never get it.
    pub session_key_file: Option<PathBuf>,
    /// Trust `actor_header` as the actor of operator requests. Default: only when the service
    /// listens on loopback and no OIDC issuer is configured.
    pub trust_actor_header: Option<bool>,
    /// The header naming the actor in local mode.
    pub actor_header: String,
    /// Require a signature (HMAC or OIDC) on build notifications too. Default: true unless the
    /// service listens on loopback.
    pub sign_notifications: Option<bool>,
    /// OIDC bearer tokens.
    pub oidc: Option<OidcConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            webhook_secret_file: None,
            session_key_file: None,
            trust_actor_header: None,
            actor_header: "x-infrastream-actor".into(),
            sign_notifications: None,
            oidc: None,
        }
    }
}

/// The pipeline's settings (see `cd_core::pipeline::Settings`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// A stage whose engine has not reported this long after its commit fails.
    pub engine_timeout_ms: i64,
    /// ReleaseTracks on which an author may not approve their own change.
    pub forbid_author_approval: Vec<String>,
    /// Create a release with the changelog when a release completes.
    pub create_releases: bool,
    /// The CloudEvents `source`.
    pub event_source: String,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        let s = cd_core::pipeline::Settings::default();
        PipelineConfig {
            engine_timeout_ms: s.engine_timeout_ms,
            forbid_author_approval: s.forbid_author_approval,
            create_releases: s.create_releases,
            event_source: s.event_source,
        }
    }
}

/// What one HTTP client may take of the service (see `cd_http::Limits`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// The time a request's head may take, and a connection may wait idle for one.
    pub header_timeout_ms: u64,
    /// The time a request's body may take once the service starts reading it.
    pub body_timeout_ms: u64,
    /// The largest request body read.
    pub max_body_bytes: usize,
    /// The most connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        let limits = cd_http::Limits::default();
        HttpConfig {
            header_timeout_ms: u64::try_from(limits.header_timeout.as_millis()).unwrap_or(10_000),
            body_timeout_ms: u64::try_from(limits.body_timeout.as_millis()).unwrap_or(30_000),
            max_body_bytes: limits.max_body_bytes,
            max_connections: limits.max_connections,
        }
    }
}

impl HttpConfig {
    /// The listener's limits.
    #[must_use]
    pub fn limits(&self) -> cd_http::Limits {
        cd_http::Limits {
            header_timeout: std::time::Duration::from_millis(self.header_timeout_ms),
            body_timeout: std::time::Duration::from_millis(self.body_timeout_ms),
            max_body_bytes: self.max_body_bytes,
            max_connections: self.max_connections,
        }
    }
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// Where local state lives.
    pub data_dir: PathBuf,
    /// State.
    pub store: StoreConfig,
    /// Manifests.
    pub manifests: ManifestsConfig,
    /// Images.
    pub registry: RegistryConfig,
    /// Source repositories.
    pub source: SourceConfig,
    /// The engine.
    pub engine: EngineConfig,
    /// Authentication.
    pub auth: AuthConfig,
    /// Pipeline settings.
    pub pipeline: PipelineConfig,
    /// HTTP limits.
    pub http: HttpConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from(".infrastream"),
            store: StoreConfig::default(),
            manifests: ManifestsConfig::default(),
            registry: RegistryConfig::default(),
            source: SourceConfig::default(),
            engine: EngineConfig::default(),
            auth: AuthConfig::default(),
            pipeline: PipelineConfig::default(),
            http: HttpConfig::default(),
        }
    }
}

/// The environment variables that override the file, and the field each sets.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("INFRASTREAM_LISTEN", "listen"),
    ("INFRASTREAM_DATA_DIR", "data_dir"),
    ("INFRASTREAM_STORE", "store.kind"),
    ("INFRASTREAM_SQLITE_PATH", "store.path"),
    ("INFRASTREAM_SPANNER_DATABASE", "store.database"),
    ("INFRASTREAM_MANIFESTS_REMOTE", "manifests.remote"),
    ("INFRASTREAM_MANIFESTS_BRANCH", "manifests.branch"),
    ("INFRASTREAM_REGISTRY", "registry.kind"),
    ("INFRASTREAM_REGISTRY_URL", "registry.url"),
    ("INFRASTREAM_ENGINE", "engine.kind"),
    ("INFRASTREAM_ENGINE_COMMAND", "engine.command"),
    (
        "INFRASTREAM_WEBHOOK_SECRET_FILE",
        "auth.webhook_secret_file",
    ),
    ("INFRASTREAM_SESSION_KEY_FILE", "auth.session_key_file"),
    ("INFRASTREAM_OIDC_ISSUER", "auth.oidc.issuer"),
    ("INFRASTREAM_OIDC_AUDIENCE", "auth.oidc.audience"),
];

/// `url` with any user information replaced by `***`.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = url.get(scheme_end + 3..).unwrap_or_default();
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest.get(..authority_end).and_then(|a| a.rfind('@')) {
        Some(at) => format!(
            "{}***{}",
            url.get(..scheme_end + 3).unwrap_or_default(),
            rest.get(at..).unwrap_or_default()
        ),
        None => url.to_string(),
    }
}

/// The text of the configuration file `path`.
///
/// # Errors
/// A [`ConfigError`] naming the file when it cannot be read.
pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        source_name: path.display().to_string(),
        field: String::new(),
        reason: e.to_string(),
    })
}

/// Reads only the top-level sections `names` of a TOML file into `T`: how a binary reads the
/// sections it adds to the service's (see [`Config::from_toml_with`]). Errors keep the line
/// they are on.
///
/// # Errors
/// A [`ConfigError`] naming the file, the line and the problem.
pub fn sections<T: serde::de::DeserializeOwned>(
    name: &str,
    text: &str,
    names: &[&str],
) -> Result<T, ConfigError> {
    sections_where(name, text, |key| names.contains(&key))
}

/// Deserializes the top-level keys of `text` that `keep` accepts. The document is parsed once
/// into spanned tables, so an error anywhere still points at its line in the whole file.
fn sections_where<T: serde::de::DeserializeOwned>(
    name: &str,
    text: &str,
    keep: impl Fn(&str) -> bool,
) -> Result<T, ConfigError> {
    let located = |e: toml::de::Error| ConfigError {
        source_name: name.into(),
        field: e.span().map_or_else(String::new, |s| {
            let line = text.get(..s.start).map_or(0, |t| t.lines().count().max(1));
            format!("line {line}")
        }),
        reason: e.message().to_string(),
    };
    let mut table = toml::de::DeTable::parse(text).map_err(located)?;
    let left_out: Vec<_> = table
        .get_ref()
        .keys()
        .filter(|key| !keep(key.get_ref()))
        .cloned()
        .collect();
    for key in &left_out {
        table.get_mut().remove(key);
    }
    T::deserialize(toml::de::Deserializer::from(table)).map_err(located)
}

fn env_error(var: &str, field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        source_name: format!("environment variable {var}"),
        field: field.into(),
        reason: reason.into(),
    }
}

fn parse_kind<T: for<'de> Deserialize<'de>>(
    var: &str,
    field: &str,
    value: &str,
) -> Result<T, ConfigError> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(value))
        .map_err(|e| env_error(var, field, format!("'{value}': {e}")))
}

impl Config {
    /// Parses a TOML file's text; `name` is used in errors.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, the line and the problem.
    pub fn from_toml(name: &str, text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_with(name, text, &[])
    }

    /// Parses a file that also holds `host_sections`: top-level sections a binary adds for the
    /// adapters it links (`cd-manager`'s `[pubsub]` and `[github]`), which it reads itself with
    /// [`sections`]. Those are left out here; any other unknown key is still an error.
    ///
    /// # Errors
    /// As [`Config::from_toml`].
    pub fn from_toml_with(
        name: &str,
        text: &str,
        host_sections: &[&str],
    ) -> Result<Config, ConfigError> {
        sections_where(name, text, |key| !host_sections.contains(&key))
    }

    /// Reads `path` when given, otherwise the defaults.
    ///
    /// # Errors
    /// A [`ConfigError`] when the file cannot be read or parsed.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            None => Ok(Config::default()),
            Some(p) => Config::from_toml(&p.display().to_string(), &read_file(p)?),
        }
    }

    /// Applies the `INFRASTREAM_*` overrides in `env` (see [`ENV_OVERRIDES`]).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable and the value it cannot use.
    pub fn with_env(mut self, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        if let Some(token) = env.get("INFRASTREAM_GIT_TOKEN").filter(|t| !t.is_empty()) {
            self.manifests.token = Some(Secret(token.clone()));
        }
        for (var, field) in ENV_OVERRIDES {
            let Some(value) = env.get(*var) else { continue };
            let value = value.clone();
            match *field {
                "listen" => {
                    self.listen = value
                        .parse()
                        .map_err(|e| env_error(var, field, format!("'{value}': {e}")))?;
                }
                "data_dir" => self.data_dir = PathBuf::from(value),
                "store.kind" => self.store.kind = parse_kind(var, field, &value)?,
                "store.path" => self.store.path = Some(PathBuf::from(value)),
                "store.database" => self.store.database = Some(value),
                "manifests.remote" => self.manifests.remote = Some(value),
                "manifests.branch" => self.manifests.branch = value,
                "registry.kind" => self.registry.kind = parse_kind(var, field, &value)?,
                "registry.url" => self.registry.url = Some(value),
                "engine.kind" => self.engine.kind = parse_kind(var, field, &value)?,
                "engine.command" => self.engine.command = Some(value),
                "auth.webhook_secret_file" => {
                    self.auth.webhook_secret_file = Some(PathBuf::from(value));
                }
                "auth.session_key_file" => {
                    self.auth.session_key_file = Some(PathBuf::from(value));
                }
                "auth.oidc.issuer" => {
                    let audience = self.auth.oidc.as_ref().map(|o| o.audience.clone());
                    let mut oidc = self.auth.oidc.take().unwrap_or(OidcConfig {
                        issuer: String::new(),
                        audience: audience.unwrap_or_default(),
                        actor_claim: default_actor_claim(),
                        machine_subjects: Vec::new(),
                        jwks_origins: Vec::new(),
                        portal: None,
                    });
                    oidc.issuer = value;
                    self.auth.oidc = Some(oidc);
                }
                "auth.oidc.audience" => match self.auth.oidc.as_mut() {
                    Some(o) => o.audience = value,
                    None => {
                        return Err(env_error(
                            var,
                            field,
                            "set INFRASTREAM_OIDC_ISSUER (or auth.oidc.issuer) too",
                        ));
                    }
                },
                _ => {}
            }
        }
        self.check()?;
        Ok(self)
    }

    /// Checks values the types cannot.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field.
    pub fn check(&self) -> Result<(), ConfigError> {
        let err = |field: &str, reason: &str| ConfigError {
            source_name: "configuration".into(),
            field: field.into(),
            reason: reason.into(),
        };
        if self.registry.kind == RegistryKind::Oci && self.registry.url.is_none() {
            return Err(err("registry.url", "required when registry.kind = \"oci\""));
        }
        for (name, path) in &self.source.repositories {
            if !path.join(".git").exists() && !path.join("HEAD").is_file() {
                return Err(err(
                    &format!("source.repositories.{name}"),
                    &format!("{} is not a git repository", path.display()),
                ));
            }
        }
        if self.registry.kind == RegistryKind::ArtifactRegistry
            && (self.registry.url.is_none()
                || self.registry.prefix.is_empty()
                || !self.registry.prefix.ends_with('/')
                || self.registry.username.is_some())
        {
            return Err(err(
                "registry",
                "artifact_registry needs url (https://LOCATION-docker.pkg.dev) and prefix (PROJECT/REPOSITORY/, with the slash), and takes no username (Google credentials are used)",
            ));
        }
        if let Some(url) = &self.registry.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(err("registry.url", "must start with http:// or https://"));
        }
        if self.store.kind == StoreKind::Spanner && self.store.database.is_none() {
            return Err(err(
                "store.database",
                "required when store.kind = \"spanner\"",
            ));
        }
        if let Some(o) = &self.auth.oidc {
            if !o.issuer.starts_with("https://") && !o.issuer.starts_with("http://127.0.0.1") {
                return Err(err(
                    "auth.oidc.issuer",
                    "must be an https:// URL (http://127.0.0.1 is allowed for tests)",
                ));
            }
            if o.audience.is_empty() {
                return Err(err("auth.oidc.audience", "must not be empty"));
            }
            if let Some(p) = &o.portal {
                if p.client_id.is_empty() {
                    return Err(err("auth.oidc.portal.client_id", "must not be empty"));
                }
                let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                    .iter()
                    .any(|l| p.redirect_url.starts_with(l));
                if !p.redirect_url.starts_with("https://") && !loopback {
                    return Err(err(
                        "auth.oidc.portal.redirect_url",
                        "must be an https:// URL (http on a loopback address is allowed)",
                    ));
                }
                if !p.redirect_url.ends_with("/auth/callback") {
                    return Err(err(
                        "auth.oidc.portal.redirect_url",
                        "must be this service's /auth/callback",
                    ));
                }
            }
            if self.auth.trust_actor_header == Some(true) {
                return Err(err(
                    "auth.trust_actor_header",
                    "cannot be true with auth.oidc: a header would bypass the tokens",
                ));
            }
        }
        if self.session_key_file() == self.secret_file() {
            return Err(err(
                "auth.session_key_file",
                "must not be the webhook secret's file: CI and engines hold that secret, and whoever holds the session key can sign anyone in",
            ));
        }
        if self.manifests.branch.is_empty() {
            return Err(err("manifests.branch", "must not be empty"));
        }
        if self.engine.poll_ms == 0 {
            return Err(err("engine.poll_ms", "must be at least 1"));
        }
        if self.engine.command_timeout_ms == 0 {
            return Err(err("engine.command_timeout_ms", "must be at least 1"));
        }
        for (field, value) in [
            ("http.header_timeout_ms", self.http.header_timeout_ms),
            ("http.body_timeout_ms", self.http.body_timeout_ms),
            ("http.max_body_bytes", self.http.max_body_bytes as u64),
            ("http.max_connections", self.http.max_connections as u64),
        ] {
            if value == 0 {
                return Err(err(field, "must be at least 1"));
            }
        }
        Ok(())
    }

    /// The configuration with credentials in URLs (`https://user:token@host/...`) masked, for
    /// printing and logs.
    #[must_use]
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        c.manifests.remote = c.manifests.remote.as_deref().map(redact_url);
        c.registry.url = c.registry.url.as_deref().map(redact_url);
        c
    }

    /// True when the API listens on a loopback address only.
    #[must_use]
    pub fn is_loopback(&self) -> bool {
        self.listen.ip().is_loopback()
    }

    /// Whether the actor header is trusted (see [`AuthConfig::trust_actor_header`]).
    #[must_use]
    pub fn trusts_actor_header(&self) -> bool {
        self.auth
            .trust_actor_header
            .unwrap_or(self.is_loopback() && self.auth.oidc.is_none())
    }

    /// Whether build notifications must be signed.
    #[must_use]
    pub fn signs_notifications(&self) -> bool {
        self.auth.sign_notifications.unwrap_or(!self.is_loopback())
    }

    /// `path` or `<data_dir>/default`.
    #[must_use]
    pub fn under_data(&self, path: Option<&PathBuf>, default: &str) -> PathBuf {
        path.cloned().unwrap_or_else(|| self.data_dir.join(default))
    }

    /// The webhook secret file.
    #[must_use]
    pub fn secret_file(&self) -> PathBuf {
        self.under_data(self.auth.webhook_secret_file.as_ref(), "webhook-secret")
    }

    /// `auth.session_key_file` or `<data_dir>/session-key`.
    #[must_use]
    pub fn session_key_file(&self) -> PathBuf {
        self.under_data(self.auth.session_key_file.as_ref(), "session-key")
    }

    /// The pipeline settings.
    #[must_use]
    pub fn settings(&self) -> cd_core::pipeline::Settings {
        cd_core::pipeline::Settings {
            engine_timeout_ms: self.pipeline.engine_timeout_ms,
            forbid_author_approval: self.pipeline.forbid_author_approval.clone(),
            create_releases: self.pipeline.create_releases,
            event_source: self.pipeline.event_source.clone(),
        }
    }
}
