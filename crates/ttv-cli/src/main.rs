//! `ttv`: the command-line front end. Thin: it parses arguments, loads settings, calls the
//! library, draws progress on stderr and prints results on stdout.

mod cli;
mod commands;
mod output;
mod progress;
mod request;
mod settings;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, ConfigCommand};

/// Exit codes, documented in the README.
pub mod exit {
    /// The request, the arguments or the configuration is wrong.
    pub const BAD_INPUT: u8 = 2;
    /// A backend failed to make the video.
    pub const BACKEND_FAILED: u8 = 3;
    /// A paid request may have reached the provider; the job waits to be settled.
    pub const UNSETTLED: u8 = 4;
    /// Interrupted by Ctrl-C.
    pub const INTERRUPTED: u8 = 130;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(&cli));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => ExitCode::from(output::report_error(&cli, &err)),
    }
}

/// Runs the command; `Ok` carries the exit code of a command that reports its own status.
async fn run(cli: &Cli) -> anyhow::Result<u8> {
    if let Command::Config(ConfigCommand::Check) = &cli.command {
        return commands::config::check(cli);
    }
    match &cli.command {
        Command::Generate(args) => commands::generate::run(cli, args).await,
        Command::Backends => commands::backends::run(cli),
        Command::Estimate(args) => commands::estimate::run(cli, args).await,
        Command::Validate(args) => commands::validate::run(cli, args).await,
        Command::Spend { days } => commands::spend::run(cli, *days).await,
        Command::Jobs(command) => commands::jobs::run(cli, command).await,
        Command::Config(ConfigCommand::Check) => Ok(()),
        Command::Probe { video } => commands::media::probe(cli, video).await,
        Command::Frame(args) => commands::media::frame(cli, args).await,
        Command::Sim(args) => ttv_sim::cli::serve(args.clone()).await,
    }
    .map(|()| 0)
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("TTV_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(output::color_enabled())
        .try_init();
}
