//! The command line: arguments only. What each command does lives in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Make videos from prompts and images with any generator, local or hosted.
#[derive(Debug, Parser)]
#[command(name = "ttv", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (default: $TTV_CONFIG, ./ttv.yaml, ./pipeline_config.yaml, or none).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// No progress bars and no summaries; errors only.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Where the job store lives (default: $TTV_DATA_DIR, else the configuration's
    /// store.data_dir, else the platform data folder, e.g. ~/.local/share/ttv).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a video.
    Generate(GenerateArgs),
    /// List the backends, what they can do and whether they can be used here.
    Backends,
    /// Show what a request would cost on every backend that can make it.
    Estimate(RequestArgs),
    /// Make, price and list still images (keyframes) with the image backends.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Check a request against a backend and list every problem.
    Validate(ValidateArgs),
    /// Describe a video file and check that it is a playable MP4.
    Probe {
        /// The video.
        video: PathBuf,
    },
    /// Save one frame of a video as an image (for chaining segments or checking output).
    Frame(FrameArgs),
    /// List, inspect, resume, cancel and settle jobs in the job store.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Make long videos: plan a story into segments, make each as a job, join them.
    #[command(subcommand)]
    Film(FilmCommand),
    /// Sum what jobs cost, by day, backend and model (from the job store's ledger).
    Spend {
        /// Only the last N days (UTC), today included.
        #[arg(long, value_name = "N")]
        days: Option<u32>,
    },
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Serve simulated Runway, Google Veo (Gemini API and Vertex AI), MiniMax and fal APIs on
    /// 127.0.0.1 (for tests and demos).
    Sim(ttv_sim::cli::SimArgs),
    /// Serve the HTTP API (the original pipeline's /jobs, OpenAI-compatible /v1/videos, ttv's
    /// /v1/ttv), live progress and a dashboard; unfinished jobs carry on from where they were.
    Serve(ServeArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) on stdout.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout (`ttv man > ttv.1`), or write one page per
    /// command into a folder (`ttv man --dir man/`).
    Man {
        /// Write ttv.1, ttv-generate.1, ... into this folder instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// `ttv jobs ...`
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List the jobs, newest first.
    List {
        /// Only jobs in this state (created, submitted, running, downloading, done, failed,
        /// cancelled, unknown); repeatable.
        #[arg(long, value_name = "STATE")]
        state: Vec<String>,
    },
    /// Show one job with its history.
    Show {
        /// The job id.
        id: String,
    },
    /// Carry on jobs after a crash: poll their saved tickets, download, verify. Never
    /// submits again.
    Resume {
        /// The job id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every unfinished job.
        #[arg(long)]
        all: bool,
    },
    /// Cancel a job (and the provider's job, where the backend can).
    Cancel {
        /// The job id.
        id: String,
    },
    /// Settle a job in state `unknown` after checking the provider's task list.
    Resolve(ResolveArgs),
}

/// `ttv jobs resolve`
#[derive(Debug, Clone, Args)]
#[command(group(
    clap::ArgGroup::new("how")
        .required(true)
        .args(["submitted", "not_submitted", "failed"])
))]
pub struct ResolveArgs {
    /// The job id.
    pub id: String,
    /// The provider has the job under this task id: poll it (`ttv jobs resume ID`).
    #[arg(long, value_name = "TASK_ID")]
    pub submitted: Option<String>,
    /// The provider never got it: the next `ttv generate --job-id ID` submits it again.
    #[arg(long)]
    pub not_submitted: bool,
    /// Give the job up.
    #[arg(long)]
    pub failed: bool,
}

/// `ttv image ...`
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Make one image.
    Generate(ImageGenerateArgs),
    /// Show what an image would cost on every image backend.
    Estimate(ImageArgs),
    /// List the image backends and whether they can be used here.
    Backends,
}

/// What image to make.
#[derive(Debug, Clone, Args)]
pub struct ImageArgs {
    /// What the image shows.
    #[arg(long, short, default_value = "")]
    pub prompt: String,

    /// What the image must not show (backends that take one).
    #[arg(long, value_name = "TEXT")]
    pub negative_prompt: Option<String>,

    /// Reference image (characters, settings, a previous keyframe; the start image for
    /// image-to-image backends); repeatable.
    #[arg(long = "image", short = 'i', value_name = "FILE")]
    pub images: Vec<PathBuf>,

    /// Exact size (1024x1024); else chosen from --aspect among the backend's sizes.
    #[arg(long, short = 's', value_name = "WxH")]
    pub size: Option<String>,

    /// Aspect ratio (16:9, 1:1 ...).
    #[arg(long, short, value_name = "W:H")]
    pub aspect: Option<String>,

