//! The configuration file's shape: the original pipeline's `pipeline_config.yaml` keys, kept
//! where they were, plus ttv's own sections.
//!
//! Every field is optional: a missing key means "the default" or "from the environment".
//! Secrets are [`ApiKey`]s, which serialise as `***`. Serialised, unset keys are `null`;
//! [`Config::to_value`](super::Config::to_value) leaves them out.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::budget::Budget;
use crate::http::ApiKey;
use crate::limits::LimitSettings;
use crate::request::{AspectRatio, ResolutionSpec, VideoDuration};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The backend `generate` uses: a name, an alias, or `auto`.
    pub default_backend: Option<String>,
    /// The backend (a name or a list) to try when the default one cannot run here or fails
    /// in a fallback-worthy way; where the original pipeline's documentation puts it.
    /// `remote_api_settings.fallback_backend` (where its sample file puts it) is read too.
    pub fallback_backend: Option<Value>,
    /// Where videos go when `--out` is not given.
    pub output_dir: Option<PathBuf>,
    /// Default resolution: `1280*720` (the pipeline's Wan form), `1280x720` or `720p`.
    pub size: Option<ResolutionSpec>,
    /// Default aspect ratio, such as `16:9`.
    pub video_aspect_ratio: Option<AspectRatio>,
    /// Default clip length in seconds.
    pub segment_duration_seconds: Option<VideoDuration>,
    /// Default seed; negative means a new random seed each time (Wan's `-1`).
    pub base_seed: Option<i64>,

    /// A Wan2.1 or Wan2.2 checkout (holds `generate.py`); turns the `wan` backend on.
    pub wan2_dir: Option<PathBuf>,
    /// Wan text-to-video checkpoint folder (ttv's; found inside `wan2_dir` when absent).
    pub t2v_model_dir: Option<PathBuf>,
    /// The Wan `--task` of `t2v_model_dir` when its folder name does not say (`t2v-14B`, ...).
    pub t2v_task: Option<String>,
    /// The Wan `--task` of `i2v_model_dir` when its folder name does not say (`i2v-A14B`, ...).
    pub i2v_task: Option<String>,
    /// Wan image-to-video checkpoint folder.
    pub i2v_model_dir: Option<PathBuf>,
    /// Wan first-last-frame checkpoint folder.
    pub flf2v_model_dir: Option<PathBuf>,
    /// GPUs ttv may use for local models.
    pub total_gpus: Option<u32>,
    /// The pipeline's GPUs per generation; used as `total_gpus` when that is absent.
    pub gpu_count: Option<u32>,
    /// Local jobs run side by side, each on `total_gpus / parallel_segments` GPUs.
    pub parallel_segments: Option<u32>,
    /// Wan frames when the request gives no duration (4n+1).
    pub frame_num: Option<u32>,
    /// Wan `--sample_steps`.
    pub sample_steps: Option<u32>,
    /// Wan `--sample_shift`.
    pub sample_shift: Option<f64>,
    /// Wan `--sample_guide_scale`.
    pub guide_scale: Option<f64>,
    /// Force Wan's `--offload_model` (chosen from free GPU memory when absent).
    pub offload_model: Option<bool>,
    /// Force Wan's `--t5_cpu` (chosen from free GPU memory when absent).
    pub t5_cpu: Option<bool>,
    /// The pipeline's Veo model; `google_veo.veo_model` wins.
    pub veo_model: Option<String>,
    /// The pipeline's Gemini key (for its image step); Veo uses it when `google_veo.api_key`
    /// is not set.
    pub gemini_api_key: Option<ApiKey>,

    /// Runway.
    pub runway_ml: RunwaySection,
    /// Google Veo.
    pub google_veo: VeoSection,
    /// MiniMax (Hailuo).
    pub minimax: MinimaxSection,
    /// fal.
    pub fal: FalSection,
    /// Kling AI.
    pub kling: KlingSection,
    /// Luma AI (Agents API and Dream Machine).
    pub luma: LumaSection,
    /// Replicate.
    pub replicate: ReplicateSection,
    /// ByteDance Seedance on BytePlus ModelArk.
    pub seedance: SeedanceSection,
    /// Wan on Alibaba Cloud Model Studio (DashScope); `dashscope` is read as this too.
    #[serde(alias = "dashscope")]
    pub alibaba: AlibabaSection,
    /// The S3-compatible bucket for images that must travel by URL.
    pub uploads: UploadsSection,
    /// HunyuanVideo.
    pub hunyuan_video: HunyuanSection,
    /// LTX-Video.
    pub ltx_video: LtxSection,
    /// Settings shared by the hosted backends.
    pub remote_api_settings: RemoteApiSettings,
    /// The embedded renderer.
    pub animatic: AnimaticSection,
    /// Programs and folders of the local backends.
    pub local: LocalSection,
    /// How `auto` chooses and what comes after a failure.
    pub routing: RoutingSection,
    /// Spending limits, in US dollars (checked before every submit; unknown keys are errors,
    /// since a misspelt limit would silently not apply).
    pub budget: Budget,
    /// Jobs in flight and request rates, overall and per backend.
    pub limits: LimitSettings,
    /// Where ttv keeps its jobs.
    pub store: StoreSection,
    /// Providers that call back when a job ends (fal, MiniMax): where they can reach ttv.
    pub webhooks: WebhooksSection,

    // The original pipeline's keys of its other steps (planning, keyframe images, chaining):
    // accepted so its file loads unchanged; ttv does not act on them.
    #[allow(missing_docs)]
    pub task: Option<Value>,
    #[allow(missing_docs)]
    pub veo_resolution: Option<Value>,
    #[allow(missing_docs)]
    pub prompt: Option<Value>,
    #[allow(missing_docs)]
    pub generation_mode: Option<Value>,
    #[allow(missing_docs)]
    pub chaining_max_retries: Option<Value>,
    #[allow(missing_docs)]
    pub chaining_use_fsdp_flags: Option<Value>,
    #[allow(missing_docs)]
    pub framepack_dir: Option<Value>,
    #[allow(missing_docs)]
    pub initial_image: Option<Value>,
    #[allow(missing_docs)]
    pub use_first_last_frame: Option<Value>,
    #[allow(missing_docs)]
    pub single_keyframe_mode: Option<Value>,
    #[allow(missing_docs)]
    pub keyframe_position: Option<Value>,
    #[allow(missing_docs)]
    pub duration_seconds: Option<Value>,
    /// ttv's own film key: frames of cross-fade between segments (0: hard cuts).
    pub crossfade_frames: Option<Value>,
    #[allow(missing_docs)]
    pub image_generation_model: Option<Value>,
    #[allow(missing_docs)]
    pub reference_images_dir: Option<Value>,
    #[allow(missing_docs)]
    pub image_size: Option<Value>,
    #[allow(missing_docs)]
    pub auto_generate_initial: Option<Value>,
    #[allow(missing_docs)]
    pub prompt_enhancement_model: Option<Value>,
    #[allow(missing_docs)]
    pub openai_base_url: Option<Value>,
    #[allow(missing_docs)]
    pub openai_api_key: Option<ApiKey>,
    #[allow(missing_docs)]
    pub stability_api_key: Option<ApiKey>,
    #[allow(missing_docs)]
    pub image_router_api_key: Option<ApiKey>,
    #[allow(missing_docs)]
    pub i2i_mode: Option<Value>,
    #[allow(missing_docs)]
    pub models_dir: Option<Value>,
}

