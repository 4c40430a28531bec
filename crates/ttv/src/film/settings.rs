//! The film's settings, from the original pipeline's `pipeline_config.yaml` keys:
//! `prompt`, `generation_mode`, `segment_duration_seconds`, `duration_seconds`,
//! `parallel_segments`, `chaining_max_retries`, `initial_image`, `single_keyframe_mode`,
//! `keyframe_position`, `use_first_last_frame` and `reference_images_dir`. The keys shared
//! with single clips (`default_backend`, fallbacks, `size`, `video_aspect_ratio`,
//! `base_seed`, `output_dir`) are the configuration's resolved settings.
//!
//! Defaults are the original pipeline's. Relative paths are taken from the configuration
//! file's folder.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, Problem, Result};

/// How continuity is carried from segment to segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenerationMode {
    /// Segments run in parallel from keyframe images (the original's default).
    #[default]
    Keyframe,
    /// Segments run one after another, each from the exact last frame of the one before.
    Chaining,
}

impl fmt::Display for GenerationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Keyframe => "keyframe",
            Self::Chaining => "chaining",
        })
    }
}

impl FromStr for GenerationMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "keyframe" | "keyframes" => Ok(Self::Keyframe),
            "chaining" | "chain" => Ok(Self::Chaining),
            _ => Err(Error::invalid(vec![Problem::new(
                "generation_mode",
                format!("{s:?}"),
                "keyframe or chaining",
            )])),
        }
    }
}

/// Which keyframe a single-keyframe segment starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyframePosition {
    /// The keyframe before the segment (the previous segment's last frame).
    #[default]
    First,
    /// As `first` (the original pipeline does the same).
    Middle,
    /// The segment's own keyframe (its last frame) is its input image.
    Last,
}

/// The longest cross-fade, in frames (10 s at 24 fps).
pub const MAX_CROSSFADE_FRAMES: u32 = 240;

/// What a film run needs beyond the single-clip settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilmSettings {
    /// The story (`prompt`), when the configuration has one.
    pub prompt: Option<String>,
    /// `generation_mode`.
    pub mode: GenerationMode,
    /// `segment_duration_seconds` (5).
    pub segment_secs: f64,
    /// `duration_seconds`: the film's length when planned from a prompt.
    pub total_secs: Option<f64>,
    /// `parallel_segments` (1): segments made at once in keyframe mode.
    pub parallel: usize,
    /// `chaining_max_retries` (3): new attempts of a failed chaining segment.
    pub chaining_max_retries: u32,
    /// `initial_image`: the first frame of the film.
    pub initial_image: Option<PathBuf>,
    /// `single_keyframe_mode` (false): one keyframe per segment, as its input image.
    pub single_keyframe: bool,
    /// `keyframe_position` (first).
    pub keyframe_position: KeyframePosition,
    /// `use_first_last_frame` (true): give backends that take them both keyframes.
    pub first_last_frame: bool,
    /// `reference_images_dir`: keyframe images named as the original names them
    /// (`provided_start_image.png` or `segment_00.png` for the first frame, `segment_NN.png`
    /// for the frame that ends segment NN).
    pub reference_images_dir: Option<PathBuf>,
    /// `crossfade_frames` (0): frames of cross-fade between consecutive segments in the
    /// join (0: hard cuts, joined by remux where the segments allow it). Each fade overlaps
    /// the two segments, so the film is that many frames shorter per cut; a fade is at most
    /// half of either segment.
    #[serde(default)]
    pub crossfade_frames: u32,
}

impl Default for FilmSettings {
    fn default() -> Self {
        Self {
            prompt: None,
            mode: GenerationMode::Keyframe,
            segment_secs: 5.0,
            total_secs: None,
            parallel: 1,
            chaining_max_retries: 3,
            initial_image: None,
            single_keyframe: false,
            keyframe_position: KeyframePosition::First,
            first_last_frame: true,
            reference_images_dir: None,
            crossfade_frames: 0,
        }
    }
}

