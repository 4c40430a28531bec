//! What the local GPU backends (`wan`, `hunyuan`, `ltx`) share: command lines as data, the
//! child process runner (job folder, logs, tqdm progress, process-group cancel, timeout), the
//! GPU probe, the persistent model worker, and absolute paths (the scripts run with their
//! checkout as the working folder, so every path handed to them must be absolute).
//!
//! Nothing here knows a model's flags or sizes; those stay in each backend's folder.

pub mod command;
pub mod gpu;
pub mod job;
pub mod pool;
pub mod progress;
#[cfg(test)]
pub(crate) mod test_support;
pub mod worker;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backend::Availability;
use crate::error::{Error, ErrorKind, Problem, Result};
use crate::media::image::{ImageFormat, ImageInput};
use crate::request::{AspectRatio, Resolution, ResolutionSpec};

pub use command::CommandSpec;
pub use gpu::{GpuMemory, GpuProbe, GpuReport};
pub use job::{ExpectedOutput, GpuSlots, JobSpec, JobTable, LocalJob, Slot};
pub use pool::WorkerPool;

/// How long a local generation may run before it is stopped, unless configured: a 14B model
/// at 720p takes tens of minutes on one GPU, so the default is generous.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2 * 60 * 60);

/// `path` made absolute against `base` (itself made absolute against the current folder),
/// without touching the file system: `.` components go, `..` and symlinks stay as written.
pub fn absolute_in(base: &Path, path: &Path) -> PathBuf {
    let joined = base.join(path);
    let joined = std::path::absolute(&joined).unwrap_or(joined);
    joined.components().collect()
}

/// A program as configured: a bare name (`python3`) is looked up on `PATH` when run and stays
/// as it is; anything with a folder in it is made absolute against `base`.
pub fn program_in(base: &Path, program: &Path) -> PathBuf {
    if program.components().count() > 1 {
        absolute_in(base, program)
    } else {
        program.to_path_buf()
    }
}

/// `path` made absolute against the current folder.
pub fn absolute(path: &Path) -> PathBuf {
    absolute_in(Path::new(""), path)
}

/// Where job folders go unless configured: `$TMPDIR/ttv-jobs`.
pub fn default_work_dir() -> PathBuf {
    std::env::temp_dir().join("ttv-jobs")
}

/// How a local backend runs jobs on this machine: the programs, the GPUs it may use, where
/// job folders go, and the deadlines. Shared by `wan` and `hunyuan`.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalRun {
    /// The Python interpreter (`python3`).
    pub python: PathBuf,
    /// `torchrun`, for several GPUs per job.
    pub torchrun: PathBuf,
    /// `nvidia-smi`, for the GPU probe.
    pub nvidia_smi: PathBuf,
    /// `total_gpus`: GPUs on this machine that ttv may use.
    pub total_gpus: u32,
    /// `parallel_segments`: jobs run side by side, each on `total_gpus / parallel_segments`.
    pub parallel_segments: u32,
    /// Where job folders (inputs, logs, the raw output) go.
    pub work_dir: PathBuf,
    /// The deadline for one job.
    pub timeout: Duration,
    /// How often `generate()` polls a running job.
    pub poll_interval: Duration,
}

impl Default for LocalRun {
    fn default() -> Self {
        Self {
            python: PathBuf::from("python3"),
            torchrun: PathBuf::from("torchrun"),
            nvidia_smi: PathBuf::from("nvidia-smi"),
            total_gpus: 1,
            parallel_segments: 1,
            work_dir: default_work_dir(),
            timeout: DEFAULT_TIMEOUT,
            poll_interval: Duration::from_secs(2),
        }
    }
}

impl LocalRun {
    /// The same settings with every path absolute against `base` (programs named without a
    /// folder stay as they are, for the `PATH` lookup).
    pub fn absolute_in(mut self, base: &Path) -> Self {
        self.python = program_in(base, &self.python);
        self.torchrun = program_in(base, &self.torchrun);
        self.nvidia_smi = program_in(base, &self.nvidia_smi);
        self.work_dir = absolute_in(base, &self.work_dir);
        self
    }

    /// Why the Python interpreter cannot be used, if it cannot (found without running it).
    pub fn python_problem(&self) -> Option<String> {
        command::find_program(&self.python).is_none().then(|| {
            format!(
                "python not found: {} is not on PATH; install Python 3 or set local.python",
                self.python.display()
            )
        })
    }

    /// GPUs one job gets.
    pub fn gpus_per_job(&self) -> u32 {
        (self.total_gpus / self.parallel_segments.max(1)).max(1)
    }

    /// The GPU slots jobs wait for.
    pub fn slots(&self) -> GpuSlots {
        GpuSlots::new(self.total_gpus, self.parallel_segments)
    }