/// `runway_ml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunwaySection {
    /// API key (else `RUNWAYML_API_SECRET`).
    pub api_key: Option<ApiKey>,
    /// Model id, such as `gen4_turbo`. The pipeline's `model_version` is read as this.
    #[serde(alias = "model_version")]
    pub model: Option<String>,
    /// API address (else `RUNWAYML_BASE_URL`, else Runway's).
    pub base_url: Option<String>,
    /// The pipeline's cap; ttv checks durations against the model's own list.
    pub max_duration: Option<Value>,
    /// The pipeline's ratio; use `video_aspect_ratio`.
    pub default_ratio: Option<Value>,
    /// The pipeline's seed; use `base_seed`.
    pub seed: Option<Value>,
    /// The pipeline's Gen-2 motion setting; no current model takes it.
    pub motion_amount: Option<Value>,
    /// The pipeline's per-backend deadline; ttv's is `remote_api_settings.timeout`.
    pub timeout: Option<Value>,
    /// The pipeline's per-backend poll interval; ttv's is
    /// `remote_api_settings.polling_interval`.
    pub polling_interval: Option<Value>,
    /// The pipeline's per-backend retries; ttv's are `remote_api_settings.max_retries`.
    pub max_retries: Option<Value>,
}

/// `google_veo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VeoSection {
    /// Gemini API key (else `GEMINI_API_KEY`, `GOOGLE_API_KEY` or top-level `gemini_api_key`).
    pub api_key: Option<ApiKey>,
    /// Service-account key file (else `GOOGLE_APPLICATION_CREDENTIALS`); turns on Vertex AI.
    pub credentials_path: Option<PathBuf>,
    /// Vertex AI project (else `GOOGLE_CLOUD_PROJECT`, else the key file's).
    pub project_id: Option<String>,
    /// Vertex AI region (else `GOOGLE_CLOUD_LOCATION`, else `us-central1`).
    pub region: Option<String>,
    /// Model id; `model` is read as this too, and top-level `veo_model` when both are absent.
    #[serde(alias = "model")]
    pub veo_model: Option<String>,
    /// Cloud Storage URI for Vertex outputs (`gs://bucket/prefix`); inline when absent.
    pub output_bucket: Option<String>,
    /// Gemini API address (else `GOOGLE_GEMINI_BASE_URL`).
    pub base_url: Option<String>,
    /// Vertex AI address (else `GOOGLE_VERTEX_BASE_URL`, else the region's).
    pub vertex_base_url: Option<String>,
    /// Cloud Storage JSON API address (else `STORAGE_EMULATOR_HOST`).
    pub storage_base_url: Option<String>,
    /// Overrides the key file's `token_uri`.
    pub token_uri: Option<String>,
    /// The pipeline's bucket name; ttv's is `output_bucket` (`gs://bucket/prefix`).
    pub bucket_name: Option<Value>,
    /// The pipeline's per-backend deadline; ttv's is `remote_api_settings.timeout`.
    pub timeout: Option<Value>,
    /// The pipeline's per-backend poll interval; ttv's is
    /// `remote_api_settings.polling_interval`.
    pub polling_interval: Option<Value>,
}

