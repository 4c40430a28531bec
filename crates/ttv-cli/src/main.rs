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
    /// The request, the arguments, the configuration or the local environment (a file or
    /// folder that cannot be read or written, a damaged job store) is wrong.
    pub const BAD_INPUT: u8 = 2;
    /// A backend failed to make the video.
    pub const BACKEND_FAILED: u8 = 3;
    /// A paid request may have reached the provider; the job waits to be settled.
    pub const UNSETTLED: u8 = 4;
    /// Interrupted by Ctrl-C.
    pub const INTERRUPTED: u8 = 130;
}

fn main() -> ExitCode {
    // Output piped into `head` ends quietly, as for any command-line tool, instead of a
    // "broken pipe" panic.
    #[cfg(unix)]
    // SAFETY: called first thing, before any other thread exists; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(output::report_usage(&e)),
    };
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
        Command::Image(command) => commands::image::run(cli, command).await,
        Command::Validate(args) => commands::validate::run(cli, args).await,
        Command::Spend { days } => commands::spend::run(cli, *days).await,
        Command::Jobs(command) => commands::jobs::run(cli, command).await,
        Command::Film(command) => commands::film::run(cli, command).await,
        Command::Config(ConfigCommand::Check) => Ok(()),
        Command::Probe { video } => commands::media::probe(cli, video).await,
        Command::Frame(args) => commands::media::frame(cli, args).await,
        Command::Serve(args) => commands::serve::run(cli, args).await,
        Command::Worker(args) => commands::worker::run(cli, args).await,
        Command::Sim(args) => ttv_sim::cli::serve(args.clone(), cli.json)
            .await
            .map_err(sim_error),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "ttv", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { dir } => man(dir.as_deref()),
    }
    .map(|()| 0)
}

/// The simulator's own errors (a bad scenario, a port in use) are bad input.
fn sim_error(e: ttv_sim::cli::SimError) -> anyhow::Error {
    let kind = match e {
        ttv_sim::cli::SimError::Input(_) => ttv::ErrorKind::InvalidRequest,
        ttv_sim::cli::SimError::Io(_) => ttv::ErrorKind::Io,
    };
    ttv::Error::new(kind, e.to_string()).into()
}

/// `ttv man`: the manual page on stdout, or one page per command in `dir`.
fn man(dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    let cmd = <Cli as clap::CommandFactory>::command();
    match dir {
        None => Ok(clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?),
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                ttv::Error::io(format_args!("cannot create folder {}", dir.display()), e)
            })?;
            clap_mangen::generate_to(cmd, dir).map_err(|e| {
                ttv::Error::io(
                    format_args!("cannot write the pages in {}", dir.display()),
                    e,
                )
            })?;
            println!("{}", dir.display());
            Ok(())
        }
    }
}

/// Logs on stderr: warnings only by default; `-v` adds ttv's own steps (submitted task ids,
/// state changes, retries, downloads), `-vv` its details and the libraries' information,
/// `-vvv` everything. `TTV_LOG` takes a tracing filter instead.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "warn,ttv=info,ttv_cli=info,ttv_sim=info",
        2 => "info,ttv=debug,ttv_cli=debug,ttv_sim=debug",
        _ => "debug,ttv=trace,ttv_cli=trace,ttv_sim=trace",
    };
    let filter = EnvFilter::try_from_env("TTV_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(output::color_enabled())
        .try_init();
}
