//! Configuration: one YAML file (optional), the environment, and what they resolve to.
//!
//! The file keeps the original pipeline's `pipeline_config.yaml` keys (see [`Config`]) and adds
//! ttv's own sections. Loading never stops at the first problem: [`load`] returns the resolved
//! [`Settings`] together with every [`Finding`], so `ttv config check` can print them all and
//! the other commands can refuse to run while any is an error.
//!
//! The steps, in order:
//! 1. find the file: `--config`, else `$TTV_CONFIG`, else `./ttv.yaml`, else
//!    `./pipeline_config.yaml`, else none (environment variables alone are enough);
//! 2. parse the YAML and expand `${VAR}` / `${VAR:-default}` in its values ([`expand`]);
//! 3. read it into [`Config`]: a wrong type is an error naming the key path (the key is then
//!    left at its default so the rest is still checked), an unknown key is a warning with a
//!    "did you mean";
//! 4. fill the gaps from the standard environment variables (`RUNWAYML_API_SECRET`,
//!    `MINIMAX_API_KEY`, `FAL_KEY`, `GEMINI_API_KEY`, ...) and apply `TTV_DEFAULT_BACKEND`;
//!    values that are still placeholders (`YOUR_API_KEY`) count as unset;
//! 5. make every path absolute: a file's paths from the file's folder, the environment's
//!    from the current one ([`paths`]);
//! 6. resolve into [`Settings`]: registry options per backend, request defaults, routing.
//!
//! Secrets are [`ApiKey`](crate::http::ApiKey)s from the moment they are read: `Debug`,
//! `Display` and serialisation print `***`, and no finding quotes a secret's value.

mod expand;
mod images;
mod paths;
mod providers;
mod resolve;
mod schema;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

pub use providers::UPLOAD_STORE_ENV;
pub use resolve::{OpenAiAccess, RequestDefaults, Settings};
pub use schema::{
    AlibabaSection, AnimaticSection, Config, FalSection, HunyuanSection, KlingSection,
    LocalSection, LtxSection, LumaSection, MinimaxSection, RemoteApiSettings, ReplicateSection,
    RoutingSection, RunwaySection, SeedanceSection, StoreSection, UploadsSection, VeoSection,
};

/// The environment variable naming a configuration file.
pub const CONFIG_ENV: &str = "TTV_CONFIG";
/// The environment variable that overrides `default_backend`.
pub const DEFAULT_BACKEND_ENV: &str = "TTV_DEFAULT_BACKEND";
/// The environment variable that overrides `remote_api_settings.adaptive_polling` (`true`
/// or `false`; test suites that run the simulator at sub-second job times set `false` to keep
/// each provider's fixed interval).
pub const ADAPTIVE_POLLING_ENV: &str = "TTV_ADAPTIVE_POLLING";
/// Files looked for in the current folder, in order, when none is named.
pub const DEFAULT_FILES: &[&str] = &["ttv.yaml", "pipeline_config.yaml"];

/// Where environment variables come from: the process, or a map in tests.
pub trait Env {
    /// The variable's value, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The configuration cannot be used as it is.
    Error,
    /// Probably a mistake, such as an unknown key; the rest works.
    Warning,
    /// For information: a key ttv reads but does not act on.
    Note,
}

/// One problem or remark about the configuration, tied to a key path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// Key path such as `runway_ml.api_key` or `routing.order[1]`; empty for the whole file.
    pub path: String,
    /// What is wrong and what is allowed. Never contains a secret.
    pub message: String,
}

impl Finding {
    pub(crate) fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, path, message)
    }

    pub(crate) fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, path, message)
    }

    pub(crate) fn note(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Note, path, message)
    }

    fn new(severity: Severity, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity,
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        if self.path.is_empty() {
            write!(f, "{label}: {}", self.message)
        } else {
            write!(f, "{label}: {}: {}", self.path, self.message)
        }
    }
}

impl Config {
    /// The keys that are set, as a tree (secrets as `***`).
    pub fn to_value(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        prune(&mut value);
        value
    }

    /// The keys that are set, as YAML (secrets as `***`).
    pub fn to_yaml(&self) -> crate::Result<String> {
        serde_saphyr::to_string(&self.to_value())
            .map_err(|e| crate::Error::config(format!("cannot write the configuration: {e}")))
    }
}

/// Drops unset keys and sections left empty.
fn prune(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(prune);
            map.retain(|_, v| match v {
                Value::Null => false,
                Value::Object(m) => !m.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => true,
            });
        }
        Value::Array(items) => items.iter_mut().for_each(prune),
        _ => {}
    }
}