/// `minimax`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MinimaxSection {
    /// API key (else `MINIMAX_API_KEY`).
    pub api_key: Option<ApiKey>,
    /// Model, such as `MiniMax-Hailuo-02`; `model_version` is read as this too.
    #[serde(alias = "model_version")]
    pub model: Option<String>,
    /// API address: international, mainland China, or the simulator (else `MINIMAX_API_HOST`).
    pub base_url: Option<String>,
    /// The pipeline's cap; ttv checks durations against the model's own list.
    pub max_duration: Option<Value>,
}

/// `fal`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FalSection {
    /// API key (else `FAL_KEY` or `FAL_API_KEY`).
    pub api_key: Option<ApiKey>,
    /// The fal app id, such as `fal-ai/kling-video/v2.1/standard/image-to-video`.
    pub model: Option<String>,
    /// Queue API address.
    pub base_url: Option<String>,
    /// Platform API address (looks up a request whose submit got no answer).
    pub platform_url: Option<String>,
    /// The pipeline's cap; ttv checks durations against the model's own list.
    pub max_duration: Option<Value>,
    /// Input fields sent with every request (a request's `extra` wins).
    pub default_input: BTreeMap<String, Value>,
    /// fal's REST API, for storage uploads of large images.
    pub storage_url: Option<String>,
}

