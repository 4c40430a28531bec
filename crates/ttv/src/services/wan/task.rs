//! The `--task` values of Wan2.1's and Wan2.2's `generate.py`, with what each allows.
//!
//! Facts read from the repositories (Wan2.1 at 9737cba, Wan2.2 at 42bf4cf):
//! `wan/configs/__init__.py` (`WAN_CONFIGS`, `SUPPORTED_SIZES`), the per-task configs
//! (`num_heads`, `sample_fps`, `vae_stride`, `patch_size`, default steps/shift/guide
//! scale/frame count), `wan/configs/shared_config.py` (`sample_neg_prompt`), `generate.py`
//! (`_validate_args` defaults, and which parallel flags exist), `wan/image2video.py` (the
//! image-to-video frame size: the image's aspect over the size's area, sides rounded down to
//! `vae_stride × patch_size` = 16) and Wan2.2's `wan/textimage2video.py` with
//! `wan/utils/utils.py::best_output_size` (ti2v-5B: multiples of 32, then scale to cover and
//! centre-crop).

use std::fmt;
use std::str::FromStr;

use crate::request::{Mode, Resolution};
use crate::services::local::MemoryNeeds;

/// `sample_neg_prompt` of both repositories' `shared_config.py`: what `generate.py` uses as
/// the negative prompt (it has no flag for one).
pub const DEFAULT_NEGATIVE_PROMPT: &str = "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

/// The sampling settings `generate.py` uses when none are given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// `--sample_steps`.
    pub steps: u32,
    /// `--sample_shift`: the flow-matching scheduler's shift.
    pub shift: f64,
    /// `--sample_guide_scale`; for Wan2.2's two-expert A14B models, the high-noise expert's.
    pub guide_scale: f64,
    /// The low-noise expert's guidance scale (Wan2.2 A14B only).
    pub guide_scale_low_noise: Option<f64>,
}

/// Which Wan repository a checkout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WanVersion {
    /// Wan-Video/Wan2.1.
    V2_1,
    /// Wan-Video/Wan2.2.
    V2_2,
}

impl fmt::Display for WanVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V2_1 => "Wan2.1",
            Self::V2_2 => "Wan2.2",
        })
    }
}

/// A video task of `generate.py --task`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WanTask {
    /// Wan2.1 `t2v-14B`.
    T2v14B,
    /// Wan2.1 `t2v-1.3B`.
    T2v1_3B,
    /// Wan2.1 `i2v-14B`.
    I2v14B,
    /// Wan2.1 `flf2v-14B`.
    Flf2v14B,
    /// Wan2.2 `t2v-A14B`.
    T2vA14B,
    /// Wan2.2 `i2v-A14B`.
    I2vA14B,
    /// Wan2.2 `ti2v-5B`: text-to-video, or image-to-video with `--image`.
    Ti2v5B,
}

const SIZES_14B: &[(u32, u32)] = &[(1280, 720), (720, 1280), (832, 480), (480, 832)];
const SIZES_480: &[(u32, u32)] = &[(832, 480), (480, 832)];
const SIZES_5B: &[(u32, u32)] = &[(1280, 704), (704, 1280)];

impl WanTask {
    /// Every task ttv drives.
    pub const ALL: [Self; 7] = [
        Self::T2v14B,
        Self::T2v1_3B,
        Self::I2v14B,
        Self::Flf2v14B,
        Self::T2vA14B,
        Self::I2vA14B,
        Self::Ti2v5B,
    ];

