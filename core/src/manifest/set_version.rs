//! The one edit the CD engine makes to a manifest: `spec.version` of a DeploymentConfig.
//!
//! The edit splices text; it never re-serializes YAML, so comments, blank lines, quoting, key
//! order, anchors and other documents survive byte for byte. After splicing, the result is parsed
//! again and compared with the original: if anything other than that one value changed (an exotic
//! layout the splice did not foresee), the edit is refused rather than written.

use crate::yaml::{self, Doc, NodeId, NodeKind, Style};

use super::read::API_VERSION;

/// Which DeploymentConfig of a file to edit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selector<'a> {
    /// The file's only DeploymentConfig.
    Only,
    /// The DeploymentConfig of this application (`metadata.name`) in this environment.
    Named {
        /// `metadata.name`.
        application: &'a str,
        /// `metadata.environment`.
        environment: &'a str,
    },
}

/// Why a version could not be set. Nothing is changed in every case.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// The file is not valid YAML.
    #[error("line {line}: invalid YAML: {message}")]
    Syntax {
        /// Line of the error.
        line: usize,
        /// What the parser said.
        message: String,
    },
    /// The file holds no DeploymentConfig document.
    #[error("no DeploymentConfig document in the file")]
    NoDeploymentConfig,
    /// The file holds several DeploymentConfigs and none was named.
    #[error("{count} DeploymentConfig documents in the file: name the application and environment")]
    Ambiguous {
        /// How many there are.
        count: usize,
    },
    /// No DeploymentConfig of that application in that environment.
    #[error("no DeploymentConfig '{application}' for environment '{environment}' in the file")]
    NotFound {
        /// The application asked for.
        application: String,
        /// The environment asked for.
        environment: String,
    },
    /// The DeploymentConfig has no `spec`, or `spec` is not a mapping.
    #[error("line {line}: DeploymentConfig has no spec mapping")]
    MissingSpec {
        /// Line of the document or of the `spec` value.
        line: usize,
    },
    /// `spec.version` is a list, a mapping or an alias.
    #[error("line {line}: spec.version is {found}, not a scalar")]
    NotScalar {
        /// Line of the value.
        line: usize,
        /// What it is instead.
        found: &'static str,
    },
    /// The layout is valid YAML that this editor cannot change without touching anything else.
    #[error("line {line}: cannot edit spec.version in place: {reason}")]
    Unsupported {
        /// Line concerned.
        line: usize,
        /// Why.
        reason: &'static str,
    },
    /// The new version is not a valid image tag.
    #[error("'{version}' is not a valid version: {reason}")]
    InvalidVersion {
        /// The rejected value.
        version: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Returns `text` with `spec.version` of the selected DeploymentConfig set to `version`.
///
/// The new value is written plain, unless the old value was quoted (its quote style is kept) or
/// a plain scalar would not read back as a string (`1.0`, `true`, `null`: then double quotes).
/// A missing `version` is added as the last key of `spec`, at the indentation of its other keys.
///
/// ```
/// use cd_core::manifest::{Selector, set_version};
///
/// let text = "kind: DeploymentConfig\nspec:\n  version: '1.0' # pinned by hand\n";
/// let edited = set_version(text, Selector::Only, "v1.1.0").unwrap();
/// assert_eq!(edited, "kind: DeploymentConfig\nspec:\n  version: 'v1.1.0' # pinned by hand\n");
/// // A value that is no image tag changes nothing.
/// assert!(set_version(text, Selector::Only, "v1.1 .0").is_err());
/// ```
///
/// # Errors
/// An [`EditError`] naming what is wrong; the text is then not changed.
pub fn set_version(text: &str, selector: Selector<'_>, version: &str) -> Result<String, EditError> {
    check_version(version)?;
    let docs = yaml::parse(text).map_err(|e| EditError::Syntax {
        line: e.line,
        message: e.message,
    })?;
    let index = select(&docs, selector)?;
    let doc = docs.get(index).ok_or(EditError::NoDeploymentConfig)?;
    let root = doc.root().ok_or(EditError::NoDeploymentConfig)?;
    let line_of = |id: NodeId| doc.raw(id).map_or(1, |n| n.start.line);
    let spec = doc.get(root, "spec").ok_or(EditError::MissingSpec {
        line: line_of(root),
    })?;
    if doc.entries(spec).is_none() {
        return Err(EditError::MissingSpec {
            line: line_of(spec),
        });
    }
    let edited = match own_version_entry(doc, spec)? {
        Some(value) => replace_value(text, doc, value, version)?,
        None => add_version(text, doc, spec, version)?,
    };
    verify(&edited, &docs, index, version)?;
    Ok(edited)
}

/// OCI tag grammar: the version is written as an image tag, so it must be one.
fn check_version(version: &str) -> Result<(), EditError> {
    let invalid = |reason| EditError::InvalidVersion {
        version: version.to_string(),
        reason,
    };
    let mut chars = version.chars();
    match chars.next() {
        None => return Err(invalid("it is empty")),
        Some(c) if !(c.is_ascii_alphanumeric() || c == '_') => {
            return Err(invalid("an image tag starts with a letter, digit or '_'"));
        }
        Some(_) => {}
    }
    if version.len() > 128 {
        return Err(invalid("an image tag has at most 128 characters"));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(invalid(
            "an image tag holds only letters, digits, '_', '.' and '-'",
        ));
    }
    Ok(())
}

fn is_deployment_config(doc: &Doc) -> bool {
    doc.root().is_some_and(|root| {
        doc.get(root, "kind").and_then(|k| doc.scalar(k)) == Some("DeploymentConfig")
            && doc
                .get(root, "apiVersion")
                .and_then(|a| doc.scalar(a))
                .is_none_or(|a| a == API_VERSION)
    })
}

fn select(docs: &[Doc], selector: Selector<'_>) -> Result<usize, EditError> {
    let candidates: Vec<usize> = (0..docs.len())
        .filter(|i| docs.get(*i).is_some_and(is_deployment_config))
        .collect();
    match selector {
        Selector::Only => match candidates.as_slice() {
            [] => Err(EditError::NoDeploymentConfig),
            [one] => Ok(*one),
            many => Err(EditError::Ambiguous { count: many.len() }),
        },
        Selector::Named {
            application,
            environment,
        } => {
            let field = |doc: &Doc, key: &str| {
                let meta = doc.root().and_then(|r| doc.get(r, "metadata"))?;
                doc.get(meta, key)
                    .and_then(|n| doc.scalar(n))
                    .map(str::to_string)
            };
            candidates
                .into_iter()
                .find(|i| {
                    docs.get(*i).is_some_and(|d| {
                        field(d, "name").as_deref() == Some(application)
                            && field(d, "environment").as_deref() == Some(environment)
                    })
                })
                .ok_or_else(|| EditError::NotFound {
                    application: application.to_string(),
                    environment: environment.to_string(),
                })
        }
    }
}

/// The value node of `version` written directly in `spec` (a value merged in through `<<` is
/// not ours to edit: it belongs to the anchor).
fn own_version_entry(doc: &Doc, spec: NodeId) -> Result<Option<NodeId>, EditError> {
    let entries = doc.entries(spec).unwrap_or_default();
    let mut found = entries.iter().filter(|(k, _)| match doc.raw(*k) {
        Some(node) => matches!(&node.kind, NodeKind::Scalar { value, .. } if value == "version"),
        None => false,
    });
    let first = found.next().map(|(_, v)| *v);
    if let Some((k, _)) = found.next() {
        return Err(EditError::Unsupported {
            line: doc.raw(*k).map_or(1, |n| n.start.line),
            reason: "spec.version is written twice",
        });
    }
    Ok(first)
}

/// Would a YAML reader (1.2 core schema, or 1.1 as some tools still use) take this plain
/// scalar for something other than a string?
fn plain_is_not_string(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "null" | "~" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) || matches!(lower.as_str(), ".inf" | "-.inf" | "+.inf" | ".nan")
    {
        return true;
    }
    let digits = v.trim_start_matches(['-', '+']);
    if lower.starts_with("0x") || lower.starts_with("0o") {
        return true;
    }
    // Integers and floats: digits with at most one '.', optionally an exponent.
    let (mantissa, exponent) = match digits.find(['e', 'E']) {
        Some(at) => (digits.get(..at).unwrap_or(""), digits.get(at + 1..)),
        None => (digits, None),
    };
    let mantissa_ok = !mantissa.is_empty()
        && mantissa.chars().filter(|c| *c == '.').count() <= 1
        && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.')
        && mantissa.chars().any(|c| c.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.trim_start_matches(['-', '+']);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

fn plain_or_quoted(version: &str) -> String {
    if plain_is_not_string(version) {
        format!("\"{version}\"")
    } else {
        version.to_string()
    }
}

fn replace_value(text: &str, doc: &Doc, value: NodeId, version: &str) -> Result<String, EditError> {
    let node = doc.raw(value).ok_or(EditError::NoDeploymentConfig)?;
    let line = node.start.line;
    let (old, style) = match &node.kind {
        NodeKind::Scalar { value, style } => (value.as_str(), *style),
        NodeKind::Seq(_) => {
            return Err(EditError::NotScalar {
                line,
                found: "a list",
            });
        }
        NodeKind::Map(_) => {
            return Err(EditError::NotScalar {
                line,
                found: "a mapping",
            });
        }
        NodeKind::Alias(_) => {
            return Err(EditError::NotScalar {
                line,
                found: "an alias",
            });
        }
    };
    let unsupported = |reason| EditError::Unsupported { line, reason };
    let start = node.start.byte;
    let rest = text
        .get(start..)
        .ok_or(unsupported("position out of range"))?;
    let (len, replacement) = match style {
        Style::Block => return Err(unsupported("spec.version is a block scalar")),
        Style::Plain if old.is_empty() => {
            // `version:` with no value: the parser places the empty scalar on the colon.
            return if rest.starts_with(':') {
                Ok(splice(
                    text,
                    start + 1,
                    0,
                    &format!(" {}", plain_or_quoted(version)),
                ))
            } else {
                Err(unsupported(
                    "spec.version has an empty value in an unexpected place",
                ))
            };
        }
        Style::Plain => {
            if !rest.starts_with(old) {
                return Err(unsupported("spec.version is not written on one line"));
            }
            (old.len(), plain_or_quoted(version))
        }
        Style::SingleQuoted => (
            quoted_len(rest, '\'').ok_or(unsupported("spec.version is not quoted on one line"))?,
            format!("'{version}'"),
        ),
        Style::DoubleQuoted => (
            quoted_len(rest, '"').ok_or(unsupported("spec.version is not quoted on one line"))?,
            format!("\"{version}\""),
        ),
    };
    Ok(splice(text, start, len, &replacement))
}

/// `text` with the `len` bytes at `at` replaced by `with`.
fn splice(text: &str, at: usize, len: usize, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(text.get(..at).unwrap_or_default());
    out.push_str(with);
    out.push_str(text.get(at + len..).unwrap_or_default());
    out
}

/// Length in bytes of a quoted scalar at the start of `s`, quotes included, when it ends on the
/// same line. (The parser's own end position for quoted scalars can run past the closing quote.)
fn quoted_len(s: &str, quote: char) -> Option<usize> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != quote {
        return None;
    }
    while let Some((i, c)) = chars.next() {
        match c {
            '\n' | '\r' => return None,
            '\\' if quote == '"' => {
                chars.next();
            }
            c if c == quote => {
                // In single quotes, '' is an escaped quote.
                if quote == '\'' && s.get(i + 1..).is_some_and(|r| r.starts_with('\'')) {
                    chars.next();
                    continue;
                }
                return Some(i + 1);
            }
            _ => {}
        }
    }
    None
}

fn add_version(text: &str, doc: &Doc, spec: NodeId, version: &str) -> Result<String, EditError> {
    let spec_node = doc.raw(spec).ok_or(EditError::NoDeploymentConfig)?;
    let line = spec_node.start.line;
    if text
        .get(spec_node.start.byte..)
        .is_some_and(|r| r.starts_with('{'))
    {
        return Err(EditError::Unsupported {
            line,
            reason: "spec is a flow mapping ({...})",
        });
    }
    let entries = doc.entries(spec).unwrap_or_default();
    let first_key =
        entries
            .first()
            .and_then(|(k, _)| doc.raw(*k))
            .ok_or(EditError::Unsupported {
                line,
                reason: "spec is empty",
            })?;
    let indent = first_key.start.col;
    let lines = line_spans(text);
    // The spec block runs until the first line indented less than its keys that is not blank
    // or a comment, or a document marker.
    let first_line = first_key.start.line; // 1-based
    let blocks = block_scalar_lines(doc, spec);
    let in_block = |line: usize| blocks.iter().any(|(s, e)| (*s..=*e).contains(&line));
    let mut last_content = first_line;
    for (n, (from, to)) in lines.iter().enumerate().skip(first_line) {
        let line_no = n + 1;
        if in_block(line_no) {
            // Lines of a block scalar may look like comments or sit at any depth.
            last_content = line_no;
            continue;
        }
        let body = text
            .get(*from..*to)
            .unwrap_or_default()
            .trim_end_matches(['\n', '\r']);
        let trimmed = body.trim_start_matches(' ');
        if body.starts_with("---") || body.starts_with("...") {
            break;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if body.len() - trimmed.len() < indent {
            break;
        }
        last_content = line_no;
    }
    let (_, end) = lines
        .get(last_content.saturating_sub(1))
        .copied()
        .unwrap_or((text.len(), text.len()));
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let new_line = format!(
        "{}version: {}",
        " ".repeat(indent),
        plain_or_quoted(version)
    );
    let mut out = String::with_capacity(text.len() + new_line.len() + 2);
    let head = text.get(..end).unwrap_or_default();
    out.push_str(head);
    if head.ends_with('\n') {
        out.push_str(&new_line);
        out.push_str(eol);
    } else {
        out.push_str(eol);
        out.push_str(&new_line);
    }
    out.push_str(text.get(end..).unwrap_or_default());
    Ok(out)
}

/// First and last line of the content of every block scalar (`|`, `>`) under `node`.
fn block_scalar_lines(doc: &Doc, node: NodeId) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut stack = vec![node];
    while let Some(id) = stack.pop() {
        match doc.raw(id).map(|n| (&n.kind, n.start.line)) {
            Some((NodeKind::Map(entries), _)) => stack.extend(entries.iter().map(|(_, v)| *v)),
            Some((NodeKind::Seq(items), _)) => stack.extend(items.iter().copied()),
            Some((
                NodeKind::Scalar {
                    value,
                    style: Style::Block,
                },
                start,
            )) => {
                // The parser places a block scalar at its first content line.
                let lines = value.trim_end_matches('\n').lines().count().max(1);
                ranges.push((start, start + lines - 1));
            }
            _ => {}
        }
    }
    ranges
}

/// Byte ranges of every line, line ending included.
fn line_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            spans.push((from, i + 1));
            from = i + 1;
        }
    }
    if from < text.len() {
        spans.push((from, text.len()));
    }
    spans
}

