//! `cargo run -p infrastream-embedding-example [MANIFEST_DIR]`: one build of the example
//! tenant's shop-api, decided and deployed by an embedded Driver over the host's own store.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests"),
        PathBuf::from,
    );
    let manifests = match cd_git::read_manifest_tree(&dir) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let run = infrastream_embedding_example::deploy_one_build(
        manifests, "shop-api", "shop-api", "v1.0.0",
    );
    match futures_executor::block_on(run) {
        Ok(outcome) => {
            println!(
                "deployment {} {:?} at commit {} ({} journal rows)",
                outcome.deployment,
                outcome.status,
                outcome.commit,
                outcome.journal.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