    /// The GPU probe for this machine.
    pub fn gpu_probe(&self) -> GpuProbe {
        GpuProbe::new(self.nvidia_smi.clone())
    }

    /// A worker pool whose workers keep their files in `<work_dir>/<name>`.
    pub fn worker_pool(&self, name: &str) -> pool::WorkerPool {
        pool::WorkerPool::new(worker::WorkerOptions {
            python: self.python.clone(),
            generate_timeout: self.timeout,
            ..worker::WorkerOptions::new(self.work_dir.join(name))
        })
    }
}

/// The file extension an input image gets in a job folder: its own, or `png` when it has to
/// be turned upright first (see [`write_input_image`]).
pub(crate) fn input_image_extension(input: &ImageInput) -> &'static str {
    if input.exif_orientation() > 1 {
        return "png";
    }
    match input.format() {
        ImageFormat::Png => "png",
        ImageFormat::Jpeg => "jpg",
        ImageFormat::Webp => "webp",
    }
}

/// Writes an input image for a model script. The scripts open images with PIL, which ignores
/// EXIF orientation, so a rotated photo is written upright as PNG; others as they came.
pub(crate) async fn write_input_image(input: &ImageInput, path: &std::path::Path) -> Result<()> {
    let bytes = if input.exif_orientation() > 1 {
        let upright = input.decode_rgb()?;
        let mut png = Vec::new();
        upright
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| {
                Error::new(ErrorKind::Io, format!("cannot encode the input image: {e}"))
            })?;
        std::borrow::Cow::Owned(png)
    } else {
        std::borrow::Cow::Borrowed(input.bytes())
    };
    tokio::fs::write(path, bytes)
        .await
        .map_err(|e| Error::io(format_args!("cannot write {}", path.display()), e))
}

/// A seed when neither the request nor the configuration gives one; recorded in the ticket.
/// Kept below 2^31 because the model scripts parse seeds as Python ints handed to torch.
pub(crate) fn fresh_seed() -> u64 {
    (uuid::Uuid::new_v4().as_u128() as u64) & 0x7fff_ffff
}

/// The largest divisor of `n` that also divides `heads`: the Ulysses (head-parallel) degree;
/// the rest of `n` goes to ring attention.
pub(crate) fn ulysses_degree(n: u32, heads: u32) -> u32 {
    (1..=n)
        .rev()
        .find(|d| n.is_multiple_of(*d) && heads.is_multiple_of(*d))
        .unwrap_or(1)
}

/// Memory needs of one model, in GiB of one GPU, used to pick offloading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryNeeds {
    /// Everything resident on the GPU.
    pub resident_gib: f64,
    /// With the model offloaded to the CPU between steps.
    pub offload_gib: f64,
    /// With offload and the text encoder on the CPU: below this the model cannot run.
    pub minimum_gib: f64,
}

/// How to fit a model into the memory at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Offload the model to the CPU between steps.
    pub offload: bool,
    /// Keep the text encoder on the CPU.
    pub text_encoder_cpu: bool,
}

impl MemoryNeeds {
    /// The lightest plan that fits in `free_mib`, or `None` if even the minimum does not.
    pub fn plan(&self, free_mib: u64) -> Option<MemoryPlan> {
        let free_gib = free_mib as f64 / 1024.0;
        if free_gib >= self.resident_gib {
            Some(MemoryPlan {
                offload: false,
                text_encoder_cpu: false,
            })
        } else if free_gib >= self.offload_gib {
            Some(MemoryPlan {
                offload: true,
                text_encoder_cpu: false,
            })
        } else if free_gib >= self.minimum_gib {
            Some(MemoryPlan {
                offload: true,
                text_encoder_cpu: true,
            })
        } else {
            None
        }
    }
}

/// The free memory, read now, of the GPU a single-GPU job will use: the one with the least
/// free memory among those it may be given, so a plan holds whichever it gets.
pub(crate) fn free_mib_now(gpu: &GpuProbe) -> Result<u64> {
    // Not the cached availability answer: other jobs on the machine come and go.
    let report = gpu.fresh();
    let gpus = report
        .as_ref()
        .map_err(|reason| Error::new(ErrorKind::Unavailable, reason.clone()))?;
    Ok(gpus.iter().map(|g| g.free_mib).min().unwrap_or(0))
}

