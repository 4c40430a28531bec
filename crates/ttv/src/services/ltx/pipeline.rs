//! LTX-Video's pipeline configs (`configs/*.yaml`): what ttv reads from one, and the copy it
//! hands to `inference.py` with local paths filled in.
//!
//! Keys read (Lightricks/LTX-Video at 5260738, `ltx_video/inference.py::infer` and
//! `configs/`): `pipeline_type` (`base` or `multi-scale`), `checkpoint_path` and
//! `spatial_upscaler_model_path` (file names that the script downloads from the hub unless
//! they are local files), `text_encoder_model_name_or_path`,
//! `prompt_enhancement_words_threshold` (prompts with fewer words are rewritten by two more
//! models unless it is 0), `precision`, and the sampling steps: `timesteps` or
//! `num_inference_steps` less `skip_initial_inference_steps` and
//! `skip_final_inference_steps` (`ltx_video/pipelines/pipeline_ltx_video.py::
//! retrieve_timesteps`), at the top level for `base` and in `first_pass` / `second_pass` for
//! `multi-scale`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Sampling steps when a config gives neither `timesteps` nor `num_inference_steps` (the
/// pipeline's own default).
const PIPELINE_DEFAULT_STEPS: u64 = 50;

/// A pipeline config as read.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// The file it came from.
    pub path: PathBuf,
    /// The whole tree, handed on with local paths filled in.
    tree: Value,
}

impl PipelineConfig {
    /// Reads the YAML at `path`; the error says what is wrong in the user's words.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the pipeline config {}: {e}", path.display()))?;
        let tree: Value = serde_saphyr::from_str(&text).map_err(|e| {
            format!(
                "the pipeline config {} is not valid YAML: {e}",
                path.display()
            )
        })?;
        if !tree.is_object() {
            return Err(format!(
                "the pipeline config {} is not a mapping of keys to values",
                path.display()
            ));
        }
        let config = Self {
            path: path.to_path_buf(),
            tree,
        };
        if config.checkpoint().is_none() {
            return Err(format!(
                "the pipeline config {} names no checkpoint_path",
                path.display()
            ));
        }
        if config.multi_scale() && config.upscaler().is_none() {
            return Err(format!(
                "the pipeline config {} is multi-scale but names no spatial_upscaler_model_path",
                path.display()
            ));
        }
        Ok(config)
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.tree.get(key).and_then(Value::as_str)
    }

    /// `checkpoint_path`.
    pub fn checkpoint(&self) -> Option<&str> {
        self.text("checkpoint_path")
    }

    /// `spatial_upscaler_model_path` (multi-scale).
    pub fn upscaler(&self) -> Option<&str> {
        self.text("spatial_upscaler_model_path")
    }

    /// Whether `pipeline_type` is `multi-scale`: a low-resolution pass, the latent upscaler,
    /// and a refining pass.
    pub fn multi_scale(&self) -> bool {
        self.text("pipeline_type") == Some("multi-scale")
    }

    /// `precision` (`bfloat16`, `mixed_precision`, `float8_e4m3fn`).
    pub fn precision(&self) -> Option<&str> {
        self.text("precision")
    }

    /// The step counts of the sampling passes, in order (the progress bars the script prints).
    pub fn passes(&self) -> Vec<u64> {
        if self.multi_scale() {
            ["first_pass", "second_pass"]
                .iter()
                .map(|k| steps_of(self.tree.get(*k).unwrap_or(&Value::Null)))
                .collect()
        } else {
            vec![steps_of(&self.tree)]
        }
    }

    /// Whether the checkpoint conditions on several frames (0.9.5 and later): what first +
    /// last frame needs. The 0.9 and 0.9.1 checkpoints are named `ltx-video-2b-v0.9*`.
    pub fn conditions_anywhere(&self) -> bool {
        !self
            .checkpoint()
            .is_some_and(|c| c.starts_with("ltx-video-2b-v0.9.safetensors") || c.contains("v0.9.1"))
    }

    /// The config to hand to `inference.py`: the checkpoint and upscaler as absolute files in
    /// `models_dir`, the text encoder replaced when given, and prompt enhancement off unless
    /// asked for (it loads two more models and rewrites the prompt).
    pub fn for_job(
        &self,
        models_dir: &Path,
        text_encoder: Option<&Path>,
        enhance_prompt: bool,
    ) -> Value {
        let mut tree = self.tree.clone();
        let local = |name: &str| models_dir.join(name).display().to_string();
        if let Some(c) = self.checkpoint() {
            tree["checkpoint_path"] = json!(local(c));
        }
        if let Some(u) = self.upscaler() {
            tree["spatial_upscaler_model_path"] = json!(local(u));
        }
        if let Some(t) = text_encoder {
            tree["text_encoder_model_name_or_path"] = json!(t.display().to_string());
        }
        if !enhance_prompt {
            tree["prompt_enhancement_words_threshold"] = json!(0);
        }
        tree
    }

    /// The weight files the config names, as they must exist in `models_dir`.
    pub fn weight_files(&self, models_dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self
            .checkpoint()
            .map(|c| models_dir.join(c))
            .into_iter()
            .collect();
        if self.multi_scale()
            && let Some(u) = self.upscaler()
        {
            files.push(models_dir.join(u));
        }
        files
    }
}

