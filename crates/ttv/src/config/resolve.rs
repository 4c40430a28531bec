//! From [`Config`] and the environment to the [`Settings`] the commands use.

use std::path::PathBuf;
use std::time::Duration;

use super::schema::Config;
use super::{ADAPTIVE_POLLING_ENV, DEFAULT_BACKEND_ENV, Env, Finding, SecretSource};
use crate::budget::Budget;
use crate::http::ApiKey;
use crate::layers::LayerSettings;
use crate::limits::{self, LimitSettings};
use crate::registry::{self, RegistrySettings};
use crate::request::{AspectRatio, ResolutionSpec, VideoDuration};
use crate::retry::RetryPolicy;
use crate::router::Preference;
use crate::services::animatic::AnimaticOptions;
use crate::services::animatic::camera::CameraMove;
use crate::services::fal::{self, FalOptions};
use crate::services::hunyuan::HunyuanOptions;
use crate::services::local::LocalRun;
use crate::services::ltx::{LtxOptions, Variant};
use crate::services::minimax::{self, MinimaxOptions};
use crate::services::runway::{self, RunwayOptions};
use crate::services::veo::{self, VeoOptions};
use crate::services::wan::{WanOptions, WanTask};

/// The older name of fal's key variable, still read.
const FAL_LEGACY_KEY_ENV: &str = "FAL_API_KEY";
/// The OpenAI SDKs' key variable.
const OPENAI_KEY_ENV: &str = "OPENAI_API_KEY";
/// Frame rates the embedded renderer can make.
const ANIMATIC_FPS: std::ops::RangeInclusive<u32> = 8..=60;

/// Request values the configuration supplies when the command line does not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestDefaults {
    /// `segment_duration_seconds`.
    pub duration: Option<VideoDuration>,
    /// `video_aspect_ratio`.
    pub aspect: Option<AspectRatio>,
    /// `size`.
    pub resolution: Option<ResolutionSpec>,
    /// `base_seed` when not negative.
    pub seed: Option<u64>,
}

/// What the commands use.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Options of every backend.
    pub registry: RegistrySettings,
    /// `default_backend` (or `TTV_DEFAULT_BACKEND`): a name, an alias or `auto`.
    pub default_backend: String,
    /// How `auto` ranks backends (`routing.prefer`, `routing.order`).
    pub preference: Preference,
    /// Backends tried in turn after a fallback-worthy failure: `fallback_backend`, then
    /// `routing.fallback`.
    pub fallback: Vec<String>,
    /// Whether a content rejection is worth falling back from.
    pub fallback_on_content_rejection: bool,
    /// Retries and deadlines (`remote_api_settings.max_retries`, `timeout`, `call_timeout`).
    pub retry: RetryPolicy,
    /// Spending limits (`budget`).
    pub budget: Budget,
    /// Jobs in flight and request rates (`limits`).
    pub limits: LimitSettings,
    /// Where videos go when `--out` is not given.
    pub output_dir: PathBuf,
    /// Where the job store lives (`store.data_dir`), when set.
    pub data_dir: Option<PathBuf>,
    /// Request defaults.
    pub defaults: RequestDefaults,
    /// The OpenAI-compatible API (`openai_api_key` or `OPENAI_API_KEY`, `openai_base_url`).
    pub openai: OpenAiAccess,
    /// `prompt_enhancement_model`: the model that plans films.
    pub planner_model: String,
    /// The image backends (`image_generation_model`, `openai_api_key`, `gemini_api_key`,
    /// `stability_api_key` and their environment variables).
    pub images: crate::images::registry::ImageSettings,
}

/// Where an OpenAI-compatible API is and the key for it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiAccess {
    /// Bearer key; `None` when neither the file nor the environment has one (local servers
    /// often need none).
    pub api_key: Option<ApiKey>,
    /// Base URL, `https://api.openai.com/v1` unless set.
    pub base_url: String,
}