/// A local backend's availability: its own installation problems first; then the GPUs, which
/// must number at least `total_gpus`, and, when `smallest` names the lightest model and the
/// GiB it needs on one GPU at the least, must include one that large.
pub(crate) fn availability(
    problems: &[String],
    gpu: &GpuProbe,
    total_gpus: u32,
    smallest: Option<(&str, f64)>,
) -> Availability {
    let mut reasons = problems.to_vec();
    if reasons.is_empty() {
        match gpu.report() {
            Err(reason) => reasons.push(reason.clone()),
            Ok(gpus) => {
                let want = total_gpus.max(1) as usize;
                if gpus.len() < want {
                    reasons.push(format!(
                        "total_gpus is {want} but nvidia-smi lists {} GPU(s)",
                        gpus.len()
                    ));
                }
                let largest_gib =
                    gpus.iter().map(|g| g.total_mib).max().unwrap_or(0) as f64 / 1024.0;
                if let Some((model, need)) = smallest
                    && largest_gib < need
                {
                    reasons.push(format!(
                        "not enough GPU memory: {model} needs about {need} GiB on one GPU even \
                         with offload; the largest GPU here has {largest_gib:.1} GiB"
                    ));
                }
            }
        }
    }
    if reasons.is_empty() {
        Availability::Available
    } else {
        Availability::Unavailable {
            reason: reasons.join("; "),
        }
    }
}

/// A model's fixed list of frame sizes, grouped in tiers (`480p`, `540p`, `720p`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeTable {
    /// `(tier, size)` rows; the first row's tier is the default.
    pub rows: Vec<(u32, Resolution)>,
}

impl SizeTable {
    /// Every size, in table order.
    pub fn sizes(&self) -> Vec<Resolution> {
        self.rows.iter().map(|(_, r)| *r).collect()
    }

    /// What is allowed, for error messages: `480p, 720p, or exactly 1280x720, 720x1280`.
    pub fn allowed(&self) -> String {
        let mut tiers: Vec<u32> = self.rows.iter().map(|(t, _)| *t).collect();
        tiers.dedup();
        let tiers: Vec<_> = tiers.iter().map(|t| format!("{t}p")).collect();
        let sizes: Vec<_> = self.rows.iter().map(|(_, r)| r.to_string()).collect();
        format!("{}, or exactly {}", tiers.join(", "), sizes.join(", "))
    }