impl FilmSettings {
    /// Reads the film keys of `config`; relative paths from `base`. Every problem at once.
    pub fn from_config(config: &Config, base: &Path) -> Result<Self> {
        let mut problems = Vec::new();
        let mut s = Self::default();
        let text = |key: &str, v: &Option<Value>, problems: &mut Vec<Problem>| match v {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(t.clone()),
            Some(other) => {
                problems.push(Problem::new(key, other, "text"));
                None
            }
        };
        s.prompt = text("prompt", &config.prompt, &mut problems)
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty());
        if let Some(mode) = text("generation_mode", &config.generation_mode, &mut problems) {
            match mode.parse() {
                Ok(m) => s.mode = m,
                Err(e) => problems.extend(e.problems().iter().cloned()),
            }
        }
        if let Some(d) = config.segment_duration_seconds {
            s.segment_secs = d.as_secs_f64();
        }
        s.total_secs = number("duration_seconds", &config.duration_seconds, &mut problems)
            .filter(|d| check_positive("duration_seconds", *d, &mut problems));
        if let Some(p) = config.parallel_segments {
            if p == 0 {
                problems.push(Problem::new("parallel_segments", 0, "1 or more"));
            } else {
                s.parallel = p as usize;
            }
        }
        if let Some(n) = number("crossfade_frames", &config.crossfade_frames, &mut problems) {
            if n >= 0.0 && n.fract() == 0.0 && n <= f64::from(MAX_CROSSFADE_FRAMES) {
                s.crossfade_frames = n as u32;
            } else {
                problems.push(Problem::new(
                    "crossfade_frames",
                    n,
                    format!("a whole number of frames from 0 to {MAX_CROSSFADE_FRAMES}"),
                ));
            }
        }
        if let Some(n) = number(
            "chaining_max_retries",
            &config.chaining_max_retries,
            &mut problems,
        ) {
            if n >= 0.0 && n.fract() == 0.0 && n <= 100.0 {
                s.chaining_max_retries = n as u32;
            } else {
                problems.push(Problem::new(
                    "chaining_max_retries",
                    n,
                    "a whole number from 0 to 100",
                ));
            }
        }
        s.initial_image = text("initial_image", &config.initial_image, &mut problems)
            .filter(|t| !t.trim().is_empty())
            .map(|t| base.join(t));
        s.reference_images_dir = text(
            "reference_images_dir",
            &config.reference_images_dir,
            &mut problems,
        )
        .filter(|t| !t.trim().is_empty())
        .map(|t| base.join(t));
        if let Some(b) = flag(
            "single_keyframe_mode",
            &config.single_keyframe_mode,
            &mut problems,
        ) {
            s.single_keyframe = b;
        }
        if let Some(b) = flag(
            "use_first_last_frame",
            &config.use_first_last_frame,
            &mut problems,
        ) {
            s.first_last_frame = b;
        }
        if let Some(pos) = text(
            "keyframe_position",
            &config.keyframe_position,
            &mut problems,
        ) {
            s.keyframe_position = match pos.trim().to_ascii_lowercase().as_str() {
                "first" => KeyframePosition::First,
                "middle" => KeyframePosition::Middle,
                "last" => KeyframePosition::Last,
                _ => {
                    problems.push(Problem::new(
                        "keyframe_position",
                        format!("{pos:?}"),
                        "first, middle or last",
                    ));
                    KeyframePosition::First
                }
            };
        }
        if problems.is_empty() {
            Ok(s)
        } else {
            Err(Error::invalid(problems))
        }
    }
}

fn number(key: &str, v: &Option<Value>, problems: &mut Vec<Problem>) -> Option<f64> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(t)) => match t.trim().trim_end_matches('s').parse::<f64>() {
            Ok(n) if n.is_finite() => Some(n),
            _ => {
                problems.push(Problem::new(key, format!("{t:?}"), "a number"));
                None
            }
        },
        Some(other) => {
            problems.push(Problem::new(key, other, "a number"));
            None
        }
    }
}

fn check_positive(key: &str, v: f64, problems: &mut Vec<Problem>) -> bool {
    let ok = v > 0.0 && v <= 6.0 * 3600.0;
    if !ok {
        problems.push(Problem::new(key, v, "seconds above 0, at most 6 hours"));
    }
    ok
}

fn flag(key: &str, v: &Option<Value>, problems: &mut Vec<Problem>) -> Option<bool> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(t)) => match t.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Some(true),
            "false" | "no" | "off" => Some(false),
            _ => {
                problems.push(Problem::new(key, format!("{t:?}"), "true or false"));
                None
            }
        },
        Some(other) => {
            problems.push(Problem::new(key, other, "true or false"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Config {
        crate::config::from_yaml(yaml, &std::collections::HashMap::new()).config
    }

    #[test]
    fn the_original_keys_are_read_with_its_defaults() {
        let s = FilmSettings::from_config(&config(""), Path::new("/cfg")).unwrap();
        assert_eq!(s, FilmSettings::default());
        let s = FilmSettings::from_config(
            &config(
                "prompt: a ferry\ngeneration_mode: \"chaining\"\nsegment_duration_seconds: 4.0\n\
                 parallel_segments: 3\nchaining_max_retries: 2\ninitial_image: start.png\n\
                 single_keyframe_mode: true\nkeyframe_position: last\nreference_images_dir: input\n",
            ),
            Path::new("/cfg"),
        )
        .unwrap();
        assert_eq!(s.prompt.as_deref(), Some("a ferry"));
        assert_eq!(s.mode, GenerationMode::Chaining);
        assert_eq!(
            (s.segment_secs, s.parallel, s.chaining_max_retries),
            (4.0, 3, 2)
        );
        assert_eq!(s.initial_image, Some(PathBuf::from("/cfg/start.png")));
        assert_eq!(s.reference_images_dir, Some(PathBuf::from("/cfg/input")));
        assert!(s.single_keyframe);
        assert_eq!(s.keyframe_position, KeyframePosition::Last);
    }

    #[test]
    fn wrong_values_name_the_key_and_what_is_allowed() {
        let err = FilmSettings::from_config(
            &config(
                "generation_mode: sideways\nchaining_max_retries: -1\nkeyframe_position: top\n",
            ),
            Path::new("."),
        )
        .unwrap_err();
        let got: Vec<_> = err
            .problems()
            .iter()
            .map(|p| (p.field.as_str(), p.allowed.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("generation_mode", "keyframe or chaining"),
                ("chaining_max_retries", "a whole number from 0 to 100"),
                ("keyframe_position", "first, middle or last"),
            ]
        );
    }

    #[test]
    fn crossfade_frames_is_a_whole_number_of_frames() {
        let s =
            FilmSettings::from_config(&config("crossfade_frames: 6\n"), Path::new(".")).unwrap();
        assert_eq!(s.crossfade_frames, 6);
        for bad in ["-1", "2.5", "241"] {
            let err = FilmSettings::from_config(
                &config(&format!("crossfade_frames: {bad}\n")),
                Path::new("."),
            )
            .unwrap_err();
            assert_eq!(err.problems()[0].field, "crossfade_frames");
            assert_eq!(
                err.problems()[0].allowed,
                "a whole number of frames from 0 to 240"
            );
        }
    }
}