impl OpenAiAccess {
    /// Whether an LLM can be asked: a key, or a base URL of its own (a local server).
    pub fn is_configured(&self) -> bool {
        self.api_key.is_some() || self.base_url != crate::planner::DEFAULT_BASE_URL
    }
}

impl Default for Settings {
    fn default() -> Self {
        super::from_yaml("", &std::collections::HashMap::new()).settings
    }
}

/// Fills the environment into `config` and resolves it.
pub(super) fn resolve(
    mut config: Config,
    env: &dyn Env,
    findings: &mut Vec<Finding>,
) -> (Config, Settings, Vec<SecretSource>) {
    let mut secrets = Secrets {
        env,
        findings,
        sources: Vec::new(),
    };
    config.runway_ml.api_key = secrets.pick(
        "runway_ml.api_key",
        config.runway_ml.api_key.take(),
        &runway::KEY_ENVS,
    );
    config.minimax.api_key = secrets.pick(
        "minimax.api_key",
        config.minimax.api_key.take(),
        &[minimax::KEY_ENV],
    );
    config.fal.api_key = secrets.pick(
        "fal.api_key",
        config.fal.api_key.take(),
        &[fal::KEY_ENV, FAL_LEGACY_KEY_ENV],
    );
    config.openai_api_key = secrets.pick(
        "openai_api_key",
        config.openai_api_key.take(),
        &[OPENAI_KEY_ENV],
    );
    let gemini = secrets.pick("gemini_api_key", config.gemini_api_key.take(), &[]);
    config.google_veo.api_key = secrets
        .pick(
            "google_veo.api_key",
            config.google_veo.api_key.take(),
            &veo::KEY_ENVS,
        )
        .or_else(|| gemini.clone());
    config.gemini_api_key = gemini;
    super::providers::secrets(&mut config, &mut secrets);
    let sources = secrets.sources;
    super::providers::addresses(&mut config, env);

    fill(&mut config.runway_ml.base_url, env, runway::BASE_URL_ENV);
    fill(&mut config.minimax.base_url, env, minimax::HOST_ENV);
    fill(&mut config.fal.base_url, env, fal::BASE_URL_ENV);
    if let Some(given) = config.fal.base_url.take() {
        let (url, note) = fal::queue_base_url(&given);
        if let Some(note) = note {
            findings.push(Finding::note("fal.base_url", note));
        }
        config.fal.base_url = Some(url);
    }
    let g = &mut config.google_veo;
    if g.credentials_path.is_none() {
        g.credentials_path = env
            .var(veo::CREDENTIALS_ENV)
            .filter(|v| !v.trim().is_empty())
            .map(|v| crate::services::local::absolute(std::path::Path::new(&v)));
    }
    if g.project_id.as_deref().is_some_and(is_placeholder) {
        findings.push(Finding::warning(
            "google_veo.project_id",
            format!(
                "looks like a placeholder, not a project; ignored (set it here or in {})",
                veo::PROJECT_ENV
            ),
        ));
        g.project_id = None;
    }
    fill(&mut g.project_id, env, veo::PROJECT_ENV);
    fill(&mut g.region, env, veo::REGION_ENV);
    let [gemini_url, vertex_url, storage_url] = veo::BASE_URL_ENVS;
    fill(&mut g.base_url, env, gemini_url);
    fill(&mut g.vertex_base_url, env, vertex_url);
    fill(&mut g.storage_base_url, env, storage_url);
    if g.veo_model.is_none() {
        g.veo_model = config.veo_model.clone();
    }
    if let Some(name) = env
        .var(DEFAULT_BACKEND_ENV)
        .filter(|v| !v.trim().is_empty())
    {
        let name = name.trim();
        if name.eq_ignore_ascii_case("auto") || registry::lookup(name).is_some() {
            config.default_backend = Some(name.to_owned());
        } else {
            // Named as the variable, not as the file's key it would have replaced.
            let message = registry::unknown_backend(DEFAULT_BACKEND_ENV, name).to_string();
            let message = message
                .strip_prefix(&format!("{DEFAULT_BACKEND_ENV}: "))
                .unwrap_or(&message)
                .to_owned();
            findings.push(Finding::error(
                DEFAULT_BACKEND_ENV,
                format!("{message} (this environment variable overrides default_backend)"),
            ));
        }
    }

    if let Some(value) = env
        .var(ADAPTIVE_POLLING_ENV)
        .filter(|v| !v.trim().is_empty())
    {
        match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => config.remote_api_settings.adaptive_polling = Some(true),
            "0" | "false" | "no" | "off" => {
                config.remote_api_settings.adaptive_polling = Some(false);
            }
            _ => findings.push(Finding::error(
                ADAPTIVE_POLLING_ENV,
                format!(
                    "{value:?}; expected true or false (this environment variable overrides remote_api_settings.adaptive_polling)"
                ),
            )),
        }
    }

    let mut settings = settings(&config, findings);
    settings.images = super::images::settings(&config, &settings.openai, env, findings);
    (config, settings, sources)
}