/// Parses the edited text and checks that exactly the one value changed.
fn verify(edited: &str, before: &[Doc], index: usize, version: &str) -> Result<(), EditError> {
    let refuse = |reason| EditError::Unsupported { line: 1, reason };
    let after = yaml::parse(edited).map_err(|_| refuse("the edit would break the YAML"))?;
    if after.len() != before.len() {
        return Err(refuse("the edit would change the documents"));
    }
    for (i, (a, b)) in after.iter().zip(before).enumerate() {
        let skip = i == index;
        if fingerprint(a, skip) != fingerprint(b, skip) {
            return Err(refuse("the edit would change more than spec.version"));
        }
    }
    let doc = after.get(index).ok_or(refuse("document lost"))?;
    let got = doc
        .root()
        .and_then(|r| doc.get(r, "spec"))
        .and_then(|s| doc.get(s, "version"))
        .and_then(|v| doc.scalar(v));
    if got != Some(version) {
        return Err(refuse("the edited file does not read back the new version"));
    }
    Ok(())
}

/// A canonical rendering of a document's content, leaving out `spec.version` when asked.
fn fingerprint(doc: &Doc, skip_version: bool) -> String {
    let mut out = String::new();
    let Some(root) = doc.root() else {
        return out;
    };
    let spec = doc.get(root, "spec");
    let mut stack = vec![Some(root)];
    while let Some(item) = stack.pop() {
        let Some(id) = item else {
            out.push(')');
            continue;
        };
        match doc.raw(id).map(|n| &n.kind) {
            Some(NodeKind::Scalar { value, .. }) => {
                out.push_str(&format!("{}:{value};", value.len()));
            }
            Some(NodeKind::Alias(target)) => {
                let shown = target.and_then(|t| doc.scalar(t)).unwrap_or("");
                out.push_str(&format!("*{}:{shown};", shown.len()));
            }
            Some(NodeKind::Seq(items)) => {
                out.push_str("[(");
                stack.push(None);
                stack.extend(items.iter().rev().map(|i| Some(*i)));
            }
            Some(NodeKind::Map(entries)) => {
                out.push_str("{(");
                stack.push(None);
                for (k, v) in entries.iter().rev() {
                    if skip_version
                        && Some(id) == spec
                        && doc.raw(*k).is_some_and(|n| {
                            matches!(&n.kind, NodeKind::Scalar { value, .. } if value == "version")
                        })
                    {
                        continue;
                    }
                    stack.push(Some(*v));
                    stack.push(Some(*k));
                }
            }
            None => {}
        }
    }
    out
}