    /// The `--task` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::T2v14B => "t2v-14B",
            Self::T2v1_3B => "t2v-1.3B",
            Self::I2v14B => "i2v-14B",
            Self::Flf2v14B => "flf2v-14B",
            Self::T2vA14B => "t2v-A14B",
            Self::I2vA14B => "i2v-A14B",
            Self::Ti2v5B => "ti2v-5B",
        }
    }

    /// The repository that has this task.
    pub fn version(self) -> WanVersion {
        match self {
            Self::T2v14B | Self::T2v1_3B | Self::I2v14B | Self::Flf2v14B => WanVersion::V2_1,
            Self::T2vA14B | Self::I2vA14B | Self::Ti2v5B => WanVersion::V2_2,
        }
    }

    /// The request modes the task serves.
    pub fn modes(self) -> &'static [Mode] {
        match self {
            Self::T2v14B | Self::T2v1_3B | Self::T2vA14B => &[Mode::TextToVideo],
            Self::I2v14B | Self::I2vA14B => &[Mode::ImageToVideo],
            Self::Flf2v14B => &[Mode::FirstLastFrame],
            Self::Ti2v5B => &[Mode::TextToVideo, Mode::ImageToVideo],
        }
    }

    /// `SUPPORTED_SIZES[task]`, as width × height (`--size W*H`). For image input the size
    /// sets the pixel area and the image sets the aspect.
    pub fn sizes(self) -> Vec<Resolution> {
        let list = match self {
            Self::T2v1_3B => SIZES_480,
            Self::Ti2v5B => SIZES_5B,
            _ => SIZES_14B,
        };
        list.iter().map(|&(w, h)| Resolution::new(w, h)).collect()
    }

    /// Output frame rate (`sample_fps`).
    pub fn fps(self) -> u32 {
        match self {
            Self::Ti2v5B => 24,
            _ => 16,
        }
    }

    /// `frame_num` when none is given.
    pub fn default_frames(self) -> u32 {
        match self {
            Self::Ti2v5B => 121,
            _ => 81,
        }
    }

    /// What `generate.py` samples with when nothing is configured, for the nominal `--size`
    /// (Wan2.1 lowers the image-to-video shift to 3.0 at 480p and raises flf2v's to 16;
    /// Wan2.2 takes every value from the task's config).
    pub fn sampling_defaults(self, size: Resolution) -> Sampling {
        let at_480 = size.short_side() < 700;
        let (steps, shift, guide, low) = match self {
            Self::T2v14B | Self::T2v1_3B => (50, 5.0, 5.0, None),
            Self::I2v14B => (40, if at_480 { 3.0 } else { 5.0 }, 5.0, None),
            Self::Flf2v14B => (50, 16.0, 5.0, None),
            // sample_guide_scale = (low noise, high noise).
            Self::T2vA14B => (40, 12.0, 4.0, Some(3.0)),
            Self::I2vA14B => (40, 5.0, 3.5, Some(3.5)),
            Self::Ti2v5B => (50, 5.0, 5.0, None),
        };
        Sampling {
            steps,
            shift,
            guide_scale: guide,
            guide_scale_low_noise: low,
        }
    }

    /// Whether the task has two experts (Wan2.2 A14B), each with its own guidance scale.
    pub fn has_two_experts(self) -> bool {
        matches!(self, Self::T2vA14B | Self::I2vA14B)
    }

    /// What frame sides are a multiple of: `vae_stride × patch_size`.
    pub fn size_multiple(self) -> u32 {
        match self {
            Self::Ti2v5B => 32,
            _ => 16,
        }
    }

    /// The frame size `generate.py` renders for an input `image` at the nominal `size`: the
    /// size's area in the image's shape, as the task's code rounds it.
    pub fn frame_size_for_image(self, size: Resolution, image: Resolution) -> Resolution {
        let area = f64::from(size.width) * f64::from(size.height);
        let (iw, ih) = (
            f64::from(image.width.max(1)),
            f64::from(image.height.max(1)),
        );
        if self == Self::Ti2v5B {
            let (w, h) = best_output_size(iw, ih, 32.0, area);
            return Resolution::new(w, h);
        }
        // image2video.py: lat = sqrt(area × aspect) // vae_stride // patch × patch.
        let aspect = ih / iw;
        let side = |x: f64| ((x.sqrt() / 8.0).floor() / 2.0).floor() as u32 * 2 * 8;
        Resolution::new(side(area / aspect), side(area * aspect))
    }

    /// Attention heads of the DiT: the Ulysses degree must divide it.
    pub fn heads(self) -> u32 {
        match self {
            Self::T2v1_3B => 12,
            Self::Ti2v5B => 24,
            _ => 40,
        }
    }

    /// Whether `generate.py` has `--ring_size` (Wan2.1 only).
    pub fn has_ring_attention(self) -> bool {
        self.version() == WanVersion::V2_1
    }

    /// Rough single-GPU memory needs, from the repositories' READMEs (1.3B runs in 8.19 GB
    /// with offload and T5 on the CPU; ti2v-5B on a 24 GB card; A14B wants an 80 GB card
    /// with offload). Estimates: override with `offload_model` / `t5_cpu` when they are off.
    pub fn memory(self) -> MemoryNeeds {
        match self {
            Self::T2v1_3B => MemoryNeeds {
                resident_gib: 24.0,
                offload_gib: 14.0,
                minimum_gib: 8.0,
            },
            Self::Ti2v5B => MemoryNeeds {
                resident_gib: 48.0,
                offload_gib: 32.0,
                minimum_gib: 22.0,
            },
            Self::T2vA14B | Self::I2vA14B => MemoryNeeds {
                resident_gib: 96.0,
                offload_gib: 76.0,
                minimum_gib: 60.0,
            },
            Self::T2v14B | Self::I2v14B | Self::Flf2v14B => MemoryNeeds {
                resident_gib: 76.0,
                offload_gib: 60.0,
                minimum_gib: 40.0,
            },
        }
    }

    /// The task a checkpoint folder holds, read from its conventional name
    /// (`Wan2.1-T2V-1.3B`, `Wan2.2-TI2V-5B`, `Wan2.1-FLF2V-14B-720P` ...).
    pub fn from_checkpoint_name(name: &str) -> Option<Self> {
        let n = name.to_ascii_lowercase();
        // Longest, most specific names first: `ti2v` contains `i2v`, `flf2v` contains `f2v`.
        [
            ("ti2v-5b", Self::Ti2v5B),
            ("flf2v-14b", Self::Flf2v14B),
            ("t2v-a14b", Self::T2vA14B),
            ("i2v-a14b", Self::I2vA14B),
            ("t2v-1.3b", Self::T2v1_3B),
            ("i2v-14b", Self::I2v14B),
            ("t2v-14b", Self::T2v14B),
        ]
        .into_iter()
        .find(|(key, _)| n.contains(key))
        .map(|(_, task)| task)
    }
}