/// Picks each secret from the file or, failing that, the environment, and notes the source.
pub(super) struct Secrets<'a> {
    env: &'a dyn Env,
    findings: &'a mut Vec<Finding>,
    sources: Vec<SecretSource>,
}

impl Secrets<'_> {
    pub(super) fn pick(
        &mut self,
        path: &str,
        file: Option<ApiKey>,
        vars: &[&str],
    ) -> Option<ApiKey> {
        if let Some(key) = file {
            if !is_placeholder(key.expose()) {
                self.sources.push(SecretSource {
                    path: path.to_owned(),
                    from: "configuration file".to_owned(),
                });
                return Some(key);
            }
            self.findings.push(Finding::warning(
                path,
                format!(
                    "looks like a placeholder, not a key; ignored{}",
                    match vars.first() {
                        Some(var) => format!(" (set it here or in {var})"),
                        None => String::new(),
                    }
                ),
            ));
        }
        for var in vars {
            if let Some(value) = self.env.var(var).filter(|v| !v.trim().is_empty()) {
                if is_placeholder(&value) {
                    self.findings.push(Finding::warning(
                        path,
                        format!("{var} looks like a placeholder, not a key; ignored"),
                    ));
                    continue;
                }
                self.sources.push(SecretSource {
                    path: path.to_owned(),
                    from: format!("environment variable {var}"),
                });
                return Some(ApiKey::new(value.trim()));
            }
        }
        None
    }
}

/// Whether a value is a sample file's stand-in such as `YOUR_RUNWAY_API_KEY`, `<key>` or
/// `your-api-key-here`.
pub(super) fn is_placeholder(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    v.is_empty()
        || v.starts_with("your_")
        || v.starts_with("your-")
        || v.starts_with("your ")
        || v.ends_with("_here")
        || v.ends_with("-here")
        || (v.starts_with('<') && v.ends_with('>'))
        || v == "changeme"
        || v == "..."
        || v.chars().all(|c| c == 'x' || c == '*')
}

fn fill(slot: &mut Option<String>, env: &dyn Env, var: &str) {
    if slot.is_none() {
        *slot = env.var(var).filter(|v| !v.trim().is_empty());
    }
}