    /// The size for `spec` (the default tier when absent) whose shape is closest to
    /// `aspect`. `aspect_asked` says whether the user named the aspect, in which case a
    /// shape the model does not have is a problem rather than a best effort.
    pub fn pick(
        &self,
        spec: Option<ResolutionSpec>,
        aspect: AspectRatio,
        aspect_asked: bool,
    ) -> Result<Resolution, Problem> {
        let candidates: Vec<Resolution> = match spec {
            Some(ResolutionSpec::Exact(r)) => {
                return if self.rows.iter().any(|(_, s)| *s == r) {
                    Ok(r)
                } else {
                    Err(Problem::new("resolution", r, self.allowed()))
                };
            }
            Some(ResolutionSpec::Tier(t)) => self
                .rows
                .iter()
                .filter(|(tier, _)| *tier == t)
                .map(|(_, r)| *r)
                .collect(),
            None => {
                let first = self.rows.first().map(|(t, _)| *t);
                self.rows
                    .iter()
                    .filter(|(tier, _)| Some(*tier) == first)
                    .map(|(_, r)| *r)
                    .collect()
            }
        };
        let distance = |r: &Resolution| {
            let ratio = f64::from(r.width) / f64::from(r.height);
            (ratio.ln() - aspect.value().ln()).abs()
        };
        let best = candidates
            .iter()
            .copied()
            .min_by(|a, b| distance(a).total_cmp(&distance(b)));
        match (best, spec) {
            (None, Some(spec)) => Err(Problem::new("resolution", spec, self.allowed())),
            (None, None) => Err(Problem::new("resolution", "none", self.allowed())),
            // 832x480 counts as 16:9; 4:3 does not.
            (Some(r), _) if aspect_asked && distance(&r) > 0.1 => Err(Problem::new(
                "aspect",
                aspect,
                format!(
                    "a shape this model renders: {}",
                    candidates
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            (Some(r), _) => Ok(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_tables_pick_by_tier_and_shape() {
        let table = SizeTable {
            rows: vec![
                (720, Resolution::new(1280, 720)),
                (720, Resolution::new(720, 1280)),
                (480, Resolution::new(832, 480)),
                (480, Resolution::new(480, 832)),
            ],
        };
        let pick = |spec: Option<&str>, aspect, asked| {
            table.pick(spec.map(|s| s.parse().unwrap()), aspect, asked)
        };
        assert_eq!(
            pick(None, AspectRatio::PORTRAIT, false),
            Ok(Resolution::new(720, 1280))
        );
        assert_eq!(
            pick(Some("480p"), AspectRatio::LANDSCAPE, true),
            Ok(Resolution::new(832, 480))
        );
        assert_eq!(
            pick(Some("832x480"), AspectRatio::LANDSCAPE, false),
            Ok(Resolution::new(832, 480))
        );
        let err = pick(Some("1080p"), AspectRatio::LANDSCAPE, false).unwrap_err();
        assert_eq!(
            err.allowed,
            "720p, 480p, or exactly 1280x720, 720x1280, 832x480, 480x832"
        );
        assert!(pick(Some("640x480"), AspectRatio::LANDSCAPE, false).is_err());
        assert_eq!(
            pick(Some("720p"), AspectRatio::SQUARE, true)
                .unwrap_err()
                .field,
            "aspect"
        );
        // An image's shape is followed as closely as the table allows.
        assert_eq!(
            pick(Some("720p"), AspectRatio::SQUARE, false),
            Ok(Resolution::new(1280, 720))
        );
    }

    #[tokio::test]
    async fn a_rotated_photo_is_written_upright_for_the_scripts() {
        let img = image::RgbImage::from_fn(40, 20, |x, _| image::Rgb([(x * 6) as u8, 0, 0]));
        let mut jpeg = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
        // An EXIF APP1 segment right after SOI: big-endian TIFF, one IFD entry,
        // Orientation (0x0112) = 6, "rotate 90° clockwise to display".
        let app1: &[u8] = &[
            0xFF, 0xE1, 0x00, 0x22, b'E', b'x', b'i', b'f', 0, 0, b'M', b'M', 0, 0x2A, 0, 0, 0, 8,
            0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0,
        ];
        let mut rotated = jpeg[..2].to_vec();
        rotated.extend_from_slice(app1);
        rotated.extend_from_slice(&jpeg[2..]);
        let input = ImageInput::from_bytes("image", "photo.jpg", rotated).unwrap();
        assert_eq!(input.exif_orientation(), 6);
        assert_eq!(input_image_extension(&input), "png");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.png");
        write_input_image(&input, &path).await.unwrap();
        let written = image::open(&path).unwrap().to_rgb8();
        assert_eq!((written.width(), written.height()), (20, 40));
        // Turned clockwise: the left-to-right ramp now runs from top to bottom.
        let red = |x, y| i32::from(written.get_pixel(x, y)[0]);
        assert!(
            red(10, 38) - red(10, 1) > 150,
            "{} .. {}",
            red(10, 1),
            red(10, 38)
        );
        assert!((red(1, 20) - red(18, 20)).abs() < 20);

        let plain = ImageInput::from_bytes("image", "photo.jpg", jpeg.clone()).unwrap();
        assert_eq!(input_image_extension(&plain), "jpg");
        write_input_image(&plain, &path).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), jpeg);
    }

    #[test]
    fn relative_paths_are_made_absolute_against_their_base_and_bare_programs_stay() {
        let base = Path::new("/proj/conf");
        assert_eq!(
            absolute_in(base, Path::new("./Wan2.1")),
            Path::new("/proj/conf/Wan2.1")
        );
        assert_eq!(
            absolute_in(base, Path::new("../models/x")),
            Path::new("/proj/conf/../models/x")
        );
        assert_eq!(absolute_in(base, Path::new("/abs/y")), Path::new("/abs/y"));
        assert_eq!(program_in(base, Path::new("python3")), Path::new("python3"));
        assert_eq!(
            program_in(base, Path::new("venv/bin/python")),
            Path::new("/proj/conf/venv/bin/python")
        );
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(absolute(Path::new("jobs")), cwd.join("jobs"));
        assert!(absolute_in(Path::new("rel"), Path::new("x")).is_absolute());
    }

    #[test]
    fn ulysses_takes_the_largest_head_divisor_and_ring_the_rest() {
        assert_eq!(ulysses_degree(8, 40), 8);
        assert_eq!(ulysses_degree(3, 40), 1);
        assert_eq!(ulysses_degree(6, 40), 2);
        assert_eq!(ulysses_degree(5, 24), 1);
        assert_eq!(ulysses_degree(6, 24), 6);
    }

    #[test]
    fn memory_plans_offload_only_when_needed() {
        let needs = MemoryNeeds {
            resident_gib: 40.0,
            offload_gib: 24.0,
            minimum_gib: 12.0,
        };
        let plan = |gib: u64| needs.plan(gib * 1024);
        assert_eq!(
            plan(80),
            Some(MemoryPlan {
                offload: false,
                text_encoder_cpu: false
            })
        );
        assert_eq!(
            plan(30),
            Some(MemoryPlan {
                offload: true,
                text_encoder_cpu: false
            })
        );
        assert_eq!(
            plan(16),
            Some(MemoryPlan {
                offload: true,
                text_encoder_cpu: true
            })
        );
        assert_eq!(plan(8), None);
    }
}