impl fmt::Display for WanTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WanTask {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|t| t.name()).collect();
                format!("one of {}", names.join(", "))
            })
    }
}

/// Wan2.2's `best_output_size(w, h, dw, dh, expected_area)` with `dw = dh = d`: the
/// multiple-of-`d` size of at most `area` pixels whose shape is closest to `w × h`.
fn best_output_size(w: f64, h: f64, d: f64, area: f64) -> (u32, u32) {
    let ratio = w / h;
    let ow = (area * ratio).sqrt();
    let oh = area / ow;
    // Width first, then height first; the one closer in shape wins.
    let ow1 = (ow / d).floor() * d;
    let oh1 = (area / ow1 / d).floor() * d;
    let oh2 = (oh / d).floor() * d;
    let ow2 = (area / oh2 / d).floor() * d;
    let off = |r: f64| (ratio / r).max(r / ratio);
    if off(ow1 / oh1) < off(ow2 / oh2) {
        (ow1 as u32, oh1 as u32)
    } else {
        (ow2 as u32, oh2 as u32)
    }
}

/// Whether `frames` is a frame count Wan's VAE can produce: 4n+1.
pub fn is_4n_plus_1(frames: u32) -> bool {
    frames >= 1 && (frames - 1).is_multiple_of(4)
}

/// The 4n+1 frame count nearest to `frames` (ties go up).
pub fn nearest_4n_plus_1(frames: u32) -> u32 {
    let n = (frames.saturating_sub(1) + 2) / 4;
    4 * n + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_folder_names_map_to_tasks() {
        for (dir, task) in [
            ("Wan2.1-T2V-14B", WanTask::T2v14B),
            ("Wan2.1-T2V-1.3B", WanTask::T2v1_3B),
            ("Wan2.1-I2V-14B-480P", WanTask::I2v14B),
            ("Wan2.1-FLF2V-14B-720P", WanTask::Flf2v14B),
            ("Wan2.2-T2V-A14B", WanTask::T2vA14B),
            ("Wan2.2-I2V-A14B", WanTask::I2vA14B),
            ("Wan2.2-TI2V-5B", WanTask::Ti2v5B),
        ] {
            assert_eq!(WanTask::from_checkpoint_name(dir), Some(task), "{dir}");
        }
        assert_eq!(WanTask::from_checkpoint_name("my-weights"), None);
    }

    #[test]
    fn frame_counts_snap_to_4n_plus_1() {
        assert!(is_4n_plus_1(81) && is_4n_plus_1(1) && is_4n_plus_1(121));
        assert!(!is_4n_plus_1(80) && !is_4n_plus_1(0));
        assert_eq!(nearest_4n_plus_1(80), 81);
        assert_eq!(nearest_4n_plus_1(120), 121);
        assert_eq!(nearest_4n_plus_1(79), 81);
        assert_eq!(nearest_4n_plus_1(78), 77);
        assert_eq!(nearest_4n_plus_1(0), 1);
    }

    #[test]
    fn image_to_video_keeps_the_images_shape_over_the_sizes_area() {
        let r = Resolution::new;
        // A 4:3 photo at 1280*720's area: 1104x832 (multiples of 16), not 1280x720.
        assert_eq!(
            WanTask::I2v14B.frame_size_for_image(r(1280, 720), r(1600, 1200)),
            r(1104, 816)
        );
        // The same shape as the size: generate.py's floating point loses one row of
        // latents, and so does ttv (checked against the Python expression).
        assert_eq!(
            WanTask::I2vA14B.frame_size_for_image(r(832, 480), r(1664, 960)),
            r(832, 464)
        );
        assert_eq!(
            WanTask::I2v14B.frame_size_for_image(r(1280, 720), r(720, 1280)),
            r(720, 1280)
        );
        // ti2v-5B: multiples of 32 within 1280*704.
        let five = WanTask::Ti2v5B.frame_size_for_image(r(1280, 704), r(1600, 1200));
        assert_eq!(five, r(1088, 800));
        assert!(five.width.is_multiple_of(32) && five.height.is_multiple_of(32));
        assert!(five.width * five.height <= 1280 * 704);
    }

    #[test]
    fn task_names_round_trip() {
        for t in WanTask::ALL {
            assert_eq!(t.name().parse::<WanTask>(), Ok(t));
        }
        assert!("vace-14B".parse::<WanTask>().is_err());
    }
}
