//! `compute_version`: the version a CI build produces, from labels, branch type and tags.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::tag::{next_suffix, release_version};

/// What kind of version a branch produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReleaseType {
    /// A release: `vX.Y.Z`, bumped from the base.
    Latest,
    /// `<base>-alpha.<n>`.
    Alpha,
    /// `<base>-beta.<n>`.
    Beta,
    /// `<base>-hotfix.<n>`.
    Hotfix,
    /// No version: the build is not tagged.
    None,
}

impl ReleaseType {
    /// The spelling used in workflows and on the command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseType::Latest => "LATEST",
            ReleaseType::Alpha => "ALPHA",
            ReleaseType::Beta => "BETA",
            ReleaseType::Hotfix => "HOTFIX",
            ReleaseType::None => "NONE",
        }
    }

    /// Every release type.
    pub const ALL: [ReleaseType; 5] = [
        ReleaseType::Latest,
        ReleaseType::Alpha,
        ReleaseType::Beta,
        ReleaseType::Hotfix,
        ReleaseType::None,
    ];

    /// The pre-release word for ALPHA, BETA and HOTFIX.
    fn pre_release_word(self) -> Option<&'static str> {
        match self {
            ReleaseType::Alpha => Some("alpha"),
            ReleaseType::Beta => Some("beta"),
            ReleaseType::Hotfix => Some("hotfix"),
            ReleaseType::Latest | ReleaseType::None => None,
        }
    }
}

impl fmt::Display for ReleaseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A release type that is not one of LATEST, ALPHA, BETA, HOTFIX, NONE.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown release type '{0}': expected one of LATEST, ALPHA, BETA, HOTFIX, NONE")]
pub struct UnknownReleaseType(pub String);

impl FromStr for ReleaseType {
    type Err = UnknownReleaseType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReleaseType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownReleaseType(s.to_string()))
    }
}

/// Which part of the version a release bumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    /// `vX.Y.Z` -> `vX.Y.(Z+1)`, the default.
    Patch,
    /// `vX.Y.Z` -> `vX.(Y+1).0`, label `release/minor`.
    Minor,
    /// `vX.Y.Z` -> `v(X+1).0.0`, label `release/major`.
    Major,
}

impl Bump {
    /// The bump the PR labels ask for: `release/major` > `release/minor` > patch. Labels are
    /// matched whole, so `prerelease/major-x` does not count.
    #[must_use]
    pub fn from_labels<S: AsRef<str>>(labels: &[S]) -> Bump {
        let has = |l: &str| labels.iter().any(|x| x.as_ref().trim() == l);
        if has("release/major") {
            Bump::Major
        } else if has("release/minor") {
            Bump::Minor
        } else {
            Bump::Patch
        }
    }
}

/// Everything `compute_version` looks at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionInputs {
    /// The bump level, usually [`Bump::from_labels`] of the PR's labels.
    pub bump: Option<Bump>,
    /// The branch's release type; `None` here means LATEST.
    pub release_type: Option<ReleaseType>,
    /// Tags reachable from HEAD (merged into it).
    pub merged_tags: Vec<String>,
    /// Tags pointing at HEAD itself.
    pub head_tags: Vec<String>,
    /// Every tag of the repository.
    pub all_tags: Vec<String>,
}

/// What `compute_version` decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComputedVersion {
    /// The base: the highest `vX.Y.Z` merged into HEAD, else `v0.0.0`.
    pub current_version: String,
    /// The version this build is tagged with (or, when skipping a rerun, the tag HEAD has).
    pub target_version: String,
    /// True when nothing should be tagged or built: NONE, or HEAD already carries a version.
    pub skip: bool,
    /// The release type used.
    pub release_type: ReleaseType,
    /// The bump used for LATEST.
    pub bump: Bump,
}

/// Why no version could be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// The computed tag already exists on another commit: tagging would move or clash with it.
    #[error(
        "tag {target_version} already exists on another commit (base {current_version}); \
         refusing to reuse it"
    )]
    TagExists {
        /// The base, still reported.
        current_version: String,
        /// The computed tag that exists.
        target_version: String,
    },
    /// The bump would overflow a version number.
    #[error("bumping {current_version} overflows a version number")]
    Overflow {
        /// The base, still reported.
        current_version: String,
    },
}

impl VersionError {
    /// The base version, which callers print even when they then fail.
    #[must_use]
    pub fn current_version(&self) -> &str {
        match self {
            VersionError::TagExists {
                current_version, ..
            }
            | VersionError::Overflow { current_version } => current_version,
        }
    }
}

/// The base of a repository without release tags: the version a first release bumps, a tag
/// that never exists.
pub const FIRST_BASE: &str = "v0.0.0";

