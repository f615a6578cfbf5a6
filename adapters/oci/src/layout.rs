//! `Registry` over OCI image layout directories: `<root>/<registry>/<image>/` each hold
//! `oci-layout`, `index.json` and `blobs/sha256/`. A tag is an index entry annotated
//! `org.opencontainers.image.ref.name`. Any tool that reads image layouts (skopeo, crane, oras)
//! can copy these images to a real registry.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use cd_ports::{Registry, RegistryError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Images in OCI image layout directories under one root.
#[derive(Clone, Debug)]
pub struct OciLayout {
    root: PathBuf,
    /// Parsed `index.json` files, by path, with the length and modification time they were
    /// read at: a read of an index nobody changed since parses nothing (an image with hundreds
    /// of tags has an index of hundreds of entries, and every notification resolves a tag).
    /// Every write replaces the file by a rename and makes it longer or changes its time.
    read: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<PathBuf, Cached>>>,
}

/// An index as it was read.
#[derive(Debug)]
struct Cached {
    len: u64,
    modified: std::time::SystemTime,
    index: std::sync::Arc<Index>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    annotations: std::collections::BTreeMap<String, String>,
}

impl Descriptor {
    fn tag(&self) -> Option<&str> {
        self.annotations.get(REF_NAME).map(String::as_str)
    }
}

fn io(path: &Path, e: &std::io::Error) -> RegistryError {
    RegistryError::Unavailable(format!("{}: {e}", path.display()))
}

fn safe_component(s: &str) -> bool {
    !s.is_empty()
        && s.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        })
}

impl OciLayout {
    /// Image layouts under `root` (created on first write).
    #[must_use]
    pub fn new(root: &Path) -> Self {
        OciLayout {
            root: root.to_path_buf(),
            read: std::sync::Arc::default(),
        }
    }

    /// The index of `dir` for reading, parsed again only when the file changed.
    fn current_index(&self, dir: &Path) -> Result<std::sync::Arc<Index>, RegistryError> {
        let path = dir.join("index.json");
        let Ok(meta) = fs::metadata(&path) else {
            return Self::read_index(dir).map(std::sync::Arc::new);
        };
        let stamp = (meta.len(), meta.modified().ok());
        if let (len, Some(modified)) = stamp
            && let Ok(cache) = self.read.lock()
            && let Some(c) = cache.get(&path)
            && c.len == len
            && c.modified == modified
        {
            return Ok(c.index.clone());
        }
        let index = std::sync::Arc::new(Self::read_index(dir)?);
        if let (len, Some(modified)) = stamp
            && let Ok(mut cache) = self.read.lock()
        {
            cache.insert(
                path,
                Cached {
                    len,
                    modified,
                    index: index.clone(),
                },
            );
        }
        Ok(index)
    }

    fn dir(&self, registry: &str, image: &str) -> Result<PathBuf, RegistryError> {
        if !safe_component(registry) || !safe_component(image) {
            return Err(RegistryError::Invalid(format!(
                "'{registry}/{image}' is not a valid image name"
            )));
        }
        Ok(self.root.join(registry).join(image))
    }

