//! The `--task` values of Wan2.1's and Wan2.2's `generate.py`, with what each allows.
//!
//! Facts read from the repositories (Wan2.1 at 9737cba, Wan2.2 at 42bf4cf):
//! `wan/configs/__init__.py` (`WAN_CONFIGS`, `SUPPORTED_SIZES`), the per-task configs
//! (`num_heads`, `sample_fps`, default steps/shift/guide scale/frame count) and
//! `generate.py` (`_validate_args` defaults, and which parallel flags exist).

use std::fmt;
use std::str::FromStr;

use crate::request::{Mode, Resolution};
use crate::services::local::MemoryNeeds;

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

    /// `sample_steps` when none is given.
    pub fn default_steps(self) -> u32 {
        match self {
            Self::I2v14B | Self::T2vA14B | Self::I2vA14B => 40,
            _ => 50,
        }
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
    fn task_names_round_trip() {
        for t in WanTask::ALL {
            assert_eq!(t.name().parse::<WanTask>(), Ok(t));
        }
        assert!("vace-14B".parse::<WanTask>().is_err());
    }
}
