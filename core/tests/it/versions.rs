use cd_core::version::{
    Bump, ReleaseType, VersionError, VersionInputs, base_version, compute_version, order_key,
    release_version,
};
use proptest::prelude::*;

fn inputs(
    release_type: ReleaseType,
    labels: &[&str],
    merged: &[&str],
    all: &[&str],
) -> VersionInputs {
    let merged: Vec<String> = merged.iter().map(|s| s.to_string()).collect();
    let mut all_tags: Vec<String> = all.iter().map(|s| s.to_string()).collect();
    all_tags.extend(merged.iter().cloned());
    VersionInputs {
        bump: Some(Bump::from_labels(labels)),
        release_type: Some(release_type),
        merged_tags: merged,
        head_tags: vec![],
        all_tags,
    }
}

#[test]
fn latest_bumps_the_highest_merged_release_tag_by_the_labels() {
    let merged = [
        "v1.2.3",
        "v1.10.0",
        "v1.9.9",
        "v2.0.0-alpha.1",
        "v1.10.0-hotfix.0",
        "x1.0.0",
    ];
    let v = compute_version(&inputs(ReleaseType::Latest, &[], &merged, &["v3.0.0"])).unwrap();
    assert_eq!(
        (v.current_version.as_str(), v.target_version.as_str()),
        ("v1.10.0", "v1.10.1")
    );
    let v = compute_version(&inputs(
        ReleaseType::Latest,
        &["release/minor", "bug"],
        &merged,
        &[],
    ))
    .unwrap();
    assert_eq!(v.target_version, "v1.11.0");
    let v = compute_version(&inputs(
        ReleaseType::Latest,
        &["release/minor", "release/major"],
        &merged,
        &[],
    ))
    .unwrap();
    assert_eq!(v.target_version, "v2.0.0");
    assert!(!v.skip);
}

#[test]
fn labels_match_whole_names_only() {
    assert_eq!(Bump::from_labels(&["prerelease/major-thing"]), Bump::Patch);
    assert_eq!(Bump::from_labels(&["release/patch"]), Bump::Patch);
    assert_eq!(Bump::from_labels::<&str>(&[]), Bump::Patch);
}

#[test]
fn no_tags_start_from_zero() {
    let v = compute_version(&inputs(ReleaseType::Latest, &[], &[], &[])).unwrap();
    assert_eq!(
        (v.current_version.as_str(), v.target_version.as_str()),
        ("v0.0.0", "v0.0.1")
    );
}

#[test]
fn pre_release_types_number_from_zero_on_the_unbumped_base() {
    let merged = ["v2.4.12"];
    let v = compute_version(&inputs(
        ReleaseType::Hotfix,
        &["release/major"],
        &merged,
        &[],
    ))
    .unwrap();
    assert_eq!(v.target_version, "v2.4.12-hotfix.0");
    let all = [
        "v2.4.12-beta.0",
        "v2.4.12-beta.1",
        "v2.4.12-beta.x",
        "v2.4.11-beta.7",
    ];
    let v = compute_version(&inputs(ReleaseType::Beta, &[], &merged, &all)).unwrap();
    assert_eq!(v.target_version, "v2.4.12-beta.2");
    let v = compute_version(&inputs(ReleaseType::Alpha, &[], &merged, &all)).unwrap();
    assert_eq!(v.target_version, "v2.4.12-alpha.0");
}

#[test]
fn none_skips_without_a_tag() {
    let v = compute_version(&inputs(ReleaseType::None, &[], &["v1.0.0"], &[])).unwrap();
    assert!(v.skip);
    assert_eq!(v.target_version, "v1.0.0");
}

#[test]
fn a_rerun_on_a_tagged_head_skips_and_reports_that_tag() {
    let mut i = inputs(ReleaseType::Latest, &[], &["v1.0.0", "v1.0.1"], &[]);
    i.head_tags = vec!["v1.0.1".into(), "deploy-marker".into()];
    let v = compute_version(&i).unwrap();
    assert!(v.skip);
    assert_eq!(v.current_version, "v1.0.1");
    assert_eq!(v.target_version, "v1.0.1");
}

#[test]
fn a_computed_tag_on_another_commit_is_an_error_that_still_reports_the_base() {
    // v1.0.1 exists but is not merged into HEAD (a side branch was tagged).
    let err =
        compute_version(&inputs(ReleaseType::Latest, &[], &["v1.0.0"], &["v1.0.1"])).unwrap_err();
    assert_eq!(
        err,
        VersionError::TagExists {
            current_version: "v1.0.0".into(),
            target_version: "v1.0.1".into()
        }
    );
    assert_eq!(err.current_version(), "v1.0.0");
}

#[test]
fn release_types_parse_case_insensitively() {
    assert_eq!(
        "hotfix".parse::<ReleaseType>().unwrap(),
        ReleaseType::Hotfix
    );
    assert!(
        "RELEASE"
            .parse::<ReleaseType>()
            .unwrap_err()
            .to_string()
            .contains("LATEST, ALPHA")
    );
}

/// The oracle: parse `vX.Y.Z` by hand (no leading zeros) and compare numerically as tuples.
fn oracle_base(tags: &[String]) -> (u64, u64, u64) {
    tags.iter()
        .filter_map(|t| {
            let parts: Vec<&str> = t.strip_prefix('v')?.split('.').collect();
            if parts.len() != 3 {
                return None;
            }
            let mut n = [0u64; 3];
            for (slot, p) in n.iter_mut().zip(&parts) {
                if p.is_empty()
                    || !p.bytes().all(|b| b.is_ascii_digit())
                    || (p.len() > 1 && p.starts_with('0'))
                {
                    return None;
                }
                *slot = p.parse().ok()?;
            }
            Some((n[0], n[1], n[2]))
        })
        .max()
        .unwrap_or((0, 0, 0))
}

fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..4, 0u64..12, 0u64..12).prop_map(|(a, b, c)| format!("v{a}.{b}.{c}")),
        (0u64..4, 0u64..12, 0u64..12, 0u64..3)
            .prop_map(|(a, b, c, n)| format!("v{a}.{b}.{c}-hotfix.{n}")),
        (0u64..4, 0u64..12).prop_map(|(a, b)| format!("v0{a}.{b}.0")),
        "[a-z]{1,5}",
        Just("v1.2".to_string()),
    ]
}

/// A semver version, with pre-release identifiers that stress the ordering rules: numeric ones
/// of different lengths, alphanumeric ones that are prefixes of each other, hyphens.
fn semver_text() -> impl Strategy<Value = String> {
    let identifier = prop_oneof![
        "0|[1-9][0-9]{0,3}",
        "[a-zA-Z-][a-zA-Z0-9-]{0,3}",
        Just("rc".to_string()),
        Just("rc-1".to_string()),
    ];
    (
        0u64..3,
        0u64..3,
        0u64..3,
        proptest::collection::vec(identifier, 0..4),
        proptest::option::of("[a-z0-9]{1,4}"),
        any::<bool>(),
    )
        .prop_map(|(a, b, c, pre, build, v)| {
            let mut text = format!("{}{a}.{b}.{c}", if v { "v" } else { "" });
            if !pre.is_empty() {
                text.push('-');
                text.push_str(&pre.join("."));
            }
            if let Some(build) = build {
                text.push('+');
                text.push_str(&build);
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Order keys sort as semver's precedence, so a store's range scan over them is a version
    /// range; anything semver does not parse has none.
    #[test]
    fn order_keys_sort_as_semver_precedence(a in semver_text(), b in semver_text(), junk in "[a-z]{1,6}") {
        let parse = |t: &str| semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).unwrap();
        let (ka, kb) = (order_key(&a).unwrap(), order_key(&b).unwrap());
        prop_assert_eq!(ka.cmp(&kb), parse(&a).cmp_precedence(&parse(&b)), "{} {}", a, b);
        prop_assert_eq!(order_key(&junk), None);
    }

    /// Release tags are exactly what semver parses without pre-release or build parts.
    #[test]
    fn release_tags_are_what_semver_parses(
        tag in "v?[0-9.a-z+-]{0,12}|v(0|[1-9][0-9]{0,20}|0[0-9])\\.[0-9]{1,3}\\.[0-9]{1,21}",
    ) {
        let by_semver = tag
            .strip_prefix('v')
            .and_then(|v| semver::Version::parse(v).ok())
            .filter(|v| v.pre.is_empty() && v.build.is_empty());
        prop_assert_eq!(release_version(&tag), by_semver);
    }

    #[test]
    fn base_is_the_numeric_maximum_of_release_tags(tags in proptest::collection::vec(tag(), 0..30)) {
        let base = base_version(&tags);
        prop_assert_eq!((base.major, base.minor, base.patch), oracle_base(&tags));
    }

    #[test]
    fn latest_target_is_the_bumped_base_and_never_an_existing_tag(
        merged in proptest::collection::vec(tag(), 0..20),
        others in proptest::collection::vec(tag(), 0..20),
        bump in prop_oneof![Just(Bump::Patch), Just(Bump::Minor), Just(Bump::Major)],
    ) {
        let mut all = merged.clone();
        all.extend(others);
        let i = VersionInputs { bump: Some(bump), release_type: Some(ReleaseType::Latest), merged_tags: merged.clone(), head_tags: vec![], all_tags: all.clone() };
        let (a, b, c) = oracle_base(&merged);
        let expected = match bump {
            Bump::Major => format!("v{}.0.0", a + 1),
            Bump::Minor => format!("v{a}.{}.0", b + 1),
            Bump::Patch => format!("v{a}.{b}.{}", c + 1),
        };
        match compute_version(&i) {
            Ok(v) => {
                prop_assert_eq!(&v.target_version, &expected);
                prop_assert!(!all.contains(&v.target_version));
                prop_assert_eq!(v.current_version, format!("v{a}.{b}.{c}"));
            }
            Err(VersionError::TagExists { target_version, .. }) => {
                prop_assert_eq!(&target_version, &expected);
                prop_assert!(all.contains(&target_version));
            }
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        }
    }

    #[test]
    fn pre_release_number_counts_existing_ones_for_the_base(existing in 0u64..20, noise in proptest::collection::vec(tag(), 0..10)) {
        let mut all: Vec<String> = (0..existing).map(|n| format!("v3.1.4-alpha.{n}")).collect();
        all.extend(noise.into_iter().filter(|t| !t.starts_with("v3.1.4-alpha.")));
        let i = VersionInputs { bump: None, release_type: Some(ReleaseType::Alpha), merged_tags: vec!["v3.1.4".into()], head_tags: vec![], all_tags: all };
        let v = compute_version(&i).unwrap();
        prop_assert_eq!(v.target_version, format!("v3.1.4-alpha.{existing}"));
    }
}
