//! `Registry`: container image tags.

use async_trait::async_trait;

/// Why a registry operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The image, the registry or the tag does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The tag exists already, pointing at `digest`. Tags are never moved: the driver treats
    /// the same digest as done and another digest as a permanent conflict.
    #[error("tag exists with digest {digest}")]
    AlreadyExists {
        /// The digest the existing tag points at.
        digest: String,
    },
    /// The registry cannot be reached, timed out or throttled. Retried.
    #[error("registry unavailable: {0}")]
    Unavailable(String),
    /// Credentials were refused.
    #[error("denied: {0}")]
    Denied(String),
    /// The request was malformed (a bad name or tag).
    #[error("invalid: {0}")]
    Invalid(String),
}

/// Image tags in named registries (ArtifactRegistry names from the manifests).
///
/// ```
/// use cd_ports::{Registry, RegistryError};
///
/// # futures_executor::block_on(async {
/// let registry = cd_memory::MemoryRegistry::new();
/// registry.push("containers", "api", "v1.0.0", "sha256:aa"); // CI pushed the image
/// let digest = registry.resolve("containers", "api", "v1.0.0").await?;
/// registry.create_tag("containers", "api", "shop-2026.11-rc.0", &digest).await?;
/// // A tag is never moved, not even onto the digest it has.
/// let again = registry.create_tag("containers", "api", "shop-2026.11-rc.0", &digest).await;
/// assert!(matches!(again, Err(RegistryError::AlreadyExists { .. })));
/// # Ok::<(), RegistryError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait Registry: Send + Sync + 'static {
    /// Every tag of `image` in `registry` that starts with `prefix` (all when empty), sorted.
    ///
    /// # Errors
    /// [`RegistryError::Unavailable`], [`RegistryError::Denied`]; an image without tags is an
    /// empty list, not `NotFound`.
    async fn list_tags(
        &self,
        registry: &str,
        image: &str,
        prefix: &str,
    ) -> Result<Vec<String>, RegistryError>;

    /// The digest `tag` points at.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] when the tag does not exist; `Unavailable`, `Denied`.
    async fn resolve(
        &self,
        registry: &str,
        image: &str,
        tag: &str,
    ) -> Result<String, RegistryError>;

    /// Creates `tag` for the manifest `digest` of `image`, never moving an existing tag.
    ///
    /// # Errors
    /// [`RegistryError::AlreadyExists`] with the existing digest when the tag exists (even with
    /// the same digest); [`RegistryError::NotFound`] when the digest is not in the registry;
    /// `Unavailable`, `Denied`, `Invalid`.
    async fn create_tag(
        &self,
        registry: &str,
        image: &str,
        tag: &str,
        digest: &str,
    ) -> Result<(), RegistryError>;
}

/// Refuses a tag no registry would take, before an adapter touches anything: the one check
/// every `Registry` makes, with the one message.
///
/// # Errors
/// [`RegistryError::Invalid`] naming the tag.
pub fn check_tag(tag: &str) -> Result<(), RegistryError> {
    if cd_core::version::is_valid_image_tag(tag) {
        Ok(())
    } else {
        Err(RegistryError::Invalid(format!(
            "'{tag}' is not a valid tag"
        )))
    }
}