    fn read_index(dir: &Path) -> Result<Index, RegistryError> {
        let path = dir.join("index.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| RegistryError::Invalid(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index {
                schema_version: 2,
                media_type: Some("application/vnd.oci.image.index.v1+json".into()),
                manifests: Vec::new(),
            }),
            Err(e) => Err(io(&path, &e)),
        }
    }

    /// Writes the index atomically: a reader sees the old index or the new one, never half.
    fn write_index(dir: &Path, index: &Index) -> Result<(), RegistryError> {
        let path = dir.join("index.json");
        let tmp = dir.join("index.json.tmp");
        let bytes =
            serde_json::to_vec_pretty(index).map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let mut f = File::create(&tmp).map_err(|e| io(&tmp, &e))?;
        f.write_all(&bytes).map_err(|e| io(&tmp, &e))?;
        f.sync_all().map_err(|e| io(&tmp, &e))?;
        fs::rename(&tmp, &path).map_err(|e| io(&path, &e))
    }

    /// Holds the layout's lock (an advisory file lock, so several processes can share it).
    fn locked<T>(
        dir: &Path,
        f: impl FnOnce() -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        fs::create_dir_all(dir.join("blobs/sha256")).map_err(|e| io(dir, &e))?;
        let layout = dir.join("oci-layout");
        if !layout.exists() {
            fs::write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)
                .map_err(|e| io(&layout, &e))?;
        }
        let lock_path = dir.join(".lock");
        let lock = File::create(&lock_path).map_err(|e| io(&lock_path, &e))?;
        lock.lock().map_err(|e| io(&lock_path, &e))?;
        let result = f();
        let _ = lock.unlock();
        result
    }

    fn write_blob(dir: &Path, bytes: &[u8]) -> Result<String, RegistryError> {
        let hex = hex::encode(Sha256::digest(bytes));
        let path = dir.join("blobs/sha256").join(&hex);
        if !path.exists() {
            let tmp = path.with_extension("tmp");
            fs::write(&tmp, bytes).map_err(|e| io(&tmp, &e))?;
            fs::rename(&tmp, &path).map_err(|e| io(&path, &e))?;
        }
        Ok(format!("sha256:{hex}"))
    }

    /// Adds a small image (a config and one layer built from `content`) tagged `tag`, as CI
    /// would push it, and returns its manifest digest. An existing tag is left as it is.
    ///
    /// # Errors
    /// [`RegistryError::Invalid`] for a bad name or tag, `Unavailable` on I/O errors.
    pub fn push_image(
        &self,
        registry: &str,
        image: &str,
        tag: &str,
        content: &str,
    ) -> Result<String, RegistryError> {
        cd_ports::check_tag(tag)?;
        let dir = self.dir(registry, image)?;
        Self::locked(&dir, || {
            let (config, layer, manifest) = crate::image_parts(content);
            Self::write_blob(&dir, &config)?;
            Self::write_blob(&dir, &layer)?;
            let digest = Self::write_blob(&dir, &manifest)?;
            let mut index = Self::read_index(&dir)?;
            if let Some(existing) = index.manifests.iter().find(|d| d.tag() == Some(tag)) {
                return Ok(existing.digest.clone());
            }
            index.manifests.push(Descriptor {
                media_type: crate::OCI_MANIFEST.into(),
                digest: digest.clone(),
                size: manifest.len() as u64,
                annotations: [(REF_NAME.to_string(), tag.to_string())].into(),
            });
            Self::write_index(&dir, &index)?;
            Ok(digest)
        })
    }
}

/// What a manifest points at, as far as copying needs it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Referrer {
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    /// An image index's images.
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// Copies into a blob file while hashing what passes.
struct Hashing<W> {
    out: W,
    hash: Sha256,
    size: u64,
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Where a layout's blob `digest` lives, refusing anything that is not `sha256:<64 hex>`.
fn blob_path(layout: &Path, digest: &str) -> Result<PathBuf, RegistryError> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| RegistryError::Invalid(format!("'{digest}' is not a sha256 digest")))?;
    Ok(layout.join("blobs/sha256").join(hex))
}