fn settings(config: &Config, findings: &mut Vec<Finding>) -> Settings {
    let mut check = Checks { findings };
    let poll = check.seconds(
        "remote_api_settings.polling_interval",
        config.remote_api_settings.polling_interval,
    );
    let remote = &config.remote_api_settings;
    let retry = RetryPolicy {
        max_retries: remote
            .max_retries
            .unwrap_or(RetryPolicy::default().max_retries),
        job_timeout: check.seconds("remote_api_settings.timeout", remote.timeout),
        call_timeout: check.seconds("remote_api_settings.call_timeout", remote.call_timeout),
        ..RetryPolicy::default()
    };

    let mut runway = RunwayOptions {
        api_key: config.runway_ml.api_key.clone(),
        ..RunwayOptions::default()
    };
    set(&mut runway.base_url, &config.runway_ml.base_url);
    set(&mut runway.model, &config.runway_ml.model);
    let g = &config.google_veo;
    let mut veo = VeoOptions {
        api_key: g.api_key.clone(),
        credentials_path: g.credentials_path.clone(),
        project_id: g.project_id.clone(),
        vertex_base_url: g.vertex_base_url.clone(),
        token_uri: g.token_uri.clone(),
        output_bucket: g.output_bucket.clone(),
        ..VeoOptions::default()
    };
    set(&mut veo.base_url, &g.base_url);
    set(&mut veo.storage_base_url, &g.storage_base_url);
    set(&mut veo.region, &g.region);
    set(&mut veo.model, &g.veo_model);
    let mut minimax = MinimaxOptions {
        api_key: config.minimax.api_key.clone(),
        ..MinimaxOptions::default()
    };
    set(&mut minimax.base_url, &config.minimax.base_url);
    set(&mut minimax.model, &config.minimax.model);
    let mut fal = FalOptions {
        api_key: config.fal.api_key.clone(),
        default_input: config
            .fal
            .default_input
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ..FalOptions::default()
    };
    set(&mut fal.base_url, &config.fal.base_url);
    set(&mut fal.platform_url, &config.fal.platform_url);
    set(&mut fal.model, &config.fal.model);
    set(&mut fal.storage_url, &config.fal.storage_url);
    let more = super::providers::resolve(config, poll, check.findings);
    if let Some(poll) = poll {
        runway.poll_interval = poll;
        veo.poll_interval = poll;
        minimax.poll_interval = poll;
        fal.poll_interval = poll;
    }

    let run = check.local_run(config);
    let frame_num = check.four_n_plus_one("frame_num", config.frame_num);
    let t2v_task = check.wan_task("t2v_task", config.t2v_task.as_deref());
    let i2v_task = check.wan_task("i2v_task", config.i2v_task.as_deref());
    let video_length = check.four_n_plus_one(
        "hunyuan_video.video_length",
        config.hunyuan_video.video_length,
    );
    let wan = config.wan2_dir.as_ref().map(|dir| WanOptions {
        t2v_model_dir: config.t2v_model_dir.clone(),
        i2v_model_dir: config.i2v_model_dir.clone(),
        flf2v_model_dir: config.flf2v_model_dir.clone(),
        t2v_task,
        i2v_task,
        frame_num,
        sample_steps: config.sample_steps,
        sample_shift: config.sample_shift,
        guide_scale: config.guide_scale,
        base_seed: config.base_seed.and_then(|s| u64::try_from(s).ok()),
        offload_model: config.offload_model,
        t5_cpu: config.t5_cpu,
        run: run.clone(),
        ..WanOptions::new(dir)
    });
    let hy = &config.hunyuan_video;
    let (model_base, dit_weight) = check.hunyuan_weights(hy);
    let hunyuan = (hy.repo_dir.is_some()
        || hy.i2v_repo_dir.is_some()
        || hy.diffusers_model.is_some())
    .then(|| {
        let defaults = HunyuanOptions::default();
        HunyuanOptions {
            repo_dir: hy.repo_dir.clone(),
            model_base,
            dit_weight,
            i2v_repo_dir: hy.i2v_repo_dir.clone(),
            i2v_model_base: hy.i2v_model_base.clone(),
            i2v_dit_weight: hy.i2v_dit_weight.clone(),
            video_length,
            infer_steps: hy.infer_steps,
            flow_shift: hy.flow_shift,
            embedded_cfg_scale: hy.embedded_cfg_scale,
            cfg_scale: hy.cfg_scale,
            flow_reverse: hy.flow_reverse.unwrap_or(defaults.flow_reverse),
            i2v_stability: hy.i2v_stability.unwrap_or(defaults.i2v_stability),
            use_cpu_offload: hy.use_cpu_offload,
            seed: hy.seed,
            diffusers_model: hy.diffusers_model.clone(),
            run: run.clone(),
        }
    });
    let ltx = check.ltx(&config.ltx_video, run);

    let animatic = AnimaticOptions {
        camera: config.animatic.camera.as_deref().and_then(|name| {
            name.parse::<CameraMove>()
                .map_err(|allowed| {
                    check.error("animatic.camera", format!("{name:?}; expected {allowed}"))
                })
                .ok()
        }),
        fps: config.animatic.fps.filter(|fps| {
            let ok = ANIMATIC_FPS.contains(fps);
            if !ok {
                check.error(
                    "animatic.fps",
                    format!("{fps}; expected 8 to 60 frames per second"),
                );
            }
            ok
        }),
    };

    let default_backend = config
        .default_backend
        .clone()
        .unwrap_or_else(|| "auto".to_owned());
    if default_backend != "auto" {
        check.backend("default_backend", &default_backend);
    }
    // The original pipeline's documentation puts fallback_backend at the top level, its
    // sample file under remote_api_settings: both are read, the top level first.
    let mut fallback = check.names("fallback_backend", config.fallback_backend.as_ref());
    for name in check.names(
        "remote_api_settings.fallback_backend",
        config.remote_api_settings.fallback_backend.as_ref(),
    ) {
        if !fallback.contains(&name) {
            fallback.push(name);
        }
    }
    for (i, name) in config.routing.fallback.iter().enumerate() {
        check.backend(&format!("routing.fallback[{i}]"), name);
        if !fallback.contains(name) {
            fallback.push(name.clone());
        }
    }
    for (i, name) in config.routing.order.iter().enumerate() {
        check.backend(&format!("routing.order[{i}]"), name);
    }
    for name in config.budget.per_backend_month_usd.keys() {
        check.backend(&format!("budget.per_backend_month_usd.{name}"), name);
    }
    for name in config.limits.backends.keys() {
        check.backend(&format!("limits.backends.{name}"), name);
    }
    if let Err(e) = limits::validate(&config.limits) {
        let text = e.to_string();
        match text.split_once(": ") {
            Some((path, message)) if path.starts_with("limits") => {
                check.error(path, message.to_owned())
            }
            _ => check.error("limits", text),
        }
    }
    let preference = check.preference(config);
    check.budget(config);

    let defaults = RequestDefaults {
        duration: config.segment_duration_seconds,
        aspect: config.video_aspect_ratio,
        resolution: config.size,
        seed: config.base_seed.and_then(|s| u64::try_from(s).ok()),
    };

    let webhooks = webhooks(&config.webhooks, &mut check);

    Settings {
        registry: RegistrySettings {
            animatic,
            runway: Some(runway),
            veo: Some(veo),
            minimax: Some(minimax),
            fal: Some(fal),
            kling: Some(more.kling),
            luma: Some(more.luma),
            replicate: Some(more.replicate),
            seedance: Some(more.seedance),
            alibaba: Some(more.alibaba),
            wan,
            hunyuan,
            ltx,
            layers: LayerSettings {
                retry: retry.clone(),
                limits: config.limits.clone(),
                adaptive_polling: config.remote_api_settings.adaptive_polling != Some(false)
                    && config.remote_api_settings.polling_interval.is_none(),
            },
            webhooks,
            misconfigured: Default::default(),
        },
        default_backend,
        preference,
        fallback,
        fallback_on_content_rejection: config.routing.fallback_on_content_rejection == Some(true),
        retry,
        budget: config.budget.clone(),
        limits: config.limits.clone(),
        output_dir: config
            .output_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(".")),
        data_dir: config.store.data_dir.clone(),
        defaults,
        openai: OpenAiAccess {
            api_key: config.openai_api_key.clone(),
            base_url: check
                .text("openai_base_url", config.openai_base_url.as_ref())
                .map_or_else(
                    || crate::planner::DEFAULT_BASE_URL.to_owned(),
                    |u| u.trim_end_matches('/').to_owned(),
                ),
        },
        planner_model: check
            .text(
                "prompt_enhancement_model",
                config.prompt_enhancement_model.as_ref(),
            )
            .unwrap_or_else(|| crate::planner::DEFAULT_MODEL.to_owned()),
        images: Default::default(),
    }
}

