//! The jobs every generated workflow shares, around the builders' stage jobs.

pub mod gate;
pub mod image;
pub mod initialize;
pub mod notify;
pub mod release;