/// `kling`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KlingSection {
    /// Access key (else `KLINGAI_ACCESS_KEY`).
    pub access_key: Option<ApiKey>,
    /// Secret key (else `KLINGAI_SECRET_KEY`).
    pub secret_key: Option<ApiKey>,
    /// A single API key instead of the pair (else `KLINGAI_API_KEY`).
    pub api_key: Option<ApiKey>,
    /// `model_name`, such as `kling-v2-6`.
    pub model: Option<String>,
    /// `std` or `pro` when the resolution does not decide.
    pub mode: Option<String>,
    /// `international` (default) or `china`.
    pub region: Option<String>,
    /// API address (else `KLINGAI_BASE_URL`, else the region's).
    pub base_url: Option<String>,
}

/// `luma`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LumaSection {
    /// Agents API key (else `LUMA_AGENTS_API_KEY`).
    pub api_key: Option<ApiKey>,
    /// Dream Machine key, for `ray-2`, `ray-flash-2`, `ray-1-6` (else `LUMAAI_API_KEY`).
    pub legacy_api_key: Option<ApiKey>,
    /// `ray-3.2` (default), `ray-2`, `ray-flash-2` or `ray-1-6`.
    pub model: Option<String>,
    /// Agents API address (else `LUMA_BASE_URL`).
    pub base_url: Option<String>,
    /// Dream Machine address (else `LUMAAI_BASE_URL`).
    pub legacy_base_url: Option<String>,
}

/// `replicate`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplicateSection {
    /// API token (else `REPLICATE_API_TOKEN`); `api_token` is read as this too.
    #[serde(alias = "api_token")]
    pub api_key: Option<ApiKey>,
    /// `owner/name`, `owner/name:version` or a version id.
    pub model: Option<String>,
    /// API address (else `REPLICATE_BASE_URL`).
    pub base_url: Option<String>,
    /// Seconds the create call may wait for a short job (`Prefer: wait`), 0 to 60.
    pub wait_secs: Option<u64>,
    /// Inputs sent with every request (a request's `extra` wins).
    pub default_input: BTreeMap<String, Value>,
}

/// `seedance`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeedanceSection {
    /// API key (else `ARK_API_KEY`).
    pub api_key: Option<ApiKey>,
    /// Model id, such as `seedance-1-5-pro-251215`.
    pub model: Option<String>,
    /// `international` (BytePlus, default) or `china` (Volcengine).
    pub region: Option<String>,
    /// API address (else `ARK_BASE_URL`, else the region's).
    pub base_url: Option<String>,
}

/// `alibaba`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlibabaSection {
    /// API key (else `DASHSCOPE_API_KEY`); it must belong to the region used.
    pub api_key: Option<ApiKey>,
    /// A model id (`wan2.6-t2v`) or a family (`wan2.6`).
    pub model: Option<String>,
    /// `international` (Singapore, default) or `china` (Beijing).
    pub region: Option<String>,
    /// API address (else `DASHSCOPE_HTTP_BASE_URL`, else the region's).
    pub base_url: Option<String>,
    /// Workspace id, sent as `X-DashScope-WorkSpace`.
    pub workspace: Option<String>,
}

/// `uploads`: the bucket for images that must travel by URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadsSection {
    /// `s3://bucket/prefix` (else `TTV_UPLOAD_STORE`); uploads are off without it.
    pub store: Option<String>,
    /// An S3-compatible endpoint (else `AWS_ENDPOINT_URL`); AWS when absent.
    pub endpoint: Option<String>,
    /// The bucket's region (else `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`).
    pub region: Option<String>,
    /// Access key id (else `AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<ApiKey>,
    /// Secret access key (else `AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<ApiKey>,
    /// Session token (else `AWS_SESSION_TOKEN`).
    pub session_token: Option<ApiKey>,
    /// How long a presigned URL stays valid, in seconds (default 3600).
    pub url_ttl_secs: Option<f64>,
}

