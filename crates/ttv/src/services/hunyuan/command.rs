//! The `sample_video.py` / `sample_image2video.py` command line for one HunyuanVideo job,
//! built as data.
//!
//! Text-to-video runs HunyuanVideo's `sample_video.py`; image-to-video runs
//! HunyuanVideo-I2V's `sample_image2video.py --model HYVideo-T/2 --i2v-mode`. Several GPUs run
//! through `torchrun` with xDiT's `--ulysses-degree U --ring-degree R` (U × R = GPUs).
//! Both scripts find the VAE and text encoders through the `MODEL_BASE` environment variable
//! rather than `--model-base`, so both are set.

use std::path::PathBuf;

use crate::request::Resolution;
use crate::services::local::{CommandSpec, Slot, ulysses_degree};

/// Attention heads of HYVideo-T/2: the Ulysses degree must divide it.
pub const HEADS: u32 = 24;

/// First `torchrun` rendezvous port; concurrent slots count up from here.
const MASTER_PORT: u32 = 29600;

/// Which script a job runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Script {
    /// HunyuanVideo `sample_video.py`, `--video-size H W`.
    TextToVideo {
        /// `--dit-weight`.
        dit_weight: PathBuf,
    },
    /// HunyuanVideo-I2V `sample_image2video.py`.
    ImageToVideo {
        /// `--i2v-dit-weight`.
        dit_weight: PathBuf,
        /// `--i2v-image-path`.
        image: PathBuf,
        /// `--i2v-resolution` (`720p`, `540p`, `360p`).
        tier: u32,
        /// `--i2v-stability`.
        stability: bool,
    },
}

/// What one job asks the script for, every value decided.
#[derive(Debug, Clone, PartialEq)]
pub struct HunyuanJob {
    /// Which script, with its own inputs.
    pub script: Script,
    /// The checkout the script lives in (working folder).
    pub repo: PathBuf,
    /// `--model-base` and `MODEL_BASE`.
    pub model_base: PathBuf,
    /// Frame size (text-to-video); the nominal size for image-to-video.
    pub size: Resolution,
    /// `--video-length` (4n+1).
    pub frames: u32,
    /// `--infer-steps`.
    pub steps: u32,
    /// `--prompt`.
    pub prompt: String,
    /// `--neg-prompt` (used by the scripts only when `--cfg-scale` > 1).
    pub negative_prompt: Option<String>,
    /// `--cfg-scale`; the script's default (1.0, no classifier-free guidance) when `None`.
    pub cfg_scale: Option<f64>,
    /// `--embedded-cfg-scale`.
    pub embedded_cfg_scale: f64,
    /// `--flow-shift`.
    pub flow_shift: f64,
    /// `--flow-reverse` (every README example sets it).
    pub flow_reverse: bool,
    /// `--seed`.
    pub seed: u64,
    /// `--save-path`: a folder; the script names the file.
    pub save_dir: PathBuf,
    /// `--use-cpu-offload` (one GPU only).
    pub cpu_offload: bool,
}

/// Where the programs are and how many GPUs a job gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    /// The Python interpreter.
    pub python: PathBuf,
    /// `torchrun`.
    pub torchrun: PathBuf,
    /// GPUs per job.
    pub gpus: u32,
    /// Jobs side by side.
    pub parallel: u32,
}

/// Builds the command for `job` on `slot`.
pub fn build(job: &HunyuanJob, launch: &Launcher, slot: &Slot) -> CommandSpec {
    let multi = launch.gpus > 1;
    let script = match job.script {
        Script::TextToVideo { .. } => "sample_video.py",
        Script::ImageToVideo { .. } => "sample_image2video.py",
    };
    let mut c = if multi {
        let mut c = CommandSpec::new(&launch.torchrun);
        c.arg(format!("--nproc_per_node={}", launch.gpus));
        if launch.parallel > 1 {
            c.arg(format!("--master_port={}", MASTER_PORT + slot.index as u32));
        }
        c
    } else {
        CommandSpec::new(&launch.python)
    };
    c.arg(script);
    c.cwd = Some(job.repo.clone());
    c.env("PYTHONUNBUFFERED", "1")
        .env("MODEL_BASE", job.model_base.display().to_string());
    if let Some(devices) = slot.visible_devices() {
        c.env("CUDA_VISIBLE_DEVICES", devices);
    }

    match &job.script {
        Script::TextToVideo { .. } => {
            c.arg("--video-size")
                .arg(job.size.height.to_string())
                .arg(job.size.width.to_string());
        }
        Script::ImageToVideo {
            image,
            tier,
            stability,
            ..
        } => {
            if multi {
                // Lets xDiT nudge the image-derived size so it splits across the GPUs.
                c.env("ALLOW_RESIZE_FOR_SP", "1");
            }
            c.flag("--model", "HYVideo-T/2")
                .arg("--i2v-mode")
                .flag("--i2v-image-path", image.display())
                .flag("--i2v-resolution", format!("{tier}p"));
            if *stability {
                c.arg("--i2v-stability");
            }
        }
    }
    c.flag("--video-length", job.frames)
        .flag("--infer-steps", job.steps)
        .flag("--prompt", &job.prompt);
    if let Some(neg) = &job.negative_prompt {
        c.flag("--neg-prompt", neg);
    }
    if let Some(cfg) = job.cfg_scale {
        c.flag("--cfg-scale", cfg);
    }
    c.flag("--embedded-cfg-scale", job.embedded_cfg_scale)
        .flag("--flow-shift", job.flow_shift);
    if job.flow_reverse {
        c.arg("--flow-reverse");
    }
    c.flag("--seed", job.seed)
        .flag("--model-base", job.model_base.display());
    match &job.script {
        Script::TextToVideo { dit_weight } => c.flag("--dit-weight", dit_weight.display()),
        Script::ImageToVideo { dit_weight, .. } => c.flag("--i2v-dit-weight", dit_weight.display()),
    };
    c.flag("--save-path", job.save_dir.display());
    if multi {
        let ulysses = ulysses_degree(launch.gpus, HEADS);
        c.flag("--ulysses-degree", ulysses)
            .flag("--ring-degree", launch.gpus / ulysses);
    } else if job.cpu_offload {
        c.arg("--use-cpu-offload");
    }
    c
}

/// Whether xDiT can split a `size` video across `gpus`: the latent height or width, halved
/// by the patch size, must divide evenly (`sample_video`'s `parallelize_transformer`).
pub fn splits_across(size: Resolution, gpus: u32) -> bool {
    gpus <= 1 || (size.height / 16).is_multiple_of(gpus) || (size.width / 16).is_multiple_of(gpus)
}