    /// Seed (backends that take one).
    #[arg(long, value_name = "N")]
    pub seed: Option<String>,

    /// Backend-specific option, KEY=VALUE (quality=high for openai, strength=0.4 for
    /// stability); repeatable.
    #[arg(long = "extra", short = 'x', value_name = "KEY=VALUE")]
    pub extra: Vec<String>,

    /// Image backend (a name or alias). Default: image_generation_model, else the still.
    #[arg(long, short, value_name = "NAME")]
    pub backend: Option<String>,
}

/// `ttv image generate`
#[derive(Debug, Clone, Args)]
pub struct ImageGenerateArgs {
    #[command(flatten)]
    pub request: ImageArgs,

    /// Where to write the image (default: OUTPUT_DIR/ttv-<time>-<job id>.png).
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Job id, the idempotency key: running again with the same id carries that job on
    /// instead of paying again.
    #[arg(long, value_name = "ID")]
    pub job_id: Option<String>,

    /// Validate, choose the backend and estimate the cost, then stop.
    #[arg(long)]
    pub dry_run: bool,
}

/// `ttv config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved configuration (secrets masked) and every problem found.
    Check,
}

/// What to make.
#[derive(Debug, Clone, Args)]
pub struct RequestArgs {
    /// What the video shows.
    #[arg(long, short, default_value = "")]
    pub prompt: String,

    /// What the video must not show.
    #[arg(long, value_name = "TEXT")]
    pub negative_prompt: Option<String>,

    /// First-frame image (PNG, JPEG or WebP).
    #[arg(long, short, value_name = "FILE")]
    pub image: Option<PathBuf>,

    /// Last-frame image.
    #[arg(long, value_name = "FILE")]
    pub last_frame: Option<PathBuf>,

    /// Clip length in seconds (5, 5s, 2.5s).
    #[arg(long, short, value_name = "SECONDS")]
    pub duration: Option<String>,

    /// Aspect ratio (16:9, 9:16, 1:1 ...).
    #[arg(long, short, value_name = "W:H")]
    pub aspect: Option<String>,

    /// Frame size (1280x720) or tier (480p, 720p, 1080p).
    #[arg(long, short, value_name = "SIZE")]
    pub resolution: Option<String>,

    /// Frames per second.
    #[arg(long, value_name = "N")]
    pub fps: Option<String>,

    /// Seed for reproducible output.
    #[arg(long, value_name = "N")]
    pub seed: Option<String>,

    /// Generate an audio track (backends that can).
    #[arg(long)]
    pub audio: bool,

    /// Backend-specific option, KEY=VALUE (VALUE is JSON or text); repeatable.
    /// The animatic takes camera=zoom_in|zoom_out|pan_left|pan_right|tilt_up|tilt_down|push_in|orbit|static.
    #[arg(long = "extra", short = 'x', value_name = "KEY=VALUE")]
    pub extra: Vec<String>,
}

/// `ttv generate`
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub request: RequestArgs,

    /// Backend to use (a name, an alias, or auto). Default: the configuration's default_backend.
    /// A backend named here is never replaced by a fallback unless --fallback is given.
    #[arg(long, short, value_name = "NAME")]
    pub backend: Option<String>,

    /// Let the configured fallback_backend stand in for the --backend named, when it cannot
    /// run here or fails without spending.
    #[arg(long, conflicts_with = "no_fallback")]
    pub fallback: bool,

    /// Use only the chosen backend, even when a fallback is configured.
    #[arg(long)]
    pub no_fallback: bool,

    /// Where to write the video (default: OUTPUT_DIR/ttv-<time>-<job id>.mp4). An existing
    /// video there is replaced; devices, folders, the inputs, the configuration and the job
    /// store are refused.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Job id, the idempotency key: running again with the same id carries that job on
    /// instead of paying for a new one (a failed job gets a new attempt; a done one with a
    /// new --out is copied there). A fresh id is made (and printed) when absent.
    #[arg(long, value_name = "ID")]
    pub job_id: Option<String>,

    /// Validate, choose a backend and estimate the cost, then stop without generating.
    #[arg(long)]
    pub dry_run: bool,

    /// Ask providers that call back (fal, MiniMax) to call this address when the job ends,
    /// and listen for it: the address they can reach (a tunnel's public URL), without the
    /// /webhooks/PROVIDER path. Polling goes on underneath.
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<String>,

    /// Where the webhook listener binds (default: 127.0.0.1 and the --webhook-url's port).
    #[arg(long, value_name = "ADDR", requires = "webhook_url")]
    pub webhook_listen: Option<std::net::SocketAddr>,
}

/// `ttv validate`
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub request: RequestArgs,

    /// Backend to check against (default: the one generate would choose).
    #[arg(long, short, value_name = "NAME")]
    pub backend: Option<String>,
}

