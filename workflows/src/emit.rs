//! Serializing the model to YAML, deterministically, with the comments reviewers need.
//!
//! The emitter is `serde_norway` (serde_yaml's maintained fork): it writes block style,
//! literal `|` blocks for scripts and quotes every scalar that YAML would read as something
//! else. No serde emitter writes comments, and two are required: the tag beside each pinned
//! action (`uses: owner/repo@<sha> # v1.2.3`) and the reason beside each permission. A
//! [`Commented`] value is serialized as one quoted marker scalar, `'<value> #~<comment>~#'`,
//! which [`to_yaml`] rewrites into `<value> # <comment>`. Both parts are held to character sets
//! that make the marker's quoting predictable, and the result is parsed back and compared with
//! the model: output that would mean anything else is an error, never a file.

use serde::{Serialize, Serializer};

/// A scalar written with a trailing comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commented {
    value: String,
    comment: String,
}

const OPEN: &str = " #~";
const CLOSE: &str = "~#";

fn value_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_./@".contains(c)
}

fn comment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " -_./,;:()+=<>".contains(c)
}

impl Commented {
    /// `value # comment`.
    #[must_use]
    pub fn new(value: &str, comment: &str) -> Commented {
        Commented {
            value: value.to_string(),
            comment: comment.to_string(),
        }
    }

    fn marker(&self) -> String {
        format!("{}{OPEN}{}{CLOSE}", self.value, self.comment)
    }
}

impl Serialize for Commented {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.marker())
    }
}

/// Why a model could not be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The serializer refused the model.
    #[error("cannot serialize: {0}")]
    Serialize(String),
    /// A commented value or its comment holds characters the marker cannot carry.
    #[error("'{0}' cannot be written with a comment")]
    Uncommentable(String),
    /// The written text does not read back as the model: a bug, caught before any file.
    #[error("the YAML written does not read back as the model")]
    RoundTrip,
}

/// Rewrites `'<value> #~<comment>~#'` markers into `<value> # <comment>`.
fn place_comments(yaml: &str) -> Result<String, EmitError> {
    let mut out = String::with_capacity(yaml.len());
    let mut rest = yaml;
    while let Some(open) = rest.find(OPEN) {
        let before = rest.get(..open).unwrap_or_default();
        let quote = before.rfind('\'').ok_or(EmitError::RoundTrip)?;
        let value = before.get(quote + 1..).unwrap_or_default();
        let after = rest.get(open + OPEN.len()..).unwrap_or_default();
        let close = after.find(CLOSE).ok_or(EmitError::RoundTrip)?;
        let comment = after.get(..close).unwrap_or_default();
        let tail = after.get(close + CLOSE.len()..).unwrap_or_default();
        let Some(tail) = tail.strip_prefix('\'') else {
            return Err(EmitError::RoundTrip);
        };
        if value.is_empty() || !value.chars().all(value_char) || !comment.chars().all(comment_char)
        {
            return Err(EmitError::Uncommentable(value.to_string()));
        }
        out.push_str(before.get(..quote).unwrap_or_default());
        out.push_str(value);
        out.push_str(" # ");
        out.push_str(comment);
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

/// Strips markers from a JSON view of the model: what the final YAML must read back as.
fn strip_markers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            if let Some(at) = s.find(OPEN)
                && s.ends_with(CLOSE)
            {
                s.truncate(at);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_markers),
        serde_json::Value::Object(map) => map.values_mut().for_each(strip_markers),
        _ => {}
    }
}

/// The model as YAML: `header` lines as comments, then the document. Same model, same bytes.
///
/// # Errors
/// [`EmitError`] when the model cannot be written faithfully.
pub fn to_yaml<T: Serialize>(header: &[String], model: &T) -> Result<String, EmitError> {
    let raw = serde_norway::to_string(model).map_err(|e| EmitError::Serialize(e.to_string()))?;
    let body = place_comments(&raw)?;
    let mut expected =
        serde_json::to_value(model).map_err(|e| EmitError::Serialize(e.to_string()))?;
    strip_markers(&mut expected);
    let read: serde_json::Value =
        serde_norway::from_str(&body).map_err(|_| EmitError::RoundTrip)?;
    if read != expected {
        return Err(EmitError::RoundTrip);
    }
    let mut text = String::new();
    for line in header {
        if line.is_empty() {
            text.push_str("#\n");
        } else {
            text.push_str("# ");
            text.push_str(line);
            text.push('\n');
        }
    }
    text.push_str(&body);
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn comments_land_beside_their_values_and_read_back() {
        let mut m = BTreeMap::new();
        m.insert(
            "uses",
            Commented::new("actions/checkout@0123abcd", "v7.0.1"),
        );
        m.insert("contents", Commented::new("read", "check out the code"));
        let yaml = to_yaml(&["Generated.".into()], &m).unwrap();
        assert_eq!(
            yaml,
            "# Generated.\ncontents: read # check out the code\nuses: actions/checkout@0123abcd # v7.0.1\n"
        );
    }

    #[test]
    fn a_comment_that_cannot_be_carried_is_an_error() {
        let mut m = BTreeMap::new();
        m.insert("x", Commented::new("read", "it's"));
        assert!(to_yaml(&[], &m).is_err());
        let mut m = BTreeMap::new();
        m.insert("x", Commented::new("a b", "fine"));
        assert!(to_yaml(&[], &m).is_err());
    }

    #[test]
    fn scripts_are_literal_blocks_and_tricky_scalars_are_quoted() {
        let mut m = BTreeMap::new();
        m.insert("run", "set -eu\necho \"$X\"\n".to_string());
        m.insert("on", "true".to_string());
        m.insert("v", "1.20".to_string());
        let yaml = to_yaml(&[], &m).unwrap();
        assert!(
            yaml.contains("run: |\n  set -eu\n  echo \"$X\"\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("on: 'true'") && yaml.contains("v: '1.20'"),
            "{yaml}"
        );
    }
}
