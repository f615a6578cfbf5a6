//! `cd-oci`: container image tags in OCI registries.
//!
//! [`OciRegistry`] speaks the OCI Distribution API (Artifact Registry's Docker endpoint, GHCR,
//! Harbor, `docker-registry`) with anonymous, basic and bearer-token authentication.
//! [`OciLayout`] keeps images in OCI image layout directories: the zero-setup default on one
//! machine. Both never move a tag.

#![deny(missing_docs)]

pub mod answers;
mod distribution;
mod layout;

pub use distribution::{Auth, Credentials, Endpoint, OciRegistry};
pub use layout::OciLayout;

/// The manifest media types asked for when resolving a tag: OCI and Docker, images and indexes.
pub(crate) const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// The media type of the manifests this crate writes.
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A tiny, valid OCI image made from `content`: (config blob, layer blob, manifest bytes).
pub(crate) fn image_parts(content: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    use sha2::{Digest, Sha256};
    let layer = content.as_bytes().to_vec();
    let layer_digest = format!("sha256:{}", hex::encode(Sha256::digest(&layer)));
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "config": {"Labels": {"org.opencontainers.image.description": content}},
    })
    .to_string()
    .into_bytes();
    let config_digest = format!("sha256:{}", hex::encode(Sha256::digest(&config)));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    })
    .to_string()
    .into_bytes();
    (config, layer, manifest)
}
