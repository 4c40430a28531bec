//! The storyboard: what a film is made of, as a person writes it (YAML or JSON) or as a
//! planner makes it. It also reads the original pipeline's planning output
//! (`segmentation_logic`, `keyframe_prompts`, `video_prompts`), so existing plans run as they
//! are.
//!
//! This module parses, converts, checks and writes storyboards; it runs nothing.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Problem, Result};
use crate::request::{AspectRatio, ResolutionSpec};

/// The most segments one film may have.
pub const MAX_SEGMENTS: usize = 200;

/// A film's plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storyboard {
    /// The film's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Put before every segment's prompt (the shared look, setting and characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
    /// Frame size of the film (`1280x720`, `720p`); the configuration's `size` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Aspect ratio (`16:9`); the configuration's `video_aspect_ratio` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect: Option<String>,
    /// Frames per second of the film; the first segment's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<u32>,
    /// Why the story was cut this way (the planner's reasoning); informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logic: Option<String>,
    /// The segments, in order.
    pub segments: Vec<Segment>,
    /// What `ttv film plan` found the whole run would cost; informational, ignored when run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Value>,
}

/// One segment: one clip of the film.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// What the clip shows (the storyboard's `style` is put before it).
    pub prompt: String,
    /// Clip length in seconds; the configuration's `segment_duration_seconds` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// An image the clip starts from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_frame: Option<PathBuf>,
    /// An image the clip ends on (backends that take first and last frames).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_frame: Option<PathBuf>,
    /// What the clip's last frame shows, for keyframe images (the prompt when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyframe_prompt: Option<String>,
    /// The backend for this segment; the run's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// The seed; the run's `base_seed` plus the segment's index when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Backend-specific options, as `ttv generate --extra` takes them.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, Value>,
    /// What `ttv film plan` found this segment would cost; informational, ignored when run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Value>,
}

/// The original pipeline's planning output (its `enhanced_prompt.json`).
#[derive(Debug, Deserialize)]
struct Original {
    #[serde(default)]
    segmentation_logic: Option<OriginalLogic>,
    #[serde(default)]
    keyframe_prompts: Vec<OriginalPrompt>,
    video_prompts: Vec<OriginalPrompt>,
}

#[derive(Debug, Deserialize)]
struct OriginalLogic {
    #[serde(default)]
    total_duration_seconds: Option<f64>,
    #[serde(default)]
    number_of_segments: Option<u32>,
    #[serde(default)]
    reasoning: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OriginalPrompt {
    #[serde(default)]
    segment: Option<u32>,
    prompt: String,
    #[serde(default)]
    first_frame: Option<String>,
    #[serde(default)]
    last_frame: Option<String>,
}

impl Storyboard {
    /// Reads a storyboard from YAML or JSON text: ttv's own format or the original
    /// pipeline's planning output. `source` names the text in messages; relative image paths
    /// are taken from `base` (the storyboard's folder).
    pub fn parse(text: &str, source: &str, base: &Path) -> Result<Self> {
        let tree: Value = serde_saphyr::from_str(text).map_err(|e| {
            Error::invalid(vec![Problem::new(
                "storyboard",
                source,
                format!("a YAML or JSON storyboard ({e})"),
            )])
        })?;
        let mut board = if tree.get("video_prompts").is_some() {
            from_original(tree, source, base)?
        } else {
            serde_json::from_value::<Storyboard>(tree).map_err(|e| {
                Error::invalid(vec![Problem::new(
                    "storyboard",
                    source,
                    format!(
                        "a storyboard with title, style, size, aspect, fps, logic and segments \
                         {{prompt, duration, first_frame, last_frame, keyframe_prompt, backend, \
                         seed, extra}} ({e})"
                    ),
                )])
            })?
        };
        for seg in &mut board.segments {
            for path in [&mut seg.first_frame, &mut seg.last_frame]
                .into_iter()
                .flatten()
            {
                if path.is_relative() {
                    *path = base.join(&*path);
                }
            }
        }
        Ok(board)
    }

    /// The storyboard of an LLM planner's draft.
    pub fn from_draft(draft: crate::planner::PlanDraft) -> Self {
        Self {
            title: draft.title,
            logic: draft.logic,
            segments: draft
                .segments
                .into_iter()
                .map(|d| Segment {
                    prompt: d.prompt,
                    duration: d.duration,
                    keyframe_prompt: d.keyframe_prompt,
                    ..Segment::default()
                })
                .collect(),
            ..Self::default()
        }
    }

