use std::sync::Arc;

use async_trait::async_trait;
use cd_contract::{
    RegistryFixture, RepoFixture, RepoHandle, SourceFixture, registry_contract, repo_contract,
    source_contract, store_contract,
};
use cd_memory::{MemoryRegistry, MemoryRepo, MemorySourceHost, MemoryStore};
use cd_ports::{ManifestRepo, Registry, SourceHost};
use futures_executor::block_on;

#[test]
fn memory_store_keeps_the_store_contract() {
    block_on(store_contract(MemoryStore::new));
}

struct Reg(MemoryRegistry);

#[async_trait]
impl RegistryFixture for Reg {
    fn registry(&self) -> &dyn Registry {
        &self.0
    }
    fn name(&self) -> String {
        "containers".into()
    }
    fn namespace(&self) -> String {
        String::new()
    }
    async fn push(&self, image: &str, tag: &str, seed: &str) -> String {
        use sha2::Digest;
        let digest = format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(format!("{image}:{seed}")))
        );
        self.0.push("containers", image, tag, &digest);
        digest
    }
}

#[test]
fn memory_registry_keeps_the_registry_contract() {
    block_on(registry_contract(&Reg(MemoryRegistry::new())));
}

struct Repo(Arc<MemoryRepo>);

#[async_trait]
impl RepoHandle for Repo {
    fn repo(&self) -> Arc<dyn ManifestRepo> {
        self.0.clone()
    }
    async fn commit_as_other(&self, path: &str, text: &str, message: &str) {
        self.0.commit_foreign(path, text, message);
    }
}

struct Repos;

#[async_trait]
impl RepoFixture for Repos {
    async fn fresh(&self, files: &[(String, String)]) -> Box<dyn RepoHandle> {
        Box::new(Repo(Arc::new(MemoryRepo::new(files.to_vec()))))
    }
}

#[test]
fn memory_repo_keeps_the_repo_contract() {
    block_on(repo_contract(&Repos));
}

#[test]
fn memory_repo_recovers_from_lost_push_races_and_keeps_the_other_commit() {
    let repo = MemoryRepo::new(vec![(
        "a.yaml".to_string(),
        "kind: DeploymentConfig\nmetadata: {name: a, environment: e}\nspec:\n  version: v1\n"
            .to_string(),
    )]);
    repo.lose_races(2);
    let edit = cd_core::pipeline::ManifestEdit {
        path: "a.yaml".into(),
        application: "a".into(),
        environment: "e".into(),
        version: "v2".into(),
    };
    let commit =
        block_on(repo.write(&[edit], &cd_core::pipeline::ManifestCommit::plain("deploy"))).unwrap();
    assert!(commit.is_some());
    assert_eq!(repo.races_lost(), 2);
    let commits = repo.commits();
    assert_eq!(commits.len(), 4, "initial, two other writers, ours");
    assert!(commits[3].by_engine && !commits[1].by_engine && !commits[2].by_engine);
}

struct Source(MemorySourceHost);

#[async_trait]
impl SourceFixture for Source {
    fn host(&self) -> &dyn SourceHost {
        &self.0
    }
    fn tagged(&self) -> (String, String, String) {
        ("shop-api".into(), "v1.0.0".into(), "abc1234".into())
    }
    async fn advance(&self) -> (String, String) {
        self.0.tag("shop-api", "v1.1.0", "def5678");
        ("v1.1.0".into(), "def5678".into())
    }
}

#[test]
fn memory_source_host_keeps_the_source_contract() {
    let host = MemorySourceHost::new();
    host.tag("shop-api", "v1.0.0", "abc1234");
    block_on(source_contract(&Source(host)));
}