/// `hunyuan_video`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct HunyuanSection {
    /// HunyuanVideo checkout; the pipeline's `hunyuan_dir` is read as this.
    #[serde(alias = "hunyuan_dir")]
    pub repo_dir: Option<PathBuf>,
    /// Weights folder (`ckpts`). The pipeline's `ckpt_path` is read as this, or, when it
    /// names a weights file, as `dit_weight` (its `ckpts` folder becoming `model_base`).
    #[serde(alias = "ckpt_path")]
    pub model_base: Option<PathBuf>,
    pub dit_weight: Option<PathBuf>,
    pub i2v_repo_dir: Option<PathBuf>,
    pub i2v_model_base: Option<PathBuf>,
    pub i2v_dit_weight: Option<PathBuf>,
    /// A diffusers-format model folder, served by the persistent worker.
    pub diffusers_model: Option<PathBuf>,
    pub video_length: Option<u32>,
    /// Sampling steps; the pipeline's `sample_steps` is read as this.
    #[serde(alias = "sample_steps")]
    pub infer_steps: Option<u32>,
    pub flow_shift: Option<f64>,
    pub embedded_cfg_scale: Option<f64>,
    pub cfg_scale: Option<f64>,
    pub flow_reverse: Option<bool>,
    pub i2v_stability: Option<bool>,
    pub use_cpu_offload: Option<bool>,
    pub seed: Option<u64>,
    /// The pipeline's config file setting; HunyuanVideo takes flags, not a file.
    pub config_file: Option<Value>,
    /// The pipeline's cap; ttv checks durations against the model's own frame counts.
    pub max_duration: Option<Value>,
}

/// `ltx_video`: Lightricks LTX-Video, through its `inference.py` or the persistent worker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LtxSection {
    /// A Lightricks/LTX-Video checkout (holds `inference.py` and `configs/`).
    pub repo_dir: Option<PathBuf>,
    /// The pipeline config: a file name in `<repo_dir>/configs/` (`ltxv-13b-0.9.8-distilled.yaml`,
    /// the default) or a path to one.
    pub pipeline_config: Option<PathBuf>,
    /// The folder holding the `.safetensors` files the pipeline config names (the checkpoint
    /// and, for multi-scale configs, the spatial upscaler); `repo_dir` when absent.
    pub models_dir: Option<PathBuf>,
    /// A local copy of the T5 text encoder (`PixArt-alpha/PixArt-XL-2-1024-MS`, with
    /// `text_encoder/` and `tokenizer/`); the config's hub name when absent.
    pub text_encoder: Option<PathBuf>,
    /// Frames when the request gives no duration (8n+1; 121).
    pub num_frames: Option<u32>,
    /// Frames per second when the request gives none (30).
    pub frame_rate: Option<u32>,
    /// The seed when the request gives none.
    pub seed: Option<u64>,
    /// `--offload_to_cpu` (the script offloads only on GPUs under 30 GB).
    pub offload_to_cpu: Option<bool>,
    /// Let the pipeline rewrite short prompts with its prompt-enhancer models (off: ttv
    /// sends the prompt as written).
    pub enhance_prompt: Option<bool>,
    /// Noise added to conditioning images (0.15).
    pub image_cond_noise_scale: Option<f64>,
    /// A diffusers-format LTX-Video 0.9.5+ folder, served by the persistent worker (it wins
    /// over `repo_dir`).
    pub diffusers_model: Option<PathBuf>,
    /// A diffusers-format latent upsampler folder: the worker then renders multi-scale.
    pub diffusers_upsampler: Option<PathBuf>,
    /// `dev` or `distilled`, for the worker's defaults; read from the folder name when absent.
    pub variant: Option<String>,
    /// Worker only: sampling steps of the first pass (the pipeline config decides for
    /// `inference.py`).
    pub num_inference_steps: Option<u32>,
    /// Worker only: guidance scale (the pipeline config decides for `inference.py`).
    pub guidance_scale: Option<f64>,
}