/// The steps one pass samples: `timesteps`, else `num_inference_steps` less the skipped ones.
fn steps_of(pass: &Value) -> u64 {
    if let Some(list) = pass.get("timesteps").and_then(Value::as_array) {
        return list.len() as u64;
    }
    let n = pass
        .get("num_inference_steps")
        .and_then(Value::as_u64)
        .unwrap_or(PIPELINE_DEFAULT_STEPS);
    let skip = |k: &str| pass.get(k).and_then(Value::as_u64).unwrap_or(0);
    n.saturating_sub(skip("skip_initial_inference_steps") + skip("skip_final_inference_steps"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upstream's `configs/ltxv-13b-0.9.8-dev.yaml`, abridged to the keys ttv reads.
    const DEV: &str = r#"
pipeline_type: multi-scale
checkpoint_path: "ltxv-13b-0.9.8-dev.safetensors"
downscale_factor: 0.6666666
spatial_upscaler_model_path: "ltxv-spatial-upscaler-0.9.8.safetensors"
text_encoder_model_name_or_path: "PixArt-alpha/PixArt-XL-2-1024-MS"
precision: "bfloat16"
prompt_enhancement_words_threshold: 120
first_pass:
  guidance_scale: [1, 1, 6, 8, 6, 1, 1]
  num_inference_steps: 30
  skip_final_inference_steps: 3
second_pass:
  guidance_scale: [1]
  num_inference_steps: 30
  skip_initial_inference_steps: 17
"#;

    /// Upstream's `configs/ltxv-2b-0.9.6-distilled.yaml`, abridged.
    const BASE: &str = r#"
pipeline_type: base
checkpoint_path: "ltxv-2b-0.9.6-distilled-04-25.safetensors"
num_inference_steps: 8
prompt_enhancement_words_threshold: 120
"#;

    fn read(text: &str) -> PipelineConfig {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, text).unwrap();
        PipelineConfig::read(&path).unwrap()
    }

    #[test]
    fn sampling_passes_are_read_as_the_script_counts_them() {
        assert_eq!(read(DEV).passes(), [27, 13]);
        assert_eq!(read(BASE).passes(), [8]);
        let distilled = "pipeline_type: multi-scale\ncheckpoint_path: a\nspatial_upscaler_model_path: b\n\
                         first_pass: {timesteps: [1.0, 0.99, 0.98, 0.97, 0.96, 0.9, 0.7]}\n\
                         second_pass: {timesteps: [0.9, 0.7, 0.4]}\n";
        assert_eq!(read(distilled).passes(), [7, 3]);
    }

    #[test]
    fn the_job_copy_names_local_weights_and_turns_prompt_enhancement_off() {
        let config = read(DEV);
        let tree = config.for_job(Path::new("/w"), Some(Path::new("/te")), false);
        assert_eq!(tree["checkpoint_path"], "/w/ltxv-13b-0.9.8-dev.safetensors");
        assert_eq!(
            tree["spatial_upscaler_model_path"],
            "/w/ltxv-spatial-upscaler-0.9.8.safetensors"
        );
        assert_eq!(tree["text_encoder_model_name_or_path"], "/te");
        assert_eq!(tree["prompt_enhancement_words_threshold"], 0);
        assert_eq!(tree["first_pass"]["num_inference_steps"], 30);
        let kept = config.for_job(Path::new("/w"), None, true);
        assert_eq!(kept["prompt_enhancement_words_threshold"], 120);
        assert_eq!(
            kept["text_encoder_model_name_or_path"],
            "PixArt-alpha/PixArt-XL-2-1024-MS"
        );
        assert_eq!(config.weight_files(Path::new("/w")).len(), 2);
        assert_eq!(read(BASE).weight_files(Path::new("/w")).len(), 1);
    }

    #[test]
    fn a_config_without_weights_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, "pipeline_type: multi-scale\ncheckpoint_path: x\n").unwrap();
        let err = PipelineConfig::read(&path).unwrap_err();
        assert!(err.contains("spatial_upscaler_model_path"), "{err}");
        std::fs::write(&path, "- a list\n").unwrap();
        assert!(PipelineConfig::read(&path).unwrap_err().contains("mapping"));
    }
}
