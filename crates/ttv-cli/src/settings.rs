//! Settings for one run: the configuration (file and environment) resolved into what the
//! commands need. Warnings go to stderr; any error stops the command with exit code 2.

use std::ops::Deref;
use std::path::PathBuf;

use ttv::config::{self, Loaded, ProcessEnv, Severity};
use ttv::registry::Registry;

use crate::cli::Cli;

pub use ttv::config::RequestDefaults;
/// The job store folder (the library's rule, shared with the Python bindings).
pub use ttv::store::data_dir;

/// What the commands need: the resolved configuration (reached through `Deref`: routing,
/// retries, budgets, limits, request defaults) and the backends built from it.
pub struct Settings {
    /// The backends.
    pub registry: Registry,
    /// Folder of the job store: `--data-dir`, `TTV_DATA_DIR`, `store.data_dir`, else the
    /// platform data folder.
    pub data_dir: PathBuf,
    /// The PostgreSQL job store: `--store`, `TTV_STORE_URL`, `store.url`; the SQLite file in
    /// `data_dir` when none.
    pub store_url: Option<ttv::store::StoreUrl>,
    /// The configuration they came from.
    pub loaded: Loaded,
}

impl Deref for Settings {
    type Target = config::Settings;

    fn deref(&self) -> &config::Settings {
        &self.loaded.settings
    }
}

impl Settings {
    /// Opens the job store these settings name (PostgreSQL, else the SQLite file).
    pub async fn store(&self) -> anyhow::Result<ttv::store::Store> {
        let (url, dir) = (self.store_url.clone(), self.data_dir.clone());
        Ok(tokio::task::spawn_blocking(move || {
            ttv::store::Store::open_configured(url.as_ref(), &dir)
        })
        .await??)
    }

    /// The job façade over these settings, without a job store (dry runs only); see
    /// [`crate::commands::jobs::open`] for one with the store.
    pub fn jobs(&self) -> ttv::facade::Jobs {
        let jobs = ttv::facade::Jobs::new(self.loaded.settings.clone(), self.registry.clone());
        match &self.loaded.source {
            Some(file) => jobs.protect(file, "the configuration file"),
            None => jobs,
        }
    }
}

/// Reads the configuration without judging it (for `ttv config check`).
pub fn read(cli: &Cli) -> Loaded {
    config::load(cli.config.as_deref(), &ProcessEnv)
}

/// The most findings of one kind printed; the rest are counted.
pub const MAX_SHOWN: usize = 20;

/// Loads the settings for this run: prints the configuration's warnings (the first
/// [`MAX_SHOWN`], then a count) and fails on its errors.
pub fn load(cli: &Cli) -> anyhow::Result<Settings> {
    let loaded = read(cli);
    loaded.check()?;
    if !cli.quiet {
        let warnings: Vec<_> = loaded
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .collect();
        for warning in warnings.iter().take(MAX_SHOWN) {
            eprintln!("{}", crate::output::warning_line(warning));
        }
        if warnings.len() > MAX_SHOWN {
            eprintln!(
                "{}",
                crate::output::warning(&format!(
                    "... and {} more warnings about the configuration (`ttv config check` lists them)",
                    warnings.len() - MAX_SHOWN
                ))
            );
        }
    }
    Ok(Settings {
        registry: Registry::new(&loaded.settings.registry),
        data_dir: data_dir(cli.data_dir.as_deref(), loaded.settings.data_dir.as_deref()),
        store_url: cli
            .store
            .clone()
            .filter(|u| !u.expose().is_empty())
            .or_else(|| loaded.settings.store_url.clone()),
        loaded,
    })
}
