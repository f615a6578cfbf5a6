//! The `Registry` contract.

use async_trait::async_trait;
use cd_ports::{Registry, RegistryError};

/// What the registry suite needs from a backend.
#[async_trait]
pub trait RegistryFixture: Send + Sync {
    /// The adapter under test.
    fn registry(&self) -> &dyn Registry;
    /// The registry name the adapter serves.
    fn name(&self) -> String;
    /// A prefix that makes image names unique to this run.
    fn namespace(&self) -> String;
    /// Pushes an image tag as CI would (content distinct per `seed`) and returns its digest.
    async fn push(&self, image: &str, tag: &str, seed: &str) -> String;
}

/// Runs the `Registry` contract.
pub async fn registry_contract(f: &dyn RegistryFixture) {
    let r = f.registry();
    let name = f.name();
    let image = format!("{}contract-app", f.namespace());

    let none = r
        .list_tags(&name, &format!("{image}-never-pushed"), "")
        .await;
    assert_eq!(none, Ok(vec![]), "an image without tags lists nothing");

    let d1 = f.push(&image, "v1.0.0", "one").await;
    let d2 = f.push(&image, "v1.1.0", "two").await;
    assert_ne!(d1, d2);
    assert_eq!(r.resolve(&name, &image, "v1.0.0").await, Ok(d1.clone()));
    let missing = r.resolve(&name, &image, "v9.9.9").await;
    assert!(
        matches!(missing, Err(RegistryError::NotFound(_))),
        "resolving a missing tag: {missing:?}"
    );

    r.create_tag(&name, &image, "shop-2026.11-rc.0", &d1)
        .await
        .unwrap();
    assert_eq!(
        r.resolve(&name, &image, "shop-2026.11-rc.0").await,
        Ok(d1.clone()),
        "a created tag points at its digest"
    );
    let same = r.create_tag(&name, &image, "shop-2026.11-rc.0", &d1).await;
    assert_eq!(
        same,
        Err(RegistryError::AlreadyExists { digest: d1.clone() }),
        "an existing tag is reported with its digest"
    );
    let moved = r.create_tag(&name, &image, "shop-2026.11-rc.0", &d2).await;
    assert_eq!(
        moved,
        Err(RegistryError::AlreadyExists { digest: d1.clone() }),
        "a tag is never moved"
    );
    assert_eq!(
        r.resolve(&name, &image, "shop-2026.11-rc.0").await,
        Ok(d1.clone())
    );

    let unknown = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let bad = r.create_tag(&name, &image, "v0-unknown", unknown).await;
    assert!(
        matches!(bad, Err(RegistryError::NotFound(_))),
        "tagging a digest that is not there: {bad:?}"
    );

    let tags = r.list_tags(&name, &image, "").await.unwrap();
    assert_eq!(
        tags,
        ["shop-2026.11-rc.0", "v1.0.0", "v1.1.0"],
        "every tag, sorted"
    );
    let rc = r
        .list_tags(&name, &image, "shop-2026.11-rc.")
        .await
        .unwrap();
    assert_eq!(rc, ["shop-2026.11-rc.0"], "by prefix");

    // More tags than a registry returns in one page.
    let many = format!("{image}-many");
    let digest = f.push(&many, "base", "many").await;
    for i in 0..120 {
        r.create_tag(&name, &many, &format!("t-{i:03}"), &digest)
            .await
            .unwrap();
    }
    let listed = r.list_tags(&name, &many, "t-").await.unwrap();
    assert_eq!(listed.len(), 120, "listing follows pagination");
    assert_eq!(listed.first().map(String::as_str), Some("t-000"));
}