impl OciLayout {
    /// Copies the blob `from` into the layout at `dir` as `d` says it is, streaming (a layer can
    /// be large), checking its digest and size, and syncing it before it takes its name: a
    /// blob under its digest's name is whole.
    fn copy_blob(dir: &Path, from: &Path, d: &Descriptor) -> Result<(), RegistryError> {
        let to = blob_path(dir, &d.digest)?;
        if to.exists() {
            return Ok(());
        }
        let tmp = to.with_extension("import-tmp");
        let result = (|| {
            let mut input = File::open(from).map_err(|e| io(from, &e))?;
            let file = File::create(&tmp).map_err(|e| io(&tmp, &e))?;
            let mut out = Hashing {
                out: file,
                hash: Sha256::new(),
                size: 0,
            };
            std::io::copy(&mut input, &mut out).map_err(|e| io(from, &e))?;
            let actual = format!("sha256:{}", hex::encode(out.hash.finalize()));
            if actual != d.digest {
                return Err(RegistryError::Invalid(format!(
                    "{}: its content has digest {actual}",
                    from.display()
                )));
            }
            if out.size != d.size {
                return Err(RegistryError::Invalid(format!(
                    "{}: {} bytes, its descriptor says {}",
                    from.display(),
                    out.size,
                    d.size
                )));
            }
            out.out.sync_all().map_err(|e| io(&tmp, &e))?;
            fs::rename(&tmp, &to).map_err(|e| io(&to, &e))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Copies the image `reference` names in the OCI image layout at `source` (the only image
    /// when `reference` is `None`) into this layout as `registry/image:tag`, with every blob it
    /// needs, checking each blob's digest. Returns the manifest digest. A tag that exists with
    /// this digest is left as it is; with another digest it is refused (tags never move).
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] when `source` holds no such image, `Invalid` when it is not
    /// an image layout or a blob does not match its digest, `AlreadyExists` for a moved tag,
    /// `Unavailable` on I/O errors.
    pub fn import(
        &self,
        registry: &str,
        image: &str,
        tag: &str,
        source: &Path,
        reference: Option<&str>,
    ) -> Result<String, RegistryError> {
        cd_ports::check_tag(tag)?;
        let index_path = source.join("index.json");
        let index: Index = match fs::read(&index_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                RegistryError::Invalid(format!(
                    "{}: not an OCI image index: {e}",
                    index_path.display()
                ))
            })?,
            Err(e) => {
                return Err(RegistryError::Invalid(format!(
                    "{}: not an OCI image layout ({e})",
                    source.display()
                )));
            }
        };
        let chosen = match reference {
            Some(r) => index.manifests.iter().find(|d| d.tag() == Some(r)),
            None if index.manifests.len() == 1 => index.manifests.first(),
            None => {
                let names: Vec<&str> = index.manifests.iter().filter_map(Descriptor::tag).collect();
                return Err(RegistryError::Invalid(format!(
                    "{} holds {} images: name one with --ref ({})",
                    source.display(),
                    index.manifests.len(),
                    names.join(", ")
                )));
            }
        }
        .cloned()
        .ok_or_else(|| {
            RegistryError::NotFound(format!(
                "no image named '{}' in {}",
                reference.unwrap_or_default(),
                source.display()
            ))
        })?;
        let dir = self.dir(registry, image)?;
        Self::locked(&dir, || {
            // Blobs first, the tag last: a crash leaves unreferenced blobs at worst.
            let mut queue = vec![chosen.clone()];
            let mut copied = 0;
            while let Some(d) = queue.pop() {
                copied += 1;
                if copied > 10_000 {
                    return Err(RegistryError::Invalid(
                        "the image references too many blobs".into(),
                    ));
                }
                let from = blob_path(source, &d.digest)?;
                Self::copy_blob(&dir, &from, &d)?;
                if d.media_type.contains("manifest") || d.media_type.contains("index") {
                    // Read back the copy: it is the one whose digest was checked.
                    let copy = blob_path(&dir, &d.digest)?;
                    let bytes = fs::read(&copy).map_err(|e| io(&copy, &e))?;
                    let r: Referrer = serde_json::from_slice(&bytes).map_err(|e| {
                        RegistryError::Invalid(format!("{}: not a manifest: {e}", from.display()))
                    })?;
                    queue.extend(r.config);
                    queue.extend(r.layers);
                    queue.extend(r.manifests);
                }
            }
            let mut index = Self::read_index(&dir)?;
            if let Some(existing) = index.manifests.iter().find(|d| d.tag() == Some(tag)) {
                return if existing.digest == chosen.digest {
                    Ok(chosen.digest.clone())
                } else {
                    Err(RegistryError::AlreadyExists {
                        digest: existing.digest.clone(),
                    })
                };
            }
            index.manifests.push(Descriptor {
                annotations: [(REF_NAME.to_string(), tag.to_string())].into(),
                ..chosen.clone()
            });
            Self::write_index(&dir, &index)?;
            Ok(chosen.digest)
        })
    }
}

#[async_trait]
impl Registry for OciLayout {
    async fn list_tags(
        &self,
        registry: &str,
        image: &str,
        prefix: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let dir = self.dir(registry, image)?;
        let mut tags: Vec<String> = self
            .current_index(&dir)?
            .manifests
            .iter()
            .filter_map(Descriptor::tag)
            .filter(|t| t.starts_with(prefix))
            .map(str::to_string)
            .collect();
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    async fn resolve(
        &self,
        registry: &str,
        image: &str,
        tag: &str,
    ) -> Result<String, RegistryError> {
        let dir = self.dir(registry, image)?;
        self.current_index(&dir)?
            .manifests
            .iter()
            .find(|d| d.tag() == Some(tag))
            .map(|d| d.digest.clone())
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
        let dir = self.dir(registry, image)?;
        Self::locked(&dir, || {
            let mut index = Self::read_index(&dir)?;
            if let Some(existing) = index.manifests.iter().find(|d| d.tag() == Some(tag)) {
                return Err(RegistryError::AlreadyExists {
                    digest: existing.digest.clone(),
                });
            }
            let source = index
                .manifests
                .iter()
                .find(|d| d.digest == digest)
                .cloned()
                .ok_or_else(|| RegistryError::NotFound(format!("{registry}/{image}@{digest}")))?;
            index.manifests.push(Descriptor {
                annotations: [(REF_NAME.to_string(), tag.to_string())].into(),
                ..source
            });
            Self::write_index(&dir, &index)
        })
    }
}
