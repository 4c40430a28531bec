//! The configuration file's shape: the original pipeline's `pipeline_config.yaml` keys, kept
//! where they were, plus ttv's own sections.
//!
//! Every field is optional: a missing key means "the default" or "from the environment".
//! Secrets are [`ApiKey`]s, which serialise as `***`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::ApiKey;
use crate::request::{AspectRatio, ResolutionSpec, VideoDuration};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The backend `generate` uses: a name, an alias, or `auto`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_backend: Option<String>,
    /// Where videos go when `--out` is not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dir: Option<PathBuf>,
    /// Default resolution: `1280*720` (the pipeline's Wan form), `1280x720` or `720p`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<ResolutionSpec>,
    /// Default aspect ratio, such as `16:9`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_aspect_ratio: Option<AspectRatio>,
    /// Default clip length in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_duration_seconds: Option<VideoDuration>,
    /// Default seed; negative means a new random seed each time (Wan's `-1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_seed: Option<i64>,

    /// A Wan2.1 or Wan2.2 checkout (holds `generate.py`); turns the `wan` backend on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wan2_dir: Option<PathBuf>,
    /// Wan text-to-video checkpoint folder (ttv's; found inside `wan2_dir` when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t2v_model_dir: Option<PathBuf>,
    /// The Wan `--task` of `t2v_model_dir` when its folder name does not say (`t2v-14B`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t2v_task: Option<String>,
    /// The Wan `--task` of `i2v_model_dir` when its folder name does not say (`i2v-A14B`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub i2v_task: Option<String>,
    /// Wan image-to-video checkpoint folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub i2v_model_dir: Option<PathBuf>,
    /// Wan first-last-frame checkpoint folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flf2v_model_dir: Option<PathBuf>,
    /// GPUs ttv may use for local models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_gpus: Option<u32>,
    /// The pipeline's GPUs per generation; used as `total_gpus` when that is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_count: Option<u32>,
    /// Local jobs run side by side, each on `total_gpus / parallel_segments` GPUs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_segments: Option<u32>,
    /// Wan frames when the request gives no duration (4n+1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_num: Option<u32>,
    /// Wan `--sample_steps`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_steps: Option<u32>,
    /// Wan `--sample_shift`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_shift: Option<f64>,
    /// Wan `--sample_guide_scale`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guide_scale: Option<f64>,
    /// Force Wan's `--offload_model` (chosen from free GPU memory when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offload_model: Option<bool>,
    /// Force Wan's `--t5_cpu` (chosen from free GPU memory when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t5_cpu: Option<bool>,
    /// The pipeline's Veo model; `google_veo.veo_model` wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub veo_model: Option<String>,
    /// The pipeline's Veo resolution; `google_veo.resolution` wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub veo_resolution: Option<String>,
    /// The pipeline's Gemini key (for its image step); Veo uses it when `google_veo.api_key`
    /// is not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gemini_api_key: Option<ApiKey>,

    /// Runway.
    #[serde(skip_serializing_if = "is_default")]
    pub runway_ml: RunwaySection,
    /// Google Veo.
    #[serde(skip_serializing_if = "is_default")]
    pub google_veo: VeoSection,
    /// MiniMax (Hailuo).
    #[serde(skip_serializing_if = "is_default")]
    pub minimax: MinimaxSection,
    /// fal.
    #[serde(skip_serializing_if = "is_default")]
    pub fal: FalSection,
    /// HunyuanVideo.
    #[serde(skip_serializing_if = "is_default")]
    pub hunyuan_video: HunyuanSection,
    /// Settings shared by the hosted backends.
    #[serde(skip_serializing_if = "is_default")]
    pub remote_api_settings: RemoteApiSettings,
    /// The embedded renderer.
    #[serde(skip_serializing_if = "is_default")]
    pub animatic: AnimaticSection,
    /// Programs and folders of the local backends.
    #[serde(skip_serializing_if = "is_default")]
    pub local: LocalSection,
    /// How `auto` chooses and what comes after a failure.
    #[serde(skip_serializing_if = "is_default")]
    pub routing: RoutingSection,
    /// Spending limits, in US dollars.
    #[serde(skip_serializing_if = "is_default")]
    pub budget: BudgetSection,
    /// Where ttv keeps its jobs.
    #[serde(skip_serializing_if = "is_default")]
    pub store: StoreSection,

    // The original pipeline's keys of its other steps (planning, keyframe images, chaining):
    // accepted so its file loads unchanged; ttv does not act on them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub task: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub prompt: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub generation_mode: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub chaining_max_retries: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub chaining_use_fsdp_flags: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub framepack_dir: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub initial_image: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub use_first_last_frame: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub single_keyframe_mode: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub keyframe_position: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub duration_seconds: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub image_generation_model: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub reference_images_dir: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub image_size: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub auto_generate_initial: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub prompt_enhancement_model: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub openai_base_url: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub openai_api_key: Option<ApiKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub stability_api_key: Option<ApiKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub image_router_api_key: Option<ApiKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub i2i_mode: Option<Value>,
}

/// `runway_ml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunwaySection {
    /// API key (else `RUNWAYML_API_SECRET`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKey>,
    /// Model id, such as `gen4_turbo`. The pipeline's `model_version` is read as this.
    #[serde(alias = "model_version", skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// API address (else `RUNWAYML_BASE_URL`, else Runway's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The pipeline's cap; ttv checks durations against the model's own list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<Value>,
    /// The pipeline's ratio; use `video_aspect_ratio`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_ratio: Option<Value>,
    /// The pipeline's seed; use `base_seed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<Value>,
    /// The pipeline's Gen-2 motion setting; no current model takes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub motion_amount: Option<Value>,
}

