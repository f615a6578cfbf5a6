//! `cd-artifact-registry`: the [`cd_ports::Registry`] on Google Artifact Registry.
//!
//! Through its Docker endpoint (`https://LOCATION-docker.pkg.dev`), with the OCI adapter and
//! Google credentials: the user `oauth2accesstoken` and a Google access token from Application
//! Default Credentials (workload identity), asked for at each use so it never goes stale. The
//! Distribution API gives everything the pipeline needs (list, resolve, tag by digest), and the
//! OCI adapter is already tested against a real registry; the Artifact Registry REST API would
//! add a second client stack for the same three operations.
//!
//! Immutability: the OCI adapter never moves a tag (it checks, then puts, and reports a tag
//! another writer created meanwhile as `AlreadyExists` with its digest). In a repository with
//! immutable tags enabled, Artifact Registry itself refuses a PUT over an existing tag, which
//! closes the check-then-put window; enable it on every repository the engine tags.

use std::sync::Arc;

use async_trait::async_trait;
use cd_oci::{Auth, Credentials, Endpoint};
use cd_ports::RegistryError;
use google_cloud_auth::project::Config;
use google_cloud_auth::token::DefaultTokenSourceProvider;
use token_source::{TokenSource, TokenSourceProvider};

/// The scope Artifact Registry accepts.
const SCOPES: [&str; 1] = ["https://www.googleapis.com/auth/cloud-platform"];

/// Google access tokens from Application Default Credentials, as Docker credentials.
#[derive(Clone)]
pub struct GoogleCredentials {
    source: Arc<dyn TokenSource>,
}

impl std::fmt::Debug for GoogleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GoogleCredentials(<redacted>)")
    }
}

impl GoogleCredentials {
    /// Credentials from Application Default Credentials.
    ///
    /// # Errors
    /// [`RegistryError::Denied`] when no credentials can be found.
    pub async fn from_adc() -> Result<Self, RegistryError> {
        let provider = DefaultTokenSourceProvider::new(Config::default().with_scopes(&SCOPES))
            .await
            .map_err(|e| RegistryError::Denied(format!("Google credentials: {e}")))?;
        Ok(GoogleCredentials {
            source: provider.token_source(),
        })
    }
}

#[async_trait]
impl Credentials for GoogleCredentials {
    async fn basic(&self) -> Result<(String, String), RegistryError> {
        let token = self
            .source
            .token()
            .await
            .map_err(|e| RegistryError::Unavailable(format!("Google access token: {e}")))?;
        let token = token.strip_prefix("Bearer ").unwrap_or(&token).to_string();
        Ok(("oauth2accesstoken".into(), token))
    }
}

/// The Docker endpoint of repository `repository` of `project` in `location` (e.g.
/// `europe-west1`), authenticated with `credentials`.
#[must_use]
pub fn endpoint(
    location: &str,
    project: &str,
    repository: &str,
    credentials: Arc<dyn Credentials>,
) -> Endpoint {
    Endpoint {
        url: format!("https://{location}-docker.pkg.dev"),
        prefix: format!("{project}/{repository}/"),
        auth: Auth::Provider(credentials),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    #[async_trait]
    impl Credentials for Fixed {
        async fn basic(&self) -> Result<(String, String), RegistryError> {
            Ok(("oauth2accesstoken".into(), "ya29.token".into()))
        }
    }

    #[test]
    fn images_live_under_the_project_and_repository() {
        let e = endpoint("europe-west1", "northwind", "containers", Arc::new(Fixed));
        assert_eq!(e.url, "https://europe-west1-docker.pkg.dev");
        assert_eq!(e.prefix, "northwind/containers/");
        assert!(matches!(e.auth, Auth::Provider(_)));
        assert_eq!(format!("{:?}", e.auth), "Provider(<redacted>)");
    }
}
