//! Deployment ids for a running service.

use cd_core::pipeline::IdSource;
use cd_ports::Clock as _;

use super::clock::SystemClock;

/// Deployment ids that sort by creation time and never repeat across restarts or replicas:
/// `d-<ms since epoch, hex>-<64 random bits, hex>`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn next_id(&mut self) -> String {
        let now = SystemClock.now().0;
        let mut bytes = [0u8; 8];
        // A failing OS random source is not recoverable; the time part still orders ids.
        let _ = getrandom::fill(&mut bytes);
        format!("d-{now:011x}-{}", hex::encode(bytes))
    }
}
