//! Tag names: release tags (`vX.Y.Z`), numbered suffixes, RC and production tags of a bundle.

/// The version of a release tag `vX.Y.Z` (no pre-release, no build metadata), else `None`.
///
/// Numbers with leading zeros (`v01.2.3`) are not versions by semver's rules and do not count.
#[must_use]
pub fn release_version(tag: &str) -> Option<semver::Version> {
    // Read by hand rather than by `semver::Version::parse`: repositories hold thousands of
    // tags and CI reads them all on every build (the two agree, by a property test).
    let mut parts = tag.strip_prefix('v')?.split('.');
    let mut number = || -> Option<u64> {
        let digits = parts.next()?;
        let leading_zero = digits.len() > 1 && digits.starts_with('0');
        if digits.is_empty() || leading_zero || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let (major, minor, patch) = (number()?, number()?, number()?);
    parts
        .next()
        .is_none()
        .then(|| semver::Version::new(major, minor, patch))
}

/// The next number for tags named `<prefix><n>`: one more than the highest existing `n`, or 0.
///
/// When numbering has no gaps this equals the count of existing tags (the seed's rule); when a
/// tag in the middle is missing, counting would collide with an existing tag and this does not.
#[must_use]
pub fn next_suffix<'a>(prefix: &str, existing: impl IntoIterator<Item = &'a str>) -> u64 {
    existing
        .into_iter()
        .filter_map(|t| suffix_number(t, prefix))
        .max()
        .map_or(0, |n| n.saturating_add(1))
}

/// `n` when `tag` is exactly `<prefix><n>` with `n` decimal digits.
#[must_use]
pub fn suffix_number(tag: &str, prefix: &str) -> Option<u64> {
    let digits = tag.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether `tag` is a valid OCI image tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
#[must_use]
pub fn is_valid_image_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    first_ok
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Why a release tag could not be named.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TagError {
    /// The name built from the application set and bundle is not a valid image tag.
    #[error("'{0}' is not a valid image tag (letters, digits, '_', '.', '-'; at most 128)")]
    InvalidName(String),
    /// A production tag was asked for a tag that is not an RC tag.
    #[error("'{0}' is not an RC tag (<appSet>-<bundle>-rc.<N>)")]
    NotRc(String),
}

/// Why a bundle name was refused: the one grammar of bundle names, which makes each a part of
/// an image tag (`<appSet>-<bundle>-rc.<N>`) and a segment of a branch (`release/<appSet>/<bundle>`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Empty.
    #[error("a bundle needs a name")]
    Empty,
    /// Longer than [`MAX_BUNDLE`].
    #[error("'{0}' is longer than 64 characters")]
    TooLong(String),
    /// A character outside the grammar, or in a place it may not be.
    #[error(
        "'{0}' is not a bundle name: letters, digits, '.', '_' and '-', starting with a letter or digit, without '..' and not ending in '.' or '.lock'"
    )]
    Invalid(String),
}

/// The longest bundle name.
pub const MAX_BUNDLE: usize = 64;

/// Checks a bundle name against its grammar: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`, without `..`,
/// not ending in `.` or `.lock` (git refuses those in a branch name).
///
/// ```
/// use cd_core::version::{BundleError, check_bundle};
///
/// assert!(check_bundle("2026.11").is_ok());
/// assert_eq!(check_bundle(""), Err(BundleError::Empty));
/// assert!(check_bundle("2026/11").is_err());
/// assert!(check_bundle("-rc").is_err());
/// assert!(check_bundle("a..b").is_err());
/// ```
///
/// # Errors
/// The [`BundleError`] saying what is wrong.
pub fn check_bundle(bundle: &str) -> Result<(), BundleError> {
    if bundle.is_empty() {
        return Err(BundleError::Empty);
    }
    if bundle.len() > MAX_BUNDLE {
        return Err(BundleError::TooLong(bundle.to_string()));
    }
    let first_ok = bundle
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    let chars_ok = bundle
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !first_ok
        || !chars_ok
        || bundle.contains("..")
        || bundle.ends_with('.')
        || bundle.ends_with(".lock")
    {
        return Err(BundleError::Invalid(bundle.to_string()));
    }
    Ok(())
}

/// The RC tag prefix of a bundle: `<appSet>-<bundle>-rc.`.
#[must_use]
pub fn rc_prefix(application_set: &str, bundle: &str) -> String {
    format!("{application_set}-{bundle}-rc.")
}

/// The next RC tag of a bundle, `<appSet>-<bundle>-rc.<N>`, given the image's existing tags.
///
/// ```
/// use cd_core::version::{production_tag, rc_tag};
///
/// let existing = ["shop-2026.11-rc.0", "shop-2026.11-rc.1", "v1.4.0"];
/// let rc = rc_tag("shop", "2026.11", existing).unwrap();
/// assert_eq!(rc, "shop-2026.11-rc.2");
/// // Released: the clean tag, or a hotfix of it when the clean one exists.
/// assert_eq!(production_tag(&rc, existing).unwrap(), "shop-2026.11");
/// assert_eq!(
///     production_tag(&rc, ["shop-2026.11"]).unwrap(),
///     "shop-2026.11-hotfix.0"
/// );
/// ```
///
/// # Errors
/// [`TagError::InvalidName`] when the set or bundle name makes an invalid image tag.
pub fn rc_tag<'a>(
    application_set: &str,
    bundle: &str,
    existing: impl IntoIterator<Item = &'a str>,
) -> Result<String, TagError> {
    let prefix = rc_prefix(application_set, bundle);
    let tag = format!("{prefix}{}", next_suffix(&prefix, existing));
    if is_valid_image_tag(&tag) {
        Ok(tag)
    } else {
        Err(TagError::InvalidName(tag))
    }
}

/// The production tag for an RC tag: the RC suffix stripped, or, when that clean tag exists
/// already (a hotfix of a released bundle), `<clean>-hotfix.<M>` with the next `M`.
///
/// # Errors
/// [`TagError::NotRc`] when `rc` does not end in `-rc.<N>`.
pub fn production_tag<'a>(
    rc: &str,
    existing: impl IntoIterator<Item = &'a str> + Clone,
) -> Result<String, TagError> {
    let clean = rc
        .rfind("-rc.")
        .filter(|at| suffix_number(rc.get(*at..).unwrap_or_default(), "-rc.").is_some())
        .and_then(|at| rc.get(..at))
        .filter(|c| !c.is_empty())
        .ok_or_else(|| TagError::NotRc(rc.to_string()))?;
    if !existing.clone().into_iter().any(|t| t == clean) {
        return Ok(clean.to_string());
    }
    let prefix = format!("{clean}-hotfix.");
    let tag = format!("{prefix}{}", next_suffix(&prefix, existing));
    if is_valid_image_tag(&tag) {
        Ok(tag)
    } else {
        Err(TagError::InvalidName(tag))
    }
}