/// Where a secret came from, for `ttv config check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretSource {
    /// Key path, such as `runway_ml.api_key`.
    pub path: String,
    /// `configuration file` or `environment variable RUNWAYML_API_SECRET`.
    pub from: String,
}

/// The configuration as loaded: the file's values with the environment's filled in, what it
/// resolves to, and everything found wrong with it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file read, if any.
    pub source: Option<PathBuf>,
    /// The configuration with environment values filled in (secrets print as `***`).
    pub config: Config,
    /// What the commands use.
    pub settings: Settings,
    /// Where each secret in use came from.
    pub secrets: Vec<SecretSource>,
    /// Errors first, then warnings, then notes.
    pub findings: Vec<Finding>,
}

impl Loaded {
    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The errors as one [`crate::Error`] of kind `Config`, or `Ok` when there are none.
    /// At most 20 errors are listed, then a count.
    pub fn check(&self) -> crate::Result<()> {
        const SHOWN: usize = 20;
        let count = self.errors().count();
        if count == 0 {
            return Ok(());
        }
        // Listed without their own `error:` label: the whole is one error.
        let mut errors: Vec<String> = self
            .errors()
            .take(SHOWN)
            .map(|f| match f.path.as_str() {
                "" => f.message.clone(),
                path => format!("{path}: {}", f.message),
            })
            .collect();
        if count > SHOWN {
            errors.push(format!(
                "... and {} more (`ttv config check` lists them)",
                count - SHOWN
            ));
        }
        let file = match &self.source {
            Some(path) => format!("configuration {}", path.display()),
            None => "configuration".to_owned(),
        };
        Err(crate::Error::config(format!(
            "{file} has {count} error{}:\n  {}",
            if count == 1 { "" } else { "s" },
            errors.join("\n  ")
        )))
    }
}

/// Finds, reads and resolves the configuration. `explicit` is `--config`.
pub fn load(explicit: Option<&Path>, env: &dyn Env) -> Loaded {
    let mut findings = Vec::new();
    let source = match discover(explicit, env) {
        Ok(source) => source,
        Err(finding) => {
            findings.push(finding);
            None
        }
    };
    let text = match &source {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) => {
                findings.push(Finding::error(
                    "",
                    format!("cannot read {}: {e}", path.display()),
                ));
                None
            }
        },
        None => None,
    };
    let base = paths::base_of(source.as_deref());
    let mut loaded = from_yaml_in(text.as_deref().unwrap_or(""), env, &base);
    loaded.source = source;
    findings.append(&mut loaded.findings);
    loaded.findings = findings;
    sort(&mut loaded.findings);
    loaded
}

/// Reads and resolves configuration text (no file lookup); relative paths in it are taken
/// from the current folder.
pub fn from_yaml(text: &str, env: &dyn Env) -> Loaded {
    from_yaml_in(text, env, &paths::base_of(None))
}

/// Reads and resolves configuration text whose relative paths are taken from `base` (the
/// folder of the file it came from).
pub fn from_yaml_in(text: &str, env: &dyn Env, base: &Path) -> Loaded {
    let mut findings = Vec::new();
    let mut tree = parse(text, &mut findings);
    let mut expansion = Vec::new();
    expand::expand_tree(&mut tree, "", env, &mut expansion);
    // A key ttv does not act on cannot stop it: its unset variable is only a warning. One in
    // a backend's section stops only the commands that use that backend.
    let mut deferred = Vec::new();
    for mut finding in expansion {
        if PIPELINE_ONLY.iter().any(|(path, _)| *path == finding.path) {
            finding.severity = Severity::Warning;
            finding.message.push_str(" (ttv does not use this key)");
        } else if PLANNER_KEYS.contains(&finding.path.as_str()) {
            // Without an LLM, films are planned by the deterministic split.
            finding.severity = Severity::Warning;
            finding
                .message
                .push_str(" (films are planned without an LLM)");
        } else if IMAGE_KEYS.contains(&finding.path.as_str()) {
            // Image models are optional: keyframes fall back to animatic stills.
            finding.severity = Severity::Warning;
            finding
                .message
                .push_str(" (image backends that need it are unavailable)");
        } else if let Some(backend) = backend_of(&finding.path) {
            deferred.push((backend, format!("{}: {}", finding.path, finding.message)));
            finding.severity = Severity::Warning;
            finding
                .message
                .push_str(&format!("; only commands that use {backend} stop on it"));
        }
        findings.push(finding);
    }
    let mut config = typed(tree.clone(), &mut findings);
    paths::make_absolute(&mut config, base);
    notes_for_pipeline_keys(&tree, &mut findings);
    let (config, mut settings, secrets) = resolve::resolve(config, env, &mut findings);
    for (backend, reason) in deferred {
        // A key left unset in the file but found in the environment is no problem.
        let path = reason.split(": ").next().unwrap_or_default();
        if secrets.iter().any(|s| s.path == path) {
            continue;
        }
        settings
            .registry
            .misconfigured
            .entry(backend.to_owned())
            .or_insert(reason);
    }
    sort(&mut findings);
    Loaded {
        source: None,
        config,
        settings,
        secrets,
        findings,
    }
}

