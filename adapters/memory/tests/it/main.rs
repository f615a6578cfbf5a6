//! cd-memory: the port contracts, and the simulator.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod contracts;
mod driver;
mod effect_loop;
mod simulator;