/// `remote_api_settings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RemoteApiSettings {
    /// Retries of one call that failed in a retryable way.
    pub max_retries: Option<u32>,
    /// Deadline for one job, in seconds (a job past it is kept, to be resumed).
    pub timeout: Option<f64>,
    /// Deadline for one request and its answer, in seconds.
    pub call_timeout: Option<f64>,
    /// Seconds between status polls (each backend has its provider's default). Forces a
    /// fixed interval, even with `adaptive_polling`.
    pub polling_interval: Option<f64>,
    /// Hosted backends pace their polls from how long jobs take (learned from the job
    /// store, seeded with typical times) and from the provider's progress, instead of a
    /// fixed interval. On unless `false` (or `TTV_ADAPTIVE_POLLING=false`) or a
    /// `polling_interval` is set.
    pub adaptive_polling: Option<bool>,
    /// The backend (a name or a list) to try when the chosen one fails in a fallback-worthy
    /// way.
    pub fallback_backend: Option<Value>,
}

/// `animatic`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnimaticSection {
    /// Camera move when the prompt names none (`zoom_in`, `pan_left`, `orbit`, ...).
    pub camera: Option<String>,
    /// Frame rate when the request gives none.
    pub fps: Option<u32>,
}

/// `local`: programs and folders of the local backends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LocalSection {
    /// Python interpreter (`python3`).
    pub python: Option<PathBuf>,
    /// `torchrun`, for several GPUs per job.
    pub torchrun: Option<PathBuf>,
    /// `nvidia-smi`, for the GPU probe.
    pub nvidia_smi: Option<PathBuf>,
    /// Where job folders (inputs, logs, raw output) go.
    pub work_dir: Option<PathBuf>,
    /// Deadline for one local job, in seconds.
    pub timeout: Option<f64>,
}

/// `routing`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoutingSection {
    /// How `auto` ranks backends: `cheapest`, `fastest` or `order`.
    pub prefer: Option<String>,
    /// Backends in the order `prefer: order` tries them.
    pub order: Vec<String>,
    /// Backends tried in turn after a fallback-worthy failure (after `fallback_backend`).
    pub fallback: Vec<String>,
    /// Also fall back when a provider rejects the content.
    pub fallback_on_content_rejection: Option<bool>,
}

/// `store`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreSection {
    /// The folder of the job database (else `TTV_DATA_DIR`, else the user's data folder).
    pub data_dir: Option<PathBuf>,
}

/// `webhooks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhooksSection {
    /// The address providers call (`ttv serve`'s public address, or a tunnel to it), without
    /// the `/webhooks/PROVIDER` path. Webhooks are off without it.
    pub url: Option<String>,
    /// Where fal publishes the keys its webhooks are signed with (default fal's own).
    pub fal_jwks_url: Option<String>,
    /// How many seconds a fal webhook's timestamp may be from this machine's clock (default
    /// 300, fal's documented leeway).
    pub tolerance_secs: Option<f64>,
}

/// The keys a section accepts, for "did you mean" (aliases included).
pub(super) fn keys_at(section: &str) -> Vec<&'static str> {
    let mut keys = match section {
        "" => fields_of::<Config>(),
        "runway_ml" => fields_of::<RunwaySection>(),
        "google_veo" => fields_of::<VeoSection>(),
        "minimax" => fields_of::<MinimaxSection>(),
        "fal" => fields_of::<FalSection>(),
        "kling" => fields_of::<KlingSection>(),
        "luma" => fields_of::<LumaSection>(),
        "replicate" => fields_of::<ReplicateSection>(),
        "seedance" => fields_of::<SeedanceSection>(),
        "alibaba" | "dashscope" => fields_of::<AlibabaSection>(),
        "uploads" => fields_of::<UploadsSection>(),
        "hunyuan_video" => fields_of::<HunyuanSection>(),
        "ltx_video" => fields_of::<LtxSection>(),
        "remote_api_settings" => fields_of::<RemoteApiSettings>(),
        "animatic" => fields_of::<AnimaticSection>(),
        "local" => fields_of::<LocalSection>(),
        "routing" => fields_of::<RoutingSection>(),
        "budget" => fields_of::<Budget>(),
        "limits" => fields_of::<LimitSettings>(),
        "store" => fields_of::<StoreSection>(),
        "webhooks" => fields_of::<WebhooksSection>(),
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