/// `ttv frame`
#[derive(Debug, Clone, Args)]
pub struct FrameArgs {
    /// The video.
    pub video: PathBuf,

    /// Which frame: first, last, or a number counting from 0.
    #[arg(long, short, default_value = "last", value_name = "WHICH")]
    pub which: String,

    /// Where to write the image (PNG, JPEG or WebP by extension).
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
}

/// `ttv film ...`
#[derive(Debug, Subcommand)]
pub enum FilmCommand {
    /// Make a film: from the configuration (the original pipeline_config.yaml), a prompt, or
    /// a storyboard.
    Run(FilmRunArgs),
    /// Write the storyboard (YAML) with every segment's estimate, the total and the budget
    /// check, without generating anything.
    Plan(FilmPlanArgs),
    /// Carry a film run on after a crash, Ctrl-C or a failure: done segments are never made
    /// or paid again.
    Resume {
        /// The run id.
        run: String,
    },
    /// List the film runs, newest first.
    List,
    /// Show a film run with its segments.
    Show {
        /// The run id.
        run: String,
    },
    /// Cancel a film run and its unfinished segment jobs.
    Cancel {
        /// The run id.
        run: String,
    },
}

/// What film to make.
#[derive(Debug, Clone, Args)]
pub struct FilmInput {
    /// The story (default: the configuration's `prompt`).
    #[arg(long, short, value_name = "TEXT", conflicts_with = "storyboard")]
    pub prompt: Option<String>,

    /// The film's length in seconds, cut into segments of `segment_duration_seconds`
    /// (default: the configuration's `duration_seconds`, else one segment per line or
    /// sentence of the story).
    #[arg(long, short, value_name = "SECONDS", conflicts_with = "storyboard")]
    pub duration: Option<f64>,

    /// A storyboard (YAML or JSON; ttv's format or the original pipeline's planning output).
    #[arg(long, short, value_name = "FILE")]
    pub storyboard: Option<PathBuf>,

    /// keyframe or chaining (default: the configuration's `generation_mode`, else keyframe).
    #[arg(long, value_name = "MODE")]
    pub mode: Option<String>,

    /// Seconds per segment (default: the configuration's `segment_duration_seconds`, else 5).
    #[arg(long, value_name = "SECONDS")]
    pub segment_duration: Option<f64>,

    /// Segments made at once in keyframe mode (default: `parallel_segments`, else 1).
    #[arg(long, value_name = "N")]
    pub parallel: Option<u32>,

    /// Backend for segments that name none (default: the configuration's `default_backend`).
    #[arg(long, short, value_name = "NAME")]
    pub backend: Option<String>,

    /// The most the whole run may cost, in US dollars; checked before the first submit.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,

    /// The run id (default: a fresh one); its segments are jobs RUN-s01, RUN-s02, ...
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
}

/// `ttv film run`
#[derive(Debug, Clone, Args)]
pub struct FilmRunArgs {
    #[command(flatten)]
    pub input: FilmInput,

    /// Where to write the film (default: OUTPUT_DIR/RUN.mp4; the segments go in OUTPUT_DIR/RUN/).
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Frames of cross-fade between consecutive segments (default: the configuration's
    /// `crossfade_frames`, else 0: hard cuts). Each cut makes the film N frames shorter.
    #[arg(long, value_name = "N")]
    pub crossfade: Option<u32>,
}

/// `ttv film plan`
#[derive(Debug, Clone, Args)]
pub struct FilmPlanArgs {
    #[command(flatten)]
    pub input: FilmInput,

    /// Write the storyboard here instead of stdout (an existing file is not replaced).
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `ttv serve`
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on. Without tokens (TTV_SERVE_TOKENS) only a loopback address is
    /// allowed.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Jobs run at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub workers: usize,
    /// Seconds a shutdown waits for paid submits and downloads in flight.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub grace: u64,
    /// An OpenAI model name and the backend it maps to (`sora-2=runway`,
    /// `sora-2-pro=veo`); repeatable. `ttv/<backend>[/<model>]` always works.
    #[arg(long = "model", value_name = "NAME=BACKEND")]
    pub models: Vec<String>,
    /// Largest request body in MiB (images included).
    #[arg(long, default_value_t = 25, value_name = "MIB")]
    pub max_body_mib: usize,
    /// New jobs each token may create per minute.
    #[arg(long, value_name = "N")]
    pub rate_per_minute: Option<u32>,
    /// Dollars the jobs each token creates in a day (UTC) may be estimated to cost, on top of
    /// the configuration's budgets.
    #[arg(long, value_name = "USD")]
    pub token_budget_usd: Option<f64>,
}
