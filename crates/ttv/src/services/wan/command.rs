//! The `generate.py` command line for one Wan job, built as data.
//!
//! One GPU: `python generate.py --task … --offload_model True|False [--t5_cpu]`.
//! Several: `torchrun --nproc_per_node=N generate.py … --dit_fsdp --t5_fsdp --ulysses_size U`
//! (plus `--ring_size R` on Wan2.1 when U alone cannot cover N; Wan2.2 has no ring
//! attention flag). `--offload_model False` is passed explicitly in both cases so the
//! script's world-size-dependent default never decides.

use std::path::PathBuf;

use crate::request::Resolution;
use crate::services::local::{CommandSpec, MemoryPlan, Slot, ulysses_degree};

use super::task::{WanTask, WanVersion};

/// First `torchrun` rendezvous port; concurrent slots count up from here.
const MASTER_PORT: u32 = 29500;

/// Where the programs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    /// The Python interpreter.
    pub python: PathBuf,
    /// `torchrun`, for several GPUs.
    pub torchrun: PathBuf,
    /// The Wan checkout (`generate.py` and the `wan` package).
    pub repo: PathBuf,
    /// How many GPUs one job uses.
    pub gpus: u32,
    /// How many jobs share the machine; more than one gives each its own rendezvous port.
    pub parallel: u32,
}

/// What one job asks `generate.py` for, every value decided.
#[derive(Debug, Clone, PartialEq)]
pub struct WanJob {
    /// `--task`.
    pub task: WanTask,
    /// `--ckpt_dir`.
    pub ckpt_dir: PathBuf,
    /// `--size W*H`.
    pub size: Resolution,
    /// `--frame_num` (4n+1).
    pub frames: u32,
    /// `--prompt`.
    pub prompt: String,
    /// `--image` (i2v, and ti2v with an image).
    pub image: Option<PathBuf>,
    /// `--first_frame` / `--last_frame` (flf2v).
    pub first_last: Option<(PathBuf, PathBuf)>,
    /// `--sample_steps`.
    pub steps: u32,
    /// `--sample_shift`; the script's per-task default when `None`.
    pub shift: Option<f64>,
    /// `--sample_guide_scale`; the script's per-task default when `None`.
    pub guide_scale: Option<f64>,
    /// `--sample_solver`; the script's default (`unipc`) when `None`.
    pub solver: Option<String>,
    /// `--base_seed`.
    pub seed: u64,
    /// `--save_file`.
    pub save_file: PathBuf,
    /// Offload and T5 placement on one GPU (ignored with several).
    pub memory: MemoryPlan,
    /// `--convert_model_dtype` (Wan2.2 only).
    pub convert_model_dtype: bool,
}

/// Builds the command for `job` on `slot`.
pub fn build(job: &WanJob, launch: &Launcher, slot: &Slot) -> CommandSpec {
    let multi = launch.gpus > 1;
    let mut c = if multi {
        let mut c = CommandSpec::new(&launch.torchrun);
        c.arg(format!("--nproc_per_node={}", launch.gpus));
        if launch.parallel > 1 {
            c.arg(format!("--master_port={}", MASTER_PORT + slot.index as u32));
        }
        c.arg("generate.py");
        c
    } else {
        let mut c = CommandSpec::new(&launch.python);
        c.arg("generate.py");
        c
    };
    c.cwd = Some(launch.repo.clone());
    c.env("PYTHONUNBUFFERED", "1");
    if let Some(devices) = slot.visible_devices() {
        c.env("CUDA_VISIBLE_DEVICES", devices);
    }

    c.flag("--task", job.task)
        .flag("--size", format!("{}*{}", job.size.width, job.size.height))
        .flag("--ckpt_dir", job.ckpt_dir.display())
        .flag("--frame_num", job.frames)
        .flag("--sample_steps", job.steps);
    if let Some(shift) = job.shift {
        c.flag("--sample_shift", shift);
    }
    if let Some(scale) = job.guide_scale {
        c.flag("--sample_guide_scale", scale);
    }
    if let Some(solver) = &job.solver {
        c.flag("--sample_solver", solver);
    }
    c.flag("--base_seed", job.seed)
        .flag("--save_file", job.save_file.display())
        .flag("--prompt", &job.prompt);
    if let Some(image) = &job.image {
        c.flag("--image", image.display());
    }
    if let Some((first, last)) = &job.first_last {
        c.flag("--first_frame", first.display())
            .flag("--last_frame", last.display());
    }

    if multi {
        let ulysses = match job.task.has_ring_attention() {
            true => ulysses_degree(launch.gpus, job.task.heads()),
            // Wan2.2 requires ulysses_size == world size; the backend refuses other counts.
            false => launch.gpus,
        };
        c.arg("--dit_fsdp")
            .arg("--t5_fsdp")
            .flag("--ulysses_size", ulysses);
        let ring = launch.gpus / ulysses;
        if ring > 1 {
            c.flag("--ring_size", ring);
        }
        c.flag("--offload_model", "False");
    } else {
        c.flag(
            "--offload_model",
            if job.memory.offload { "True" } else { "False" },
        );
        if job.memory.text_encoder_cpu {
            c.arg("--t5_cpu");
        }
    }
    if job.convert_model_dtype && job.task.version() == WanVersion::V2_2 {
        c.arg("--convert_model_dtype");
    }
    c
}
