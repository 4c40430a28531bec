//! One module per subcommand.

pub mod backends;
pub mod config;
pub mod estimate;
pub mod generate;
pub mod image;
pub mod jobs;
pub mod media;
pub mod spend;
pub mod validate;
