//! Properties of the branch strategies: their configurations never overlap, the one rule
//! `compute-version` uses agrees with them, and every release type is reachable.

use cd_core::manifest::BranchStrategy;
use cd_core::version::ReleaseType;
use cd_workflows::branching::{CONVENTIONAL_PREFIXES, branch_configs, config_of, release_type_of};
use cd_workflows::glob;
use proptest::prelude::*;

/// Branch names built from the words the strategies use, and some they do not.
fn branch() -> impl Strategy<Value = String> {
    let first = prop_oneof![
        Just("main".to_string()),
        Just("develop".to_string()),
        Just("release".to_string()),
        Just("hotfix".to_string()),
        Just("master".to_string()),
        Just("revert-12-feat".to_string()),
        proptest::sample::select(CONVENTIONAL_PREFIXES.to_vec()).prop_map(str::to_string),
        "[a-z]{1,6}",
    ];
    // Git refuses empty segments (`a//b`), so names have none.
    (
        first,
        proptest::collection::vec("[a-z0-9][a-z0-9.]{0,5}", 0..4),
    )
        .prop_map(|(f, rest)| std::iter::once(f).chain(rest).collect::<Vec<_>>().join("/"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn at_most_one_configuration_covers_a_branch(name in branch()) {
        for strategy in BranchStrategy::ALL {
            let covering: Vec<&str> = branch_configs(*strategy)
                .iter()
                .filter(|c| c.covers(&name))
                .map(|c| c.id)
                .collect();
            prop_assert!(covering.len() <= 1, "{strategy}: {name} in {covering:?}");
            // compute-version's rule is the configurations' own.
            let expected = config_of(*strategy, &name).map_or(ReleaseType::None, |c| c.release_type);
            prop_assert_eq!(release_type_of(*strategy, &name), expected);
        }
    }

    #[test]
    fn patterns_cross_segments_only_where_they_say_so(name in branch()) {
        // `release/*/*` covers exactly three segments under release/.
        let parts: Vec<&str> = name.split('/').collect();
        let three = parts.len() == 3 && parts[0] == "release";
        prop_assert_eq!(glob::matches("release/*/*", &name), three);
    }
}

#[test]
fn every_release_type_is_reachable_and_every_pattern_supported() {
    let mut reached = std::collections::BTreeSet::new();
    for strategy in BranchStrategy::ALL {
        let configs = branch_configs(*strategy);
        let ids: std::collections::BTreeSet<&str> = configs.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), configs.len(), "{strategy}: ids are unique");
        for c in &configs {
            assert!(
                c.patterns.iter().all(|p| glob::is_supported(p)),
                "{strategy}: {:?}",
                c.patterns
            );
            reached.insert(c.release_type.as_str());
            // A protected branch has a reviewer and the gate.
            if c.is_protected() {
                assert_eq!(c.required_reviewers, 1);
                assert_eq!(
                    c.required_checks,
                    vec![cd_workflows::branching::MERGE_AUTHORIZED]
                );
            }
        }
        reached.insert(release_type_of(*strategy, "no-such/branch").as_str());
    }
    let all: std::collections::BTreeSet<&str> =
        ReleaseType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(reached, all);
}
