//! The pin table: every action generated workflows use, pinned to the full commit of a
//! release tag, and every base image of a generated Dockerfile, pinned to a digest.
//!
//! The table ships as `workflows/pins.toml` (compiled in as the default) and is refreshed by
//! `infrastream workflows pins update`, which reads each action's latest release and the
//! commit its tag names from GitHub. A pin is only ever read from the action's own repository,
//! never typed in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Uses;

/// The table compiled into the generator.
pub const DEFAULT_PINS: &str = include_str!("../pins.toml");

/// An action's pin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionPin {
    /// The release tag, e.g. `v7.0.1`: written as the comment beside the SHA.
    pub tag: String,
    /// The full commit SHA the tag names.
    pub commit: String,
}

/// A base image's pin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagePin {
    /// The tag the digest was read from, e.g. `nonroot`.
    pub tag: String,
    /// `sha256:<64 hex>`.
    pub digest: String,
}

/// The whole table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pins {
    /// `owner/repo` -> pin.
    #[serde(default)]
    pub actions: BTreeMap<String, ActionPin>,
    /// Image reference without tag (`gcr.io/distroless/static-debian12`) -> pin.
    #[serde(default)]
    pub images: BTreeMap<String, ImagePin>,
}

/// Why a pin table cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// Not TOML of the table's shape.
    #[error("{0}")]
    Syntax(String),
    /// An entry's value is malformed.
    #[error("{entry}: {message}")]
    Invalid {
        /// `actions."owner/repo".commit` and the like.
        entry: String,
        /// What is wrong.
        message: String,
    },
    /// The generator needs an action or image the table does not pin.
    #[error(
        "no pin for {0}: add it to the pin table (`infrastream workflows pins update` fills in its commit)"
    )]
    Missing(String),
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

fn is_tag(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
}

/// `owner/repo`, GitHub's characters only.
#[must_use]
pub fn is_action_name(s: &str) -> bool {
    let mut parts = s.split('/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

impl Pins {
    /// Reads a table and checks every entry.
    ///
    /// # Errors
    /// [`PinError`] naming the first bad entry.
    pub fn parse(text: &str) -> Result<Pins, PinError> {
        let pins: Pins = toml::from_str(text).map_err(|e| PinError::Syntax(e.to_string()))?;
        for (name, pin) in &pins.actions {
            let entry = |field: &str| format!("actions.\"{name}\".{field}");
            if !is_action_name(name) {
                return Err(PinError::Invalid {
                    entry: format!("actions.\"{name}\""),
                    message: "expected owner/repo".into(),
                });
            }
            if !is_hex(&pin.commit, 40) {
                return Err(PinError::Invalid {
                    entry: entry("commit"),
                    message: format!("'{}' is not a full 40-digit commit SHA", pin.commit),
                });
            }
            if !is_tag(&pin.tag) {
                return Err(PinError::Invalid {
                    entry: entry("tag"),
                    message: format!("'{}' is not a tag name", pin.tag),
                });
            }
        }
        for (name, pin) in &pins.images {
            let entry = |field: &str| format!("images.\"{name}\".{field}");
            let name_ok = name.contains('/')
                && name
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-_./:".contains(&c));
            if !name_ok {
                return Err(PinError::Invalid {
                    entry: format!("images.\"{name}\""),
                    message: "expected an image reference without tag, e.g. gcr.io/distroless/static-debian12".into(),
                });
            }
            let digest_ok = pin
                .digest
                .strip_prefix("sha256:")
                .is_some_and(|h| is_hex(h, 64));
            if !digest_ok {
                return Err(PinError::Invalid {
                    entry: entry("digest"),
                    message: format!("'{}' is not sha256:<64 hex digits>", pin.digest),
                });
            }
            if !is_tag(&pin.tag) {
                return Err(PinError::Invalid {
                    entry: entry("tag"),
                    message: format!("'{}' is not a tag name", pin.tag),
                });
            }
        }
        Ok(pins)
    }

    /// The compiled-in table.
    ///
    /// # Errors
    /// Never for a released build (a test reads it); [`PinError`] if it were broken.
    pub fn default_table() -> Result<Pins, PinError> {
        Pins::parse(DEFAULT_PINS)
    }

    /// `uses:` for `action`.
    ///
    /// # Errors
    /// [`PinError::Missing`] when the table has no pin for it.
    pub fn action(&self, action: &str) -> Result<Uses, PinError> {
        let pin = self
            .actions
            .get(action)
            .ok_or_else(|| PinError::Missing(action.to_string()))?;
        Ok(Uses {
            action: action.to_string(),
            commit: pin.commit.clone(),
            tag: pin.tag.clone(),
        })
    }

    /// `image:tag@digest` for `image`.
    ///
    /// # Errors
    /// [`PinError::Missing`] when the table has no pin for it.
    pub fn image(&self, image: &str) -> Result<String, PinError> {
        let pin = self
            .images
            .get(image)
            .ok_or_else(|| PinError::Missing(image.to_string()))?;
        Ok(format!("{image}:{}@{}", pin.tag, pin.digest))
    }

    /// The table as the file `pins update` writes: a header, then the entries in name order.
    #[must_use]
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!("{PINS_HEADER}\n{body}")
    }
}

/// The comment at the top of a written pin table.
const PINS_HEADER: &str = "\
# The actions and base images generated workflows use, each pinned to an immutable id.
#
# actions: the full commit SHA of a release tag, read from the action's own repository; the
#   workflows carry the tag as a comment beside the SHA.
# images: the digest of a tag (multi-platform index), for generated Dockerfiles.
#
# Refresh with `infrastream workflows pins update`; review the diff like any dependency bump.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_reads_and_round_trips() {
        let pins = Pins::default_table().unwrap();
        assert!(pins.actions.contains_key("actions/checkout"));
        assert_eq!(Pins::parse(&pins.to_toml()).unwrap(), pins);
    }

    #[test]
    fn bad_entries_are_named() {
        let e = Pins::parse("[actions.\"a/b\"]\ntag = \"v1\"\ncommit = \"abc\"\n").unwrap_err();
        assert!(e.to_string().starts_with("actions.\"a/b\".commit:"), "{e}");
        let e = Pins::parse("[actions.\"a\"]\ntag = \"v1\"\ncommit = \"abc\"\n").unwrap_err();
        assert!(e.to_string().contains("owner/repo"), "{e}");
        let e = Pins::parse("[images.\"x/y\"]\ntag = \"1\"\ndigest = \"sha256:00\"\n").unwrap_err();
        assert!(e.to_string().starts_with("images.\"x/y\".digest"), "{e}");
        assert!(Pins::parse("[actions.\"a/b\"]\ntag = \"v1\"\nsha = \"x\"\n").is_err());
        assert!(matches!(
            Pins::default().action("a/b"),
            Err(PinError::Missing(_))
        ));
    }
}