/// The base version: the highest `vX.Y.Z` tag among `merged_tags`, else `v0.0.0`.
#[must_use]
pub fn base_version<S: AsRef<str>>(merged_tags: &[S]) -> semver::Version {
    merged_tags
        .iter()
        .filter_map(|t| release_version(t.as_ref()))
        .max()
        .unwrap_or(semver::Version::new(0, 0, 0))
}

/// Computes the version of a build, following the seed's rules:
///
/// - LATEST: bump the base (`release/major` > `release/minor` > patch);
/// - ALPHA, BETA, HOTFIX: `<base>-<type>.<n>`, the base not bumped, `n` one more than the highest
///   existing `n` for that base and type (0 when none). Semver orders `v1.2.3-hotfix.0` *below*
///   `v1.2.3`; it is still what the platform ships;
/// - NONE: no tag (`skip`);
/// - HEAD already carrying a `v<digit>…` tag: skip (a rerun), reporting that tag as target.
///
/// ```
/// use cd_core::version::{Bump, ReleaseType, VersionInputs, compute_version};
///
/// let tags = vec!["v1.2.0".to_string(), "v1.3.0-beta.0".to_string()];
/// let latest = compute_version(&VersionInputs {
///     bump: Some(Bump::from_labels(&["release/minor"])),
///     merged_tags: tags.clone(),
///     all_tags: tags.clone(),
///     ..VersionInputs::default()
/// })
/// .unwrap();
/// assert_eq!((latest.current_version.as_str(), latest.target_version.as_str()), ("v1.2.0", "v1.3.0"));
///
/// let beta = compute_version(&VersionInputs {
///     release_type: Some(ReleaseType::Beta),
///     merged_tags: tags.clone(),
///     all_tags: vec!["v1.2.0".into(), "v1.2.0-beta.0".into()],
///     ..VersionInputs::default()
/// })
/// .unwrap();
/// assert_eq!(beta.target_version, "v1.2.0-beta.1");
/// ```
///
/// # Errors
/// [`VersionError::TagExists`] when the computed tag exists on another commit.
pub fn compute_version(inputs: &VersionInputs) -> Result<ComputedVersion, VersionError> {
    let base = base_version(&inputs.merged_tags);
    let current_version = format!("v{base}");
    let release_type = inputs.release_type.unwrap_or(ReleaseType::Latest);
    let bump = inputs.bump.unwrap_or(Bump::Patch);
    let (target_version, mut skip) = match release_type {
        ReleaseType::Latest => {
            let overflow = || VersionError::Overflow {
                current_version: current_version.clone(),
            };
            let next = match bump {
                Bump::Major => {
                    semver::Version::new(base.major.checked_add(1).ok_or_else(overflow)?, 0, 0)
                }
                Bump::Minor => semver::Version::new(
                    base.major,
                    base.minor.checked_add(1).ok_or_else(overflow)?,
                    0,
                ),
                Bump::Patch => semver::Version::new(
                    base.major,
                    base.minor,
                    base.patch.checked_add(1).ok_or_else(overflow)?,
                ),
            };
            (format!("v{next}"), false)
        }
        ReleaseType::Alpha | ReleaseType::Beta | ReleaseType::Hotfix => {
            let word = release_type.pre_release_word().unwrap_or_default();
            let prefix = format!("{current_version}-{word}.");
            let n = next_suffix(&prefix, inputs.all_tags.iter().map(String::as_str));
            (format!("{prefix}{n}"), false)
        }
        ReleaseType::None => (current_version.clone(), true),
    };
    let head_version = inputs
        .head_tags
        .iter()
        .filter(|t| is_version_like(t))
        .max_by(|a, b| compare_tags(a, b));
    let target_version = match head_version {
        Some(tag) => {
            skip = true;
            tag.clone()
        }
        None => {
            if !skip && inputs.all_tags.contains(&target_version) {
                return Err(VersionError::TagExists {
                    current_version,
                    target_version,
                });
            }
            target_version
        }
    };
    Ok(ComputedVersion {
        current_version,
        target_version,
        skip,
        release_type,
        bump,
    })
}

/// `v` followed by a digit: what the workflows treat as "this commit already has a version".
fn is_version_like(tag: &str) -> bool {
    tag.strip_prefix('v')
        .and_then(|r| r.chars().next())
        .is_some_and(|c| c.is_ascii_digit())
}

/// Orders tags by semver where both parse, else by name.
fn compare_tags(a: &str, b: &str) -> std::cmp::Ordering {
    let parse = |t: &str| {
        t.strip_prefix('v')
            .and_then(|v| semver::Version::parse(v).ok())
    };
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Greater,
        (None, Some(_)) => std::cmp::Ordering::Less,
        (None, None) => a.cmp(b),
    }
}
