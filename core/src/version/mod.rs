//! Versions and tags: what a CI build is tagged with, RC and production tags of a release
//! bundle, and the conventional-commit rules that pick the bump.

mod compute;
mod conventional;
mod order_key;
mod tag;

pub use compute::{
    Bump, ComputedVersion, FIRST_BASE, ReleaseType, UnknownReleaseType, VersionError,
    VersionInputs, base_version, compute_version,
};
pub use conventional::{
    ALLOWED_TYPES, CommitError, ConventionalCommit, DEPENDABOT, PrLabels, RELEASE_LABELS,
    TitleVerdict, check_pr_title, parse_header, parse_message,
};
pub use order_key::order_key;
pub use tag::{
    BundleError, MAX_BUNDLE, TagError, check_bundle, is_valid_image_tag, next_suffix,
    production_tag, rc_prefix, rc_tag, release_version, suffix_number,
};