fn set(slot: &mut String, value: &Option<String>) {
    if let Some(v) = value.as_ref().filter(|v| !v.trim().is_empty()) {
        *slot = v.trim().to_owned();
    }
}

/// Range and name checks that serde's types cannot express.
/// The webhooks of `webhooks.url`, when set and usable (else an error naming the key).
fn webhooks(
    section: &super::schema::WebhooksSection,
    check: &mut Checks<'_>,
) -> Option<std::sync::Arc<crate::webhooks::Webhooks>> {
    let url = section.url.as_deref().filter(|u| !u.trim().is_empty())?;
    let mut settings = crate::webhooks::WebhookSettings::new(url.trim());
    if let Some(jwks) = section
        .fal_jwks_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        settings.fal_jwks_url = jwks.trim().to_owned();
    }
    if let Some(t) = check.seconds("webhooks.tolerance_secs", section.tolerance_secs) {
        settings.tolerance = t;
    }
    if let Some(p) = settings.problem("webhooks.url") {
        check.error(&p.field, format!("{}; expected {}", p.value, p.allowed));
        return None;
    }
    match crate::webhooks::Webhooks::new(settings) {
        Ok(hooks) => Some(hooks),
        Err(e) => {
            check.error("webhooks", e.to_string());
            None
        }
    }
}