    /// Reads the storyboard file at `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid(vec![Problem::new(
                "storyboard",
                path.display(),
                format!("a readable YAML or JSON file ({e})"),
            )])
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &path.display().to_string(), base)
    }

    /// The storyboard as YAML.
    pub fn to_yaml(&self) -> Result<String> {
        serde_saphyr::to_string(self).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot write the storyboard as YAML: {e}"),
            )
        })
    }

    /// The prompt sent for segment `index`: the style, then the segment's own prompt.
    pub fn prompt_of(&self, index: usize) -> String {
        let own = self
            .segments
            .get(index)
            .map(|s| s.prompt.trim())
            .unwrap_or_default();
        match self.style.as_deref().map(str::trim) {
            Some(style) if !style.is_empty() && !own.is_empty() => format!("{style} {own}"),
            Some(style) if !style.is_empty() => style.to_owned(),
            _ => own.to_owned(),
        }
    }

    /// What the keyframe image that ends segment `index` shows: its keyframe prompt, else its
    /// prompt.
    pub fn keyframe_prompt_of(&self, index: usize) -> String {
        match self
            .segments
            .get(index)
            .and_then(|s| s.keyframe_prompt.as_deref())
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            Some(p) => p.to_owned(),
            None => self
                .segments
                .get(index)
                .map(|s| s.prompt.trim().to_owned())
                .unwrap_or_default(),
        }
    }

    /// Every problem at once, each naming the field, the value and what is allowed.
    pub fn check(&self) -> Result<()> {
        let mut problems = Vec::new();
        if self.segments.is_empty() {
            problems.push(Problem::new(
                "segments",
                "[]",
                "at least one segment with a prompt",
            ));
        }
        if self.segments.len() > MAX_SEGMENTS {
            problems.push(Problem::new(
                "segments",
                format!("{} segments", self.segments.len()),
                format!("at most {MAX_SEGMENTS} segments"),
            ));
        }
        if let Some(size) = &self.size
            && size.parse::<ResolutionSpec>().is_err()
        {
            problems.push(Problem::new(
                "size",
                format!("{size:?}"),
                "WIDTHxHEIGHT such as 1280x720, or a tier such as 480p, 720p or 1080p",
            ));
        }
        if let Some(aspect) = &self.aspect
            && aspect.parse::<AspectRatio>().is_err()
        {
            problems.push(Problem::new(
                "aspect",
                format!("{aspect:?}"),
                "a ratio W:H such as 16:9, 9:16 or 1:1",
            ));
        }
        if let Some(fps) = self.fps
            && !(1..=120).contains(&fps)
        {
            problems.push(Problem::new("fps", fps, "1 to 120 frames per second"));
        }
        for (i, seg) in self.segments.iter().enumerate() {
            let field = |name: &str| format!("segments[{i}].{name}");
            if seg.prompt.trim().is_empty()
                && seg.first_frame.is_none()
                && self.style.as_deref().is_none_or(|s| s.trim().is_empty())
            {
                problems.push(Problem::new(
                    field("prompt"),
                    "\"\"",
                    "what the segment shows (or a first_frame image)",
                ));
            }
            if let Some(d) = seg.duration
                && !(d.is_finite() && d > 0.0 && d <= 600.0)
            {
                problems.push(Problem::new(
                    field("duration"),
                    d,
                    "a number of seconds above 0 and at most 600",
                ));
            }
            for (name, path) in [
                ("first_frame", &seg.first_frame),
                ("last_frame", &seg.last_frame),
            ] {
                if let Some(path) = path
                    && !path.is_file()
                {
                    problems.push(Problem::new(
                        field(name),
                        path.display(),
                        "the path of an existing PNG, JPEG or WebP file",
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid(problems))
        }
    }
}

/// The original pipeline's planning output as a storyboard. Its frame names
/// (`provided_start_image.png`, `segment_01.png`) name keyframes it was about to generate:
/// they are kept only when such a file exists beside the plan; otherwise the run's keyframe
/// source makes them.
fn from_original(tree: Value, source: &str, base: &Path) -> Result<Storyboard> {
    let original: Original = serde_json::from_value(tree).map_err(|e| {
        Error::invalid(vec![Problem::new(
            "storyboard",
            source,
            format!(
                "the original pipeline's plan: segmentation_logic {{total_duration_seconds, \
                 number_of_segments, reasoning}}, keyframe_prompts [{{segment, prompt}}], \
                 video_prompts [{{segment, prompt, first_frame, last_frame}}] ({e})"
            ),
        )])
    })?;
    let count = original.video_prompts.len();
    let duration = original.segmentation_logic.as_ref().and_then(|l| {
        let total = l.total_duration_seconds?;
        let n = l
            .number_of_segments
            .filter(|n| *n > 0)
            .unwrap_or(count as u32);
        (total > 0.0 && n > 0).then(|| total / f64::from(n))
    });
    let existing = |name: &Option<String>| {
        name.as_deref()
            .map(|n| base.join(n))
            .filter(|p| p.is_file())
    };
    let segments = original
        .video_prompts
        .iter()
        .enumerate()
        .map(|(i, video)| {
            let number = video.segment.unwrap_or(i as u32 + 1);
            let keyframe = original
                .keyframe_prompts
                .iter()
                .find(|k| k.segment == Some(number))
                .or_else(|| original.keyframe_prompts.get(i))
                .map(|k| k.prompt.clone());
            Segment {
                prompt: video.prompt.clone(),
                duration,
                first_frame: existing(&video.first_frame),
                last_frame: existing(&video.last_frame),
                keyframe_prompt: keyframe,
                ..Segment::default()
            }
        })
        .collect();
    Ok(Storyboard {
        logic: original.segmentation_logic.and_then(|l| l.reasoning),
        segments,
        ..Storyboard::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = r#"{
      "segmentation_logic": {"total_duration_seconds": 10, "number_of_segments": 2,
                             "reasoning": "start and finish"},
      "keyframe_prompts": [{"segment": 1, "prompt": "mid-stride"},
                           {"segment": 2, "prompt": "the other side"}],
      "video_prompts": [
        {"segment": 1, "prompt": "she starts running", "first_frame": "provided_start_image.png",
         "last_frame": "segment_01.png"},
        {"segment": 2, "prompt": "she crosses", "first_frame": "segment_01.png",
         "last_frame": "segment_02.png"}]}"#;

    #[test]
    fn the_original_pipelines_plan_reads_as_a_storyboard() {
        let board = Storyboard::parse(ORIGINAL, "plan.json", Path::new("/nowhere")).unwrap();
        assert_eq!(board.logic.as_deref(), Some("start and finish"));
        assert_eq!(board.segments.len(), 2);
        assert_eq!(board.segments[1].prompt, "she crosses");
        assert_eq!(
            board.segments[1].keyframe_prompt.as_deref(),
            Some("the other side")
        );
        assert_eq!(board.segments[0].duration, Some(5.0));
        assert_eq!(board.segments[0].first_frame, None, "not generated yet");
        board.check().unwrap();
    }

    #[test]
    fn a_storyboard_survives_yaml_both_ways() {
        let board = Storyboard {
            title: Some("Boats".into()),
            style: Some("watercolour".into()),
            size: Some("640x360".into()),
            segments: vec![
                Segment {
                    prompt: "a paper boat".into(),
                    duration: Some(3.0),
                    seed: Some(7),
                    ..Segment::default()
                },
                Segment {
                    prompt: "it sails away".into(),
                    backend: Some("runway".into()),
                    ..Segment::default()
                },
            ],
            ..Storyboard::default()
        };
        let yaml = board.to_yaml().unwrap();
        let back = Storyboard::parse(&yaml, "x.yaml", Path::new(".")).unwrap();
        assert_eq!(back, board);
        assert_eq!(back.prompt_of(0), "watercolour a paper boat");
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let board = Storyboard {
            size: Some("huge".into()),
            segments: vec![
                Segment {
                    prompt: " ".into(),
                    ..Segment::default()
                },
                Segment {
                    prompt: "ok".into(),
                    duration: Some(-1.0),
                    first_frame: Some("missing.png".into()),
                    ..Segment::default()
                },
            ],
            ..Storyboard::default()
        };
        let err = board.check().unwrap_err();
        let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "size",
                "segments[0].prompt",
                "segments[1].duration",
                "segments[1].first_frame"
            ]
        );
    }

    #[test]
    fn unknown_fields_are_refused_with_the_allowed_ones() {
        let err = Storyboard::parse(
            "segments:\n  - prompt: a\n    durration: 3\n",
            "s.yaml",
            Path::new("."),
        )
        .unwrap_err();
        let p = &err.problems()[0];
        assert!(p.allowed.contains("durration"), "{}", p.allowed);
    }
}
