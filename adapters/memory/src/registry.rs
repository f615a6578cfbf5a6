//! `Registry` in memory, keeping every tag ever created so invariants can be checked.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cd_ports::{Registry, RegistryError};

use crate::journal::Journal;

/// A tag's creation, in journal order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagEvent {
    /// Journal sequence number.
    pub seq: u64,
    /// `registry/image`.
    pub image: String,
    /// The tag.
    pub tag: String,
    /// Its digest.
    pub digest: String,
}

/// Images and tags in memory: `registry/image -> tag -> digest`.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    images: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    history: Mutex<Vec<TagEvent>>,
    journal: Arc<Journal>,
}

fn key(registry: &str, image: &str) -> String {
    format!("{registry}/{image}")
}

impl MemoryRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry that numbers tag creations from a shared journal.
    #[must_use]
    pub fn with_journal(journal: Arc<Journal>) -> Self {
        MemoryRegistry {
            journal,
            ..Self::default()
        }
    }

    /// Every tag creation, in order.
    #[must_use]
    pub fn history(&self) -> Vec<TagEvent> {
        self.history.lock().map(|h| h.clone()).unwrap_or_default()
    }

    fn record(&self, image: &str, tag: &str, digest: &str) {
        if let Ok(mut h) = self.history.lock() {
            h.push(TagEvent {
                seq: self.journal.next(),
                image: image.to_string(),
                tag: tag.to_string(),
                digest: digest.to_string(),
            });
        }
    }

    /// Pushes an image tag, as CI would. An existing tag keeps its digest.
    pub fn push(&self, registry: &str, image: &str, tag: &str, digest: &str) {
        let created = self.images.lock().is_ok_and(|mut images| {
            let tags = images.entry(key(registry, image)).or_default();
            if tags.contains_key(tag) {
                return false;
            }
            tags.insert(tag.to_string(), digest.to_string());
            true
        });
        if created {
            self.record(&key(registry, image), tag, digest);
        }
    }

    /// Every image and its tags, keyed `registry/image`.
    #[must_use]
    pub fn snapshot(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.images.lock().map(|i| i.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Registry for MemoryRegistry {
    async fn list_tags(
        &self,
        registry: &str,
        image: &str,
        prefix: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let images = self
            .images
            .lock()
            .map_err(|_| RegistryError::Unavailable("lock poisoned".into()))?;
        Ok(images
            .get(&key(registry, image))
            .map(|tags| {
                tags.keys()
                    .filter(|t| t.starts_with(prefix))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn resolve(
        &self,
        registry: &str,
        image: &str,
        tag: &str,
    ) -> Result<String, RegistryError> {
        let images = self
            .images
            .lock()
            .map_err(|_| RegistryError::Unavailable("lock poisoned".into()))?;
        images
            .get(&key(registry, image))
            .and_then(|tags| tags.get(tag))
            .cloned()
            .ok_or_else(|| RegistryError::NotFound(format!("{registry}/{image}:{tag}")))
    }

    async fn create_tag(
        &self,
        registry: &str,
        image: &str,
        tag: &str,
        digest: &str,
    ) -> Result<(), RegistryError> {
        cd_ports::check_tag(tag)?;
        let mut images = self
            .images
            .lock()
            .map_err(|_| RegistryError::Unavailable("lock poisoned".into()))?;
        let tags = images.entry(key(registry, image)).or_default();
        if !tags.values().any(|d| d == digest) {
            return Err(RegistryError::NotFound(format!(
                "{digest} is not in {registry}/{image}"
            )));
        }
        if let Some(existing) = tags.get(tag) {
            return Err(RegistryError::AlreadyExists {
                digest: existing.clone(),
            });
        }
        tags.insert(tag.to_string(), digest.to_string());
        drop(images);
        self.record(&key(registry, image), tag, digest);
        Ok(())
    }
}