struct Checks<'a> {
    findings: &'a mut Vec<Finding>,
}

impl Checks<'_> {
    fn error(&mut self, path: &str, message: String) {
        self.findings.push(Finding::error(path, message));
    }

    /// A non-empty string value; anything else is an error naming the key.
    fn text(&mut self, path: &str, value: Option<&serde_json::Value>) -> Option<String> {
        match value? {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            serde_json::Value::Null => None,
            other => {
                self.error(path, format!("{other}; expected a non-empty text"));
                None
            }
        }
    }

    fn seconds(&mut self, path: &str, value: Option<f64>) -> Option<Duration> {
        let secs = value?;
        match Duration::try_from_secs_f64(secs) {
            Ok(d) if secs > 0.0 => Some(d),
            _ => {
                self.error(
                    path,
                    format!("{secs}; expected a positive number of seconds"),
                );
                None
            }
        }
    }

    fn four_n_plus_one(&mut self, path: &str, value: Option<u32>) -> Option<u32> {
        let n = value?;
        if n >= 5 && n % 4 == 1 {
            Some(n)
        } else {
            self.error(
                path,
                format!("{n}; expected a frame count of the form 4n+1, such as 81 or 121"),
            );
            None
        }
    }

    /// `hunyuan_video.model_base` and `dit_weight`. The original pipeline's `ckpt_path` (read
    /// as `model_base`) may name the transformer's weights file rather than the `ckpts`
    /// folder: then it is the `dit_weight`, and `model_base` is the `ckpts` folder it sits in
    /// (`<ckpts>/hunyuan-video-t2v-720p/transformers/<file>`), or `<repo_dir>/ckpts`.
    fn hunyuan_weights(
        &mut self,
        hy: &super::schema::HunyuanSection,
    ) -> (Option<PathBuf>, Option<PathBuf>) {
        let Some(base) = hy.model_base.clone() else {
            return (None, hy.dit_weight.clone());
        };
        let is_file = base.is_file()
            || base.extension().is_some_and(|e| {
                ["pt", "pth", "safetensors", "bin"].contains(&&*e.to_string_lossy())
            });
        if !is_file {
            return (Some(base), hy.dit_weight.clone());
        }
        let ckpts = base
            .ancestors()
            .nth(3)
            .filter(|dir| dir.join("text_encoder").is_dir())
            .map(PathBuf::from);
        let message = match (&hy.dit_weight, &ckpts) {
            (Some(_), _) => {
                self.error(
                    "hunyuan_video.ckpt_path",
                    format!(
                        "{} is a weights file, and dit_weight is set too; set ckpt_path (or                          model_base) to the ckpts folder that holds hunyuan-video-t2v-720p,                          text_encoder and text_encoder_2",
                        base.display()
                    ),
                );
                return (None, hy.dit_weight.clone());
            }
            (None, Some(dir)) => format!(
                "{} is the transformer's weights file: used as dit_weight, with model_base {}                  (the ckpts folder it sits in)",
                base.display(),
                dir.display()
            ),
            (None, None) => format!(
                "{} is the transformer's weights file: used as dit_weight; the VAE and text                  encoders are looked for in <repo_dir>/ckpts (set model_base to the folder that                  holds hunyuan-video-t2v-720p, text_encoder and text_encoder_2 if they are                  elsewhere)",
                base.display()
            ),
        };
        self.findings
            .push(Finding::note("hunyuan_video.ckpt_path", message));
        (ckpts, Some(base))
    }

    /// The `ltx_video` section, when it turns the backend on.
    fn ltx(&mut self, section: &super::schema::LtxSection, run: LocalRun) -> Option<LtxOptions> {
        if section.repo_dir.is_none() && section.diffusers_model.is_none() {
            return None;
        }
        let variant = section.variant.as_deref().and_then(|v| {
            v.parse::<Variant>()
                .map_err(|allowed| {
                    self.error("ltx_video.variant", format!("{v:?}; expected {allowed}"))
                })
                .ok()
        });
        let num_frames = section.num_frames.filter(|n| {
            let ok = crate::services::ltx::is_8n_plus_1(*n) && *n >= 9;
            if !ok {
                self.error(
                    "ltx_video.num_frames",
                    format!("{n}; expected a frame count of the form 8n+1, such as 121 or 257"),
                );
            }
            ok
        });
        let frame_rate = section.frame_rate.filter(|f| {
            let ok = [24, 25, 30].contains(f);
            if !ok {
                self.error(
                    "ltx_video.frame_rate",
                    format!("{f}; expected 24, 25 or 30"),
                );
            }
            ok
        });
        let defaults = LtxOptions::default();
        Some(LtxOptions {
            repo_dir: section.repo_dir.clone(),
            pipeline_config: section
                .pipeline_config
                .clone()
                .unwrap_or(defaults.pipeline_config),
            models_dir: section.models_dir.clone(),
            text_encoder: section.text_encoder.clone(),
            num_frames,
            frame_rate,
            seed: section.seed,
            offload_to_cpu: section.offload_to_cpu,
            enhance_prompt: section.enhance_prompt.unwrap_or(false),
            image_cond_noise_scale: section.image_cond_noise_scale,
            diffusers_model: section.diffusers_model.clone(),
            diffusers_upsampler: section.diffusers_upsampler.clone(),
            variant,
            num_inference_steps: section.num_inference_steps,
            guidance_scale: section.guidance_scale,
            run,
        })
    }

    fn wan_task(&mut self, path: &str, name: Option<&str>) -> Option<WanTask> {
        let name = name?;
        name.parse()
            .map_err(|allowed| self.error(path, format!("{name:?}; expected {allowed}")))
            .ok()
    }

    /// Backend names given as one name or a list; each must be known.
    fn names(&mut self, path: &str, value: Option<&serde_json::Value>) -> Vec<String> {
        use serde_json::Value;
        let names: Vec<String> = match value {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::String(name)) => vec![name.clone()],
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(other) => {
                self.error(
                    path,
                    format!("{other}; expected a backend name or a list of backend names"),
                );
                return Vec::new();
            }
        };
        for (i, name) in names.iter().enumerate() {
            let item = match value {
                Some(Value::Array(_)) => format!("{path}[{i}]"),
                _ => path.to_owned(),
            };
            self.backend(&item, name);
        }
        names
    }

    fn backend(&mut self, path: &str, name: &str) {
        if registry::lookup(name).is_none() {
            let message = registry::unknown_backend(path, name).to_string();
            let message = message
                .strip_prefix(&format!("{path}: "))
                .unwrap_or(&message)
                .to_owned();
            self.error(path, message);
        }
    }

    fn local_run(&mut self, config: &Config) -> LocalRun {
        let mut run = LocalRun::default();
        for (path, value) in [
            ("total_gpus", config.total_gpus),
            ("gpu_count", config.gpu_count),
            ("parallel_segments", config.parallel_segments),
        ] {
            if value == Some(0) {
                self.error(path, "0; expected at least 1".to_owned());
            }
        }
        if let Some(gpus) = config.total_gpus.or(config.gpu_count).filter(|g| *g > 0) {
            run.total_gpus = gpus;
        }
        if let Some(parallel) = config.parallel_segments.filter(|p| *p > 0) {
            if parallel > run.total_gpus {
                self.error(
                    "parallel_segments",
                    format!(
                        "{parallel}; expected at most total_gpus ({}), since each job needs a GPU",
                        run.total_gpus
                    ),
                );
            } else {
                run.parallel_segments = parallel;
            }
        }
        let local = &config.local;
        if let Some(p) = &local.python {
            run.python = p.clone();
        }
        if let Some(p) = &local.torchrun {
            run.torchrun = p.clone();
        }
        if let Some(p) = &local.nvidia_smi {
            run.nvidia_smi = p.clone();
        }
        if let Some(p) = &local.work_dir {
            run.work_dir = p.clone();
        }
        if let Some(t) = self.seconds("local.timeout", local.timeout) {
            run.timeout = t;
        }
        run
    }

    fn preference(&mut self, config: &Config) -> Preference {
        let routing = &config.routing;
        match routing.prefer.as_deref().map(str::trim) {
            None if !routing.order.is_empty() => Preference::Order(routing.order.clone()),
            None | Some("cheapest") => Preference::Cheapest,
            Some("fastest") => Preference::Fastest,
            Some("order") => {
                if routing.order.is_empty() {
                    self.error(
                        "routing.order",
                        "empty; `prefer: order` needs a list of backends".to_owned(),
                    );
                }
                Preference::Order(routing.order.clone())
            }
            Some(other) => {
                self.error(
                    "routing.prefer",
                    format!("{other:?}; expected cheapest, fastest or order"),
                );
                Preference::Cheapest
            }
        }
    }

    fn budget(&mut self, config: &Config) {
        let b = &config.budget;
        let limits = [
            ("budget.per_job_usd".to_owned(), b.per_job_usd),
            ("budget.per_day_usd".to_owned(), b.per_day_usd),
            ("budget.per_month_usd".to_owned(), b.per_month_usd),
        ]
        .into_iter()
        .chain(
            b.per_backend_month_usd
                .iter()
                .map(|(name, v)| (format!("budget.per_backend_month_usd.{name}"), Some(*v))),
        );
        for (path, value) in limits {
            if let Some(v) = value.filter(|v| !v.is_finite() || *v < 0.0) {
                self.error(
                    &path,
                    format!("{v}; expected an amount of US dollars, 0 or more"),
                );
            }
        }
    }
}