/// The backend a key configures, for keys that configure only one.
fn backend_of(path: &str) -> Option<&'static str> {
    const WAN_KEYS: &[&str] = &[
        "wan2_dir",
        "t2v_model_dir",
        "i2v_model_dir",
        "flf2v_model_dir",
        "t2v_task",
        "i2v_task",
        "frame_num",
        "sample_steps",
        "sample_shift",
        "guide_scale",
        "offload_model",
        "t5_cpu",
    ];
    let section = path.split(['.', '[']).next().unwrap_or(path);
    Some(match section {
        "runway_ml" => crate::services::runway::NAME,
        "google_veo" | "gemini_api_key" | "veo_model" => crate::services::veo::NAME,
        "minimax" => crate::services::minimax::NAME,
        "fal" => crate::services::fal::NAME,
        "hunyuan_video" => crate::services::hunyuan::NAME,
        s if WAN_KEYS.contains(&s) => crate::services::wan::NAME,
        _ => return None,
    })
}

fn sort(findings: &mut [Finding]) {
    findings.sort_by_key(|f| f.severity);
}

/// The file to read: named, from `$TTV_CONFIG`, or a default name in the current folder.
fn discover(explicit: Option<&Path>, env: &dyn Env) -> Result<Option<PathBuf>, Finding> {
    let named = match explicit {
        Some(path) => Some((path.to_path_buf(), "--config")),
        None => env
            .var(CONFIG_ENV)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (PathBuf::from(v), CONFIG_ENV)),
    };
    if let Some((path, from)) = named {
        return if path.is_file() {
            Ok(Some(path))
        } else if path.is_dir() {
            Err(Finding::error(
                "",
                format!(
                    "{from}: {} is a folder; expected a configuration file, such as {}",
                    path.display(),
                    path.join(DEFAULT_FILES[0]).display()
                ),
            ))
        } else {
            Err(Finding::error(
                "",
                format!("{from}: {}: no such file", path.display()),
            ))
        };
    }
    Ok(DEFAULT_FILES
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file()))
}

/// The YAML as a tree; an empty file is an empty mapping.
fn parse(text: &str, findings: &mut Vec<Finding>) -> Value {
    if text.trim().is_empty() {
        return Value::Object(Default::default());
    }
    match serde_saphyr::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Value::Object(map),
        Ok(Value::Null) => Value::Object(Default::default()),
        Ok(other) => {
            findings.push(Finding::error(
                "",
                format!(
                    "the file must be a mapping of keys to values, not {}",
                    kind_of(&other)
                ),
            ));
            Value::Object(Default::default())
        }
        Err(e) => {
            findings.push(Finding::error("", yaml_message(&e.to_string())));
            Value::Object(Default::default())
        }
    }
}