/// `google_veo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VeoSection {
    /// Gemini API key (else `GEMINI_API_KEY`, `GOOGLE_API_KEY` or top-level `gemini_api_key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKey>,
    /// Vertex AI project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Service-account key file (else `GOOGLE_APPLICATION_CREDENTIALS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_path: Option<PathBuf>,
    /// Vertex AI region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Model id; `model` is read as this too.
    #[serde(alias = "model", skip_serializing_if = "Option::is_none")]
    pub veo_model: Option<String>,
    /// Default resolution for Veo (`720p`, `1080p`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// Cloud Storage URI for Vertex outputs (`gs://bucket/prefix`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_bucket: Option<String>,
    /// Gemini API address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

/// `minimax`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MinimaxSection {
    /// API key (else `MINIMAX_API_KEY`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKey>,
    /// Model, such as `MiniMax-Hailuo-02`; `model_version` is read as this too.
    #[serde(alias = "model_version", skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// API address: international, mainland China, or the simulator (else `MINIMAX_API_HOST`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The pipeline's cap; ttv checks durations against the model's own list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<Value>,
}

/// `fal`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FalSection {
    /// API key (else `FAL_KEY` or `FAL_API_KEY`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKey>,
    /// The fal app id, such as `fal-ai/kling-video/v2.1/standard/image-to-video`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Queue API address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The pipeline's cap; ttv checks durations against the model's own list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<Value>,
    /// Input fields sent with every request (a request's `extra` wins).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub default_input: BTreeMap<String, Value>,
}

/// `hunyuan_video`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct HunyuanSection {
    /// HunyuanVideo checkout; the pipeline's `hunyuan_dir` is read as this.
    #[serde(alias = "hunyuan_dir", skip_serializing_if = "Option::is_none")]
    pub repo_dir: Option<PathBuf>,
    /// Weights folder; the pipeline's `ckpt_path` is read as this.
    #[serde(alias = "ckpt_path", skip_serializing_if = "Option::is_none")]
    pub model_base: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dit_weight: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub i2v_repo_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub i2v_model_base: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub i2v_dit_weight: Option<PathBuf>,
    /// A diffusers-format model folder, served by the persistent worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diffusers_model: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infer_steps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_shift: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded_cfg_scale: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cfg_scale: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_reverse: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub i2v_stability: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_cpu_offload: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The pipeline's config file setting; HunyuanVideo takes flags, not a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_file: Option<Value>,
}

/// `remote_api_settings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RemoteApiSettings {
    /// Retries of one call that failed in a retryable way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Deadline for one job, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// Seconds between status polls (each backend has its provider's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub polling_interval: Option<f64>,
    /// The backend to try when the chosen one fails in a fallback-worthy way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_backend: Option<String>,
}

/// `animatic`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnimaticSection {
    /// Camera move when the prompt names none (`zoom_in`, `pan_left`, `orbit`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    /// Frame rate when the request gives none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fps: Option<u32>,
}

/// `local`: programs and folders of the local backends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LocalSection {
    /// Python interpreter (`python3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python: Option<PathBuf>,
    /// `torchrun`, for several GPUs per job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub torchrun: Option<PathBuf>,
    /// `nvidia-smi`, for the GPU probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nvidia_smi: Option<PathBuf>,
    /// Where job folders (inputs, logs, raw output) go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_dir: Option<PathBuf>,
    /// Deadline for one local job, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
}

/// `routing`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoutingSection {
    /// How `auto` ranks backends: `cheapest`, `fastest` or `order`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefer: Option<String>,
    /// Backends in the order `prefer: order` tries them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub order: Vec<String>,
    /// Backends tried in turn after a fallback-worthy failure (after `fallback_backend`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fallback: Vec<String>,
    /// Also fall back when a provider rejects the content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_on_content_rejection: Option<bool>,
}

/// `budget`, in US dollars.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BudgetSection {
    /// Most one job may cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_job: Option<f64>,
    /// Most spent in one UTC day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_day: Option<f64>,
    /// Most spent in one UTC month.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_month: Option<f64>,
    /// Most spent per month on a backend, by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub per_backend: BTreeMap<String, f64>,
}

/// `store`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreSection {
    /// The folder of the job database (else `TTV_DATA_DIR`, else the user's data folder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// The keys a section accepts, for "did you mean" (aliases included).
pub(super) fn keys_at(section: &str) -> Vec<&'static str> {
    let mut keys = match section {
        "" => fields_of::<Config>(),
        "runway_ml" => fields_of::<RunwaySection>(),
        "google_veo" => fields_of::<VeoSection>(),
        "minimax" => fields_of::<MinimaxSection>(),
        "fal" => fields_of::<FalSection>(),
        "hunyuan_video" => fields_of::<HunyuanSection>(),
        "remote_api_settings" => fields_of::<RemoteApiSettings>(),
        "animatic" => fields_of::<AnimaticSection>(),
        "local" => fields_of::<LocalSection>(),
        "routing" => fields_of::<RoutingSection>(),
        "budget" => fields_of::<BudgetSection>(),
        "store" => fields_of::<StoreSection>(),
        _ => Vec::new(),
    };
    keys.sort_unstable();
    keys
}

/// The field names serde's derive gives a struct, read by asking it to deserialise from a
/// deserializer that only records them.
fn fields_of<T: for<'de> Deserialize<'de>>() -> Vec<&'static str> {
    use serde::de::{self, Visitor};

    struct Probe<'a>(&'a mut Vec<&'static str>);

    impl<'de> de::Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("probe"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.extend_from_slice(fields);
            Err(de::Error::custom("probe"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut fields = Vec::new();
    let _ = T::deserialize(Probe(&mut fields));
    fields
}
