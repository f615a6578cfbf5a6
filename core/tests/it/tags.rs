use cd_core::version::{TagError, is_valid_image_tag, production_tag, rc_tag};
use proptest::prelude::*;

#[test]
fn rc_tags_count_up_per_bundle() {
    let none: [&str; 0] = [];
    assert_eq!(
        rc_tag("shop", "2026.11", none).unwrap(),
        "shop-2026.11-rc.0"
    );
    let existing = [
        "shop-2026.11-rc.0",
        "shop-2026.11-rc.1",
        "shop-2026.1-rc.5",
        "shop-2026.11-rc.x",
        "v1.0.0",
    ];
    assert_eq!(
        rc_tag("shop", "2026.11", existing).unwrap(),
        "shop-2026.11-rc.2"
    );
    // A gap never makes the next tag collide with one that exists.
    assert_eq!(
        rc_tag("shop", "2026.11", ["shop-2026.11-rc.3"]).unwrap(),
        "shop-2026.11-rc.4"
    );
    assert_eq!(
        rc_tag("shop", "2026/11", none),
        Err(TagError::InvalidName("shop-2026/11-rc.0".into()))
    );
}

#[test]
fn production_tags_strip_the_rc_suffix_or_take_a_hotfix_variant() {
    let none: [&str; 0] = [];
    assert_eq!(
        production_tag("shop-2026.11-rc.2", none).unwrap(),
        "shop-2026.11"
    );
    let released = ["shop-2026.11", "shop-2026.11-hotfix.0"];
    assert_eq!(
        production_tag("shop-2026.11-rc.4", released).unwrap(),
        "shop-2026.11-hotfix.1"
    );
    assert!(matches!(
        production_tag("v1.2.3", none),
        Err(TagError::NotRc(_))
    ));
    assert!(matches!(
        production_tag("-rc.1", none),
        Err(TagError::NotRc(_))
    ));
    assert!(matches!(
        production_tag("a-rc.", none),
        Err(TagError::NotRc(_))
    ));
}

#[test]
fn image_tag_grammar() {
    assert!(is_valid_image_tag("v1.2.3-hotfix.0"));
    assert!(is_valid_image_tag("_x"));
    assert!(!is_valid_image_tag(""));
    assert!(!is_valid_image_tag("-x"));
    assert!(!is_valid_image_tag("a+b"));
    assert!(!is_valid_image_tag(&"a".repeat(129)));
}

proptest! {
    #[test]
    fn rc_number_equals_the_count_of_existing_rc_tags_of_that_bundle(
        n in 0usize..40,
        other_bundles in proptest::collection::vec((0u32..5, 0u32..9), 0..20),
    ) {
        let mut existing: Vec<String> = (0..n).map(|i| format!("web-2026.11-rc.{i}")).collect();
        // Other bundles and sets, including prefixes of this one, must not be counted.
        existing.extend(other_bundles.iter().map(|(b, i)| format!("web-2026.{b}-rc.{i}")));
        existing.extend(other_bundles.iter().map(|(_, i)| format!("webshop-2026.11-rc.{i}")));
        let tag = rc_tag("web", "2026.11", existing.iter().map(String::as_str)).unwrap();
        prop_assert_eq!(tag, format!("web-2026.11-rc.{n}"));
    }

    #[test]
    fn production_tag_never_names_an_existing_tag(hotfixes in 0usize..10, released in any::<bool>(), rc in 0u32..20) {
        let mut existing: Vec<String> = (0..hotfixes).map(|i| format!("s-b-hotfix.{i}")).collect();
        if released {
            existing.push("s-b".into());
        }
        let tag = production_tag(&format!("s-b-rc.{rc}"), existing.iter().map(String::as_str)).unwrap();
        prop_assert!(!existing.contains(&tag));
        let expected = if released { format!("s-b-hotfix.{hotfixes}") } else { "s-b".to_string() };
        prop_assert_eq!(tag, expected);
    }
}
