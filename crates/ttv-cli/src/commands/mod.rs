//! One module per subcommand.

pub mod backends;
pub mod config;
pub mod estimate;
pub mod film;
pub mod generate;
pub mod image;
pub mod jobs;
pub mod media;
pub mod serve;
pub mod spend;
pub mod validate;
pub mod worker;
