//! Settings for one run: the configuration (file and environment) resolved into what the
//! commands need. Warnings go to stderr; any error stops the command with exit code 2.

use std::ops::Deref;

use ttv::config::{self, Loaded, ProcessEnv, Severity};
use ttv::registry::Registry;

use crate::cli::Cli;

pub use ttv::config::RequestDefaults;

/// What the commands need: the resolved configuration and the backends built from it.
pub struct Settings {
    /// The backends.
    pub registry: Registry,
    /// The configuration they came from.
    pub loaded: Loaded,
}

impl Deref for Settings {
    type Target = config::Settings;

    fn deref(&self) -> &config::Settings {
        &self.loaded.settings
    }
}

/// Reads the configuration without judging it (for `ttv config check`).
pub fn read(cli: &Cli) -> Loaded {
    config::load(cli.config.as_deref(), &ProcessEnv)
}

/// Loads the settings for this run: prints the configuration's warnings and fails on its
/// errors.
pub fn load(cli: &Cli) -> anyhow::Result<Settings> {
    let loaded = read(cli);
    loaded.check()?;
    if !cli.quiet {
        for warning in loaded
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
        {
            eprintln!("{}", crate::output::warning_line(warning));
        }
    }
    Ok(Settings {
        registry: Registry::new(&loaded.settings.registry),
        loaded,
    })
}