/// The YAML reader's complaint in plain words: limits it hit are said as what they mean.
fn yaml_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw).trim();
    let text = first.strip_prefix("error: ").unwrap_or(first);
    let (at, what) = match text.split_once(": ") {
        Some((at, what)) if at.starts_with("line ") => (format!(" ({at})"), what),
        _ => (String::new(), text),
    };
    if what.contains("recursion limit") {
        format!("the file nests too deeply{at}; a configuration needs only a few levels")
    } else if what.starts_with("budget breached") {
        format!(
            "the file is too large or repeats itself too much{at}; a configuration holds a few hundred values at most"
        )
    } else {
        format!("not valid YAML{at}: {what}")
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Reads the tree into [`Config`]. Each wrong type is recorded and its key dropped, and the
/// read is repeated, so every wrong type is reported at once; unknown keys become warnings.
fn typed(mut tree: Value, findings: &mut Vec<Finding>) -> Config {
    // Each round removes one key, so the number of leaves bounds the rounds; past
    // MAX_TYPE_ERRORS the rest is not worth reading one key at a time.
    let rounds = count_leaves(&tree).min(MAX_TYPE_ERRORS);
    for round in 0..=rounds {
        if round == MAX_TYPE_ERRORS {
            findings.push(Finding::error(
                "",
                format!(
                    "more than {MAX_TYPE_ERRORS} values have the wrong type; the rest was not read"
                ),
            ));
            break;
        }
        let mut unknown: Vec<String> = Vec::new();
        let mut record = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
        let de = serde_ignored::Deserializer::new(&tree, &mut record);
        match serde_path_to_error::deserialize::<_, Config>(de) {
            Ok(config) => {
                for path in unknown {
                    findings.push(unknown_key(&path));
                }
                return config;
            }
            Err(e) => {
                let path = e.path().to_string();
                findings.push(Finding::error(path, type_message(&e.inner().to_string())));
                if !remove(&mut tree, e.path()) {
                    break;
                }
            }
        }
    }
    Config::default()
}

/// The most wrong types reported before the rest of the file is given up on.
const MAX_TYPE_ERRORS: usize = 100;

/// serde's message in the words of a person writing YAML: `"two"; expected a whole number,
/// 0 or more` for `invalid type: string "two", expected u32`.
fn type_message(inner: &str) -> String {
    let inner = inner.trim();
    let parts = inner
        .strip_prefix("invalid type: ")
        .or_else(|| inner.strip_prefix("invalid value: "))
        .and_then(|rest| rest.rsplit_once(", expected "));
    if let Some((got, expected)) = parts {
        return format!(
            "{}; expected {}",
            plain_value(got),
            plain_expected(expected)
        );
    }
    if let Some(rest) = inner.strip_prefix("unknown variant ")
        && let Some((got, expected)) = rest.split_once(", expected ")
    {
        return format!(
            "{}; expected {}",
            got.replace('`', "\""),
            expected.replace('`', "")
        );
    }
    inner.to_owned()
}

/// serde's name of a value given: `string "x"` is `"x"`, `sequence` is `a list`.
fn plain_value(got: &str) -> String {
    let quoted = |s: &str| s.trim_matches('`').to_owned();
    if let Some(s) = got.strip_prefix("string ") {
        return s.to_owned();
    }
    for prefix in ["integer ", "floating point ", "boolean "] {
        if let Some(v) = got.strip_prefix(prefix) {
            return quoted(v);
        }
    }
    match got {
        "sequence" => "a list".to_owned(),
        "map" => "a mapping".to_owned(),
        "unit value" | "null" => "nothing".to_owned(),
        other => other.to_owned(),
    }
}

/// serde's name of a type wanted, in words: `u32` is `a whole number, 0 or more`.
fn plain_expected(expected: &str) -> String {
    let e = expected.trim();
    let words = match e {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" | "bool" => "true or false",
        "a string" | "a borrowed string" | "string" => "text",
        "a sequence" => "a list",
        "a map" => "a mapping of keys to values",
        _ if e.starts_with("struct ") => "a mapping of keys to values",
        _ if e.starts_with("a sequence") => "a list",
        // ttv's own types already say what they take in words.
        _ => e,
    };
    words.to_owned()
}

fn count_leaves(v: &Value) -> usize {
    match v {
        Value::Object(m) => m.values().map(count_leaves).sum::<usize>() + 1,
        Value::Array(a) => a.iter().map(count_leaves).sum::<usize>() + 1,
        _ => 1,
    }
}

/// Removes the value at `path`; false when there is nothing to remove.
fn remove(tree: &mut Value, path: &serde_path_to_error::Path) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut node = tree;
    for segment in parents {
        node = match (segment, node) {
            (Segment::Map { key }, Value::Object(map)) => match map.get_mut(key) {
                Some(child) => child,
                None => return false,
            },
            (Segment::Seq { index }, Value::Array(items)) => match items.get_mut(*index) {
                Some(child) => child,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, node) {
        (Segment::Map { key }, Value::Object(map)) => map.remove(key).is_some(),
        (Segment::Seq { index }, Value::Array(items)) if *index < items.len() => {
            items.remove(*index);
            true
        }
        _ => false,
    }
}

/// A warning for an unknown key, with the closest known key of its section.
fn unknown_key(path: &str) -> Finding {
    let (section, key) = match path.rsplit_once('.') {
        Some((section, key)) => (section, key),
        None => ("", path),
    };
    let known = schema::keys_at(section);
    let best = known
        .iter()
        .map(|k| (strsim::jaro_winkler(key, k), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let message = match best {
        Some((_, k)) => format!(
            "unknown key, ignored; did you mean {}?",
            expand::join(section, k)
        ),
        None => "unknown key, ignored".to_owned(),
    };
    Finding::warning(path, message)
}

/// The film planner's keys: optional, so an unset variable in one is only a warning.
const PLANNER_KEYS: &[&str] = &[
    "openai_api_key",
    "openai_base_url",
    "prompt_enhancement_model",
];

/// The image backends' keys: optional, so an unset variable in one is only a warning (the
/// image backends that need it are unavailable; the film's keyframes use animatic stills).
const IMAGE_KEYS: &[&str] = &["stability_api_key", "image_generation_model"];

/// Keys of the original pipeline that ttv reads but does not act on, and why.
const PIPELINE_ONLY: &[(&str, &str)] = &[
    (
        "task",
        "the pipeline's task switch; ttv picks the task from the request",
    ),
    (
        "prompt",
        "ttv film uses it (the story); ttv generate takes --prompt",
    ),
    ("generation_mode", "ttv film uses it (keyframe or chaining)"),
    (
        "chaining_max_retries",
        "ttv film uses it (new attempts of a failed chained segment)",
    ),
    (
        "chaining_use_fsdp_flags",
        "ttv adds FSDP flags whenever a Wan job gets several GPUs",
    ),
    ("framepack_dir", "FramePack is not a ttv backend"),
    (
        "initial_image",
        "ttv film uses it (the film's first frame); ttv generate takes --image",
    ),
    (
        "use_first_last_frame",
        "ttv film uses it (keyframe mode); ttv generate uses first+last frame when --last-frame is given",
    ),
    ("single_keyframe_mode", "ttv film uses it (keyframe mode)"),
    (
        "keyframe_position",
        "ttv film uses it (single keyframe mode)",
    ),
    (
        "duration_seconds",
        "ttv film uses it (the film's length when planned from the prompt)",
    ),
    (
        "reference_images_dir",
        "ttv film uses it (keyframe images named segment_NN.png)",
    ),
    ("image_size", "the pipeline's image step"),
    ("auto_generate_initial", "the pipeline's image step"),
    ("image_router_api_key", "the pipeline's image step"),
    ("i2i_mode", "the pipeline's image step"),
    (
        "runway_ml.max_duration",
        "ttv checks durations against each model's own list",
    ),
    (
        "runway_ml.default_ratio",
        "use video_aspect_ratio or --aspect",
    ),
    ("runway_ml.seed", "use base_seed or --seed"),
    (
        "runway_ml.motion_amount",
        "no current Runway model takes it",
    ),
    (
        "minimax.max_duration",
        "ttv checks durations against each model's own list",
    ),
    (
        "fal.max_duration",
        "ttv checks durations against each model's own list",
    ),
    (
        "hunyuan_video.config_file",
        "HunyuanVideo takes flags; set them in hunyuan_video",
    ),
    (
        "hunyuan_video.max_duration",
        "ttv checks durations against the model's own frame counts",
    ),
    (
        "models_dir",
        "ttv finds weights through wan2_dir, t2v_model_dir, i2v_model_dir, flf2v_model_dir and hunyuan_video.model_base",
    ),
    ("runway_ml.timeout", "use remote_api_settings.timeout"),
    (
        "runway_ml.polling_interval",
        "use remote_api_settings.polling_interval",
    ),
    (
        "runway_ml.max_retries",
        "use remote_api_settings.max_retries",
    ),
    ("google_veo.timeout", "use remote_api_settings.timeout"),
    (
        "google_veo.polling_interval",
        "use remote_api_settings.polling_interval",
    ),
    (
        "google_veo.bucket_name",
        "use google_veo.output_bucket: gs://BUCKET/prefix",
    ),
];

fn notes_for_pipeline_keys(tree: &Value, findings: &mut Vec<Finding>) {
    for (path, why) in PIPELINE_ONLY {
        let mut node = Some(tree);
        for key in path.split('.') {
            node = node.and_then(|n| n.get(key));
        }
        if node.is_some_and(|v| !v.is_null()) {
            let message = if why.starts_with("ttv film uses it") {
                (*why).to_owned()
            } else {
                format!("read but not used by ttv: {why}")
            };
            findings.push(Finding::note(*path, message));
        }
    }
}

#[cfg(test)]
mod tests;
