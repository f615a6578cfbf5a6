mod flows;
mod properties;
mod world;
