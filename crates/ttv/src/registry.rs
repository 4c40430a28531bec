//! Backends by name: canonical names, aliases, and what is available here.
//!
//! Every backend ttv knows is listed, built or not; one that cannot be used here says exactly
//! why instead of pretending. Names are matched case-insensitively against canonical names and
//! aliases (`runway_ml`, `veo3`, `fal.ai`, `wan2.1` ...), the spellings the original pipeline
//! used.

use std::sync::Arc;

use crate::backend::{Availability, BackendKind, VideoBackend};
use crate::error::{Error, ErrorKind, Result};
use crate::layers::{LayerSettings, Stack};
use crate::services::alibaba::{self, Alibaba, AlibabaOptions};
use crate::services::animatic::{self, Animatic, AnimaticOptions};
use crate::services::fal::{self, Fal, FalOptions};
use crate::services::hunyuan::{self, Hunyuan, HunyuanOptions};
use crate::services::kling::{self, Kling, KlingOptions};
use crate::services::ltx::{self, Ltx, LtxOptions};
use crate::services::luma::{self, Luma, LumaOptions};
use crate::services::minimax::{self, Minimax, MinimaxOptions};
use crate::services::replicate::{self, Replicate, ReplicateOptions};
use crate::services::runway::{self, Runway, RunwayOptions};
use crate::services::seedance::{self, Seedance, SeedanceOptions};
use crate::services::veo::{self, Veo, VeoOptions};
use crate::services::wan::{self, Wan, WanOptions};

/// A backend ttv knows of.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    /// Canonical name.
    pub name: &'static str,
    /// Other accepted spellings.
    pub aliases: &'static [&'static str],
    /// How it runs.
    pub kind: BackendKind,
    /// One line on what it is.
    pub summary: &'static str,
}

/// Every backend ttv knows, in display order.
pub const KNOWN: &[Known] = &[
    Known {
        name: animatic::NAME,
        aliases: &[],
        kind: BackendKind::Embedded,
        summary: "built-in previs renderer: camera moves over images, title cards from text",
    },
    Known {
        name: "runway",
        aliases: &["runway_ml", "runwayml"],
        kind: BackendKind::Hosted,
        summary: "Runway API (gen4_turbo, gen4.5, veo3.1 ...)",
    },
    Known {
        name: "veo",
        aliases: &["veo3", "google_veo", "veo2", "veo3.1"],
        kind: BackendKind::Hosted,
        summary: "Google Veo through the Gemini API or Vertex AI",
    },
    Known {
        name: "minimax",
        aliases: &["hailuo"],
        kind: BackendKind::Hosted,
        summary: "MiniMax Hailuo video API",
    },
    Known {
        name: "fal",
        aliases: &["fal.ai", "fal_ai"],
        kind: BackendKind::Hosted,
        summary: "fal queue API (Kling, Hailuo, Wan, Veo, Luma ...)",
    },
    Known {
        name: kling::NAME,
        aliases: &["klingai", "kling_ai"],
        kind: BackendKind::Hosted,
        summary: "Kling AI official API (kling-v1 … kling-v3, std/pro)",
    },
    Known {
        name: luma::NAME,
        aliases: &["lumaai", "luma_ai", "ray", "dream_machine"],
        kind: BackendKind::Hosted,
        summary: "Luma Agents API (ray-3.2) and Dream Machine (ray-2, ray-flash-2)",
    },
    Known {
        name: replicate::NAME,
        aliases: &["replicate.com"],
        kind: BackendKind::Hosted,
        summary: "Replicate: any video model by owner/name or version",
    },
    Known {
        name: seedance::NAME,
        aliases: &["bytedance", "byteplus", "modelark", "ark"],
        kind: BackendKind::Hosted,
        summary: "ByteDance Seedance through BytePlus ModelArk",
    },
    Known {
        name: alibaba::NAME,
        aliases: &[
            "dashscope",
            "model_studio",
            "modelstudio",
            "wan_hosted",
            "wan-hosted",
        ],
        kind: BackendKind::Hosted,
        summary: "Alibaba Wan (hosted) through Model Studio / DashScope",
    },
    Known {
        name: wan::NAME,
        aliases: &["wan2.1", "wan2.2", "wan2"],
        kind: BackendKind::Local,
        summary: "Wan2.1 / Wan2.2 on local GPUs",
    },
    Known {
        name: hunyuan::NAME,
        aliases: &["hunyuan_video", "hunyuanvideo"],
        kind: BackendKind::Local,
        summary: "HunyuanVideo on local GPUs",
    },
    Known {
        name: ltx::NAME,
        aliases: &["ltx_video", "ltxv", "ltx-video"],
        kind: BackendKind::Local,
        summary: "Lightricks LTX-Video on a local GPU",
    },
];

/// Finds a known backend by name or alias, ignoring case.
pub fn lookup(name: &str) -> Option<&'static Known> {
    let name = name.trim().to_ascii_lowercase();
    KNOWN
        .iter()
        .find(|k| k.name == name || k.aliases.contains(&name.as_str()))
}

/// A `Config` error for a name that matches no backend, with a suggestion.
pub fn unknown_backend(field: &str, name: &str) -> Error {
    let all = KNOWN
        .iter()
        .flat_map(|k| std::iter::once(k.name).chain(k.aliases.iter().copied()));
    let best = all
        .map(|n| (strsim::jaro_winkler(&name.to_ascii_lowercase(), n), n))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(score, _)| *score > 0.8)
        .map(|(_, n)| format!(" (did you mean {n:?}?)"))
        .unwrap_or_default();
    let names: Vec<_> = KNOWN.iter().map(|k| k.name).collect();
    Error::new(
        ErrorKind::Config,
        format!(
            "{field}: unknown backend {name:?}{best}; known backends are {}, or auto",
            names.join(", ")
        ),
    )
}

/// One registry row: a known backend and, if usable, its instance.
#[derive(Clone)]
pub struct Entry {
    /// What it is.
    pub known: &'static Known,
    /// The instance, when built and configured here.
    pub backend: Option<Arc<dyn VideoBackend>>,
    /// Whether it can be used, and why not.
    pub availability: Availability,
    /// Whether it is unusable because of an error in its part of the configuration.
    pub misconfigured: bool,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.known.name)
            .field("availability", &self.availability)
            .finish()
    }
}

impl Entry {
    /// The row as front ends list it: name, aliases, kind, whether it can be used here (and
    /// why not), model, summary and capabilities.
    pub fn describe(&self) -> serde_json::Value {
        let reason = match &self.availability {
            Availability::Available => None,
            Availability::Unavailable { reason } => Some(reason.as_str()),
        };
        serde_json::json!({
            "name": self.known.name,
            "aliases": self.known.aliases,
            "kind": self.known.kind,
            "available": self.availability.is_available(),
            "reason": reason,
            "model": self.backend.as_ref().and_then(|b| b.model()),
            "summary": self.known.summary,
            "capabilities": self.backend.as_ref().map(|b| b.capabilities()),
        })
    }
}

/// The backends of this process.
#[derive(Debug, Clone)]
pub struct Registry {
    entries: Vec<Entry>,
}

/// Settings the registry needs to build backends.
#[derive(Debug, Clone, Default)]
pub struct RegistrySettings {
    /// Options of the embedded renderer.
    pub animatic: AnimaticOptions,
    /// Runway (`runway_ml`); listed unavailable when absent or without a key.
    pub runway: Option<RunwayOptions>,
    /// Google Veo (`google_veo`); listed unavailable when absent or without credentials.
    pub veo: Option<VeoOptions>,
    /// MiniMax; listed unavailable when absent or without a key.
    pub minimax: Option<MinimaxOptions>,
    /// fal; listed unavailable when absent or without a key.
    pub fal: Option<FalOptions>,
    /// Kling; listed unavailable when absent or without keys.
    pub kling: Option<KlingOptions>,
    /// Luma; listed unavailable when absent or without a key.
    pub luma: Option<LumaOptions>,
    /// Replicate; listed unavailable when absent or without a token.
    pub replicate: Option<ReplicateOptions>,
    /// Seedance on ModelArk; listed unavailable when absent or without a key.
    pub seedance: Option<SeedanceOptions>,
    /// Wan on Alibaba Cloud Model Studio; listed unavailable when absent or without a key.
    pub alibaba: Option<AlibabaOptions>,
    /// Wan2.1 / Wan2.2 on local GPUs; listed as unavailable when absent.
    pub wan: Option<WanOptions>,
    /// HunyuanVideo on local GPUs (`hunyuan_video`); listed as unavailable when absent.
    pub hunyuan: Option<HunyuanOptions>,
    /// LTX-Video on a local GPU (`ltx_video`); listed as unavailable when absent.
    pub ltx: Option<LtxOptions>,
    /// Retries, deadlines and limits: every backend built is wrapped in these layers
    /// ([`crate::layers::Stack`]); the defaults retry and limit nothing else.
    pub layers: LayerSettings,
    /// Webhooks (`webhooks.url`, or `ttv generate --webhook-url`): the providers that call
    /// back (fal, MiniMax) are asked to, and their calls wake the jobs waiting on them.
    pub webhooks: Option<Arc<crate::webhooks::Webhooks>>,
    /// Backends whose part of the configuration has an error (an unset `${VAR}` in their
    /// section), by canonical name, with the error: unusable, and a configuration error
    /// for any command that asks for them.
    pub misconfigured: std::collections::BTreeMap<String, String>,
}

impl RegistrySettings {
    /// Every backend configured from the environment alone, as with no configuration file
    /// (`RUNWAYML_API_SECRET`, `MINIMAX_API_KEY`, `FAL_KEY`, ...; see [`crate::config`]).
    pub fn from_env() -> Self {
        crate::config::from_yaml("", &crate::config::ProcessEnv)
            .settings
            .registry
    }
}

/// A local backend when its options are set, else the reason it is not configured.
fn local<B: VideoBackend + 'static>(
    backend: Option<B>,
    not_configured: Availability,
) -> std::result::Result<Arc<dyn VideoBackend>, String> {
    match (backend, not_configured) {
        (Some(b), _) => Ok(Arc::new(b)),
        (None, Availability::Unavailable { reason }) => Err(reason),
        (None, Availability::Available) => Err("not configured".to_owned()),
    }
}

/// Builds a hosted backend from its options: `Err(reason)` when it cannot be built.
fn hosted<O, B: VideoBackend + 'static>(
    options: &Option<O>,
    build: impl FnOnce(O) -> Result<B>,
    missing: &str,
) -> std::result::Result<Arc<dyn VideoBackend>, String>
where
    O: Clone,
{
    let options = options.clone().ok_or_else(|| missing.to_owned())?;
    build(options)
        .map(|b| Arc::new(b) as Arc<dyn VideoBackend>)
        .map_err(|e| e.to_string())
}

impl Registry {
    /// Builds every backend this version of ttv has, each wrapped in the layers of
    /// `settings.layers` (retries, call deadlines, rate and job limits), and lists the rest
    /// with the reason. Limits that would stop everything leave every backend unavailable,
    /// saying why.
    pub fn new(settings: &RegistrySettings) -> Self {
        let stack = Stack::new(&settings.layers);
        let entries = KNOWN
            .iter()
            .map(|known| {
                let built = match known.name {
                    animatic::NAME => {
                        Ok(Arc::new(Animatic::new(settings.animatic.clone()))
                            as Arc<dyn VideoBackend>)
                    }
                    runway::NAME => hosted(
                        &settings.runway,
                        Runway::new,
                        "set RUNWAYML_API_SECRET or runway_ml.api_key",
                    ),
                    veo::NAME => hosted(
                        &settings.veo,
                        Veo::new,
                        "set GEMINI_API_KEY or google_veo.api_key, or google_veo.project_id + credentials",
                    ),
                    minimax::NAME => hosted(
                        &settings.minimax.clone().map(|o| MinimaxOptions {
                            webhooks: o.webhooks.or_else(|| settings.webhooks.clone()),
                            ..o
                        }),
                        Minimax::new,
                        "set MINIMAX_API_KEY or minimax.api_key",
                    ),
                    fal::NAME => hosted(
                        &settings.fal.clone().map(|o| FalOptions {
                            webhooks: o.webhooks.or_else(|| settings.webhooks.clone()),
                            ..o
                        }),
                        Fal::new,
                        "set FAL_KEY or fal.api_key",
                    ),
                    kling::NAME => hosted(
                        &settings.kling,
                        Kling::new,
                        "set KLINGAI_ACCESS_KEY and KLINGAI_SECRET_KEY, or kling.access_key and kling.secret_key",
                    ),
                    luma::NAME => hosted(
                        &settings.luma,
                        Luma::new,
                        "set LUMA_AGENTS_API_KEY or luma.api_key",
                    ),
                    replicate::NAME => hosted(
                        &settings.replicate,
                        Replicate::new,
                        "set REPLICATE_API_TOKEN or replicate.api_key",
                    ),
                    seedance::NAME => hosted(
                        &settings.seedance,
                        Seedance::new,
                        "set ARK_API_KEY or seedance.api_key",
                    ),
                    alibaba::NAME => hosted(
                        &settings.alibaba,
                        Alibaba::new,
                        "set DASHSCOPE_API_KEY or alibaba.api_key",
                    ),
                    wan::NAME => local(settings.wan.clone().map(Wan::new), wan::not_configured()),
                    hunyuan::NAME => local(
                        settings.hunyuan.clone().map(Hunyuan::new),
                        hunyuan::not_configured(),
                    ),
                    ltx::NAME => local(settings.ltx.clone().map(Ltx::new), ltx::not_configured()),
                    _ => Err(format!(
                        "not built yet: this version of ttv has no {} backend",
                        known.name
                    )),
                };
                let layered = match (built, &stack) {
                    (Ok(b), Ok(stack)) => Ok(stack.wrap(b)),
                    (Ok(_), Err(e)) => Err(e.to_string()),
                    (Err(reason), _) => Err(reason),
                };
                let (backend, mut availability) = match layered {
                    Ok(b) => {
                        let a = b.availability();
                        (Some(b), a)
                    }
                    Err(reason) => (None, Availability::Unavailable { reason }),
                };
                let misconfigured = settings.misconfigured.get(known.name);
                if let Some(error) = misconfigured {
                    availability = Availability::Unavailable {
                        reason: format!("its configuration has an error: {error}"),
                    };
                }
                Entry {
                    known,
                    backend,
                    availability,
                    misconfigured: misconfigured.is_some(),
                }
            })
            .collect();
        Self { entries }
    }

    /// A registry holding exactly `backends`, as given (wrap them with
    /// [`crate::layers::Stack::wrap`] for retries and limits), for tests and embedding.
    pub fn with_backends(backends: Vec<Arc<dyn VideoBackend>>) -> Self {
        let entries = backends
            .into_iter()
            .filter_map(|b| {
                let known = lookup(b.id())?;
                Some(Entry {
                    known,
                    availability: b.availability(),
                    backend: Some(b),
                    misconfigured: false,
                })
            })
            .collect();
        Self { entries }
    }

    /// Every row, in display order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The row for `name` (canonical or alias). `field` names the setting in errors.
    pub fn entry(&self, field: &str, name: &str) -> Result<&Entry> {
        let known = lookup(name).ok_or_else(|| unknown_backend(field, name))?;
        self.entries
            .iter()
            .find(|e| e.known.name == known.name)
            .ok_or_else(|| unknown_backend(field, name))
    }

    /// The usable backend called `name`, or why it cannot be used.
    pub fn get(&self, field: &str, name: &str) -> Result<Arc<dyn VideoBackend>> {
        let entry = self.entry(field, name)?;
        match (&entry.backend, &entry.availability) {
            (_, Availability::Unavailable { reason }) if entry.misconfigured => Err(Error::config(
                format!("{} cannot be used: {reason}", entry.known.name),
            )),
            (Some(b), Availability::Available) => Ok(b.clone()),
            (_, Availability::Unavailable { reason }) => Err(Error::new(
                ErrorKind::Unavailable,
                format!("{} cannot be used here: {reason}", entry.known.name),
            )),
            (None, Availability::Available) => Err(Error::new(
                ErrorKind::Unavailable,
                format!("{} cannot be used here", entry.known.name),
            )),
        }
    }

    /// The usable backends, in display order.
    pub fn available(&self) -> impl Iterator<Item = &Arc<dyn VideoBackend>> {
        self.entries
            .iter()
            .filter(|e| e.availability.is_available())
            .filter_map(|e| e.backend.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_from_the_original_pipeline_resolve() {
        for (alias, name) in [
            ("runway_ml", "runway"),
            ("veo3", "veo"),
            ("google_veo", "veo"),
            ("Hailuo", "minimax"),
            ("fal.ai", "fal"),
            ("wan2.1", "wan"),
            ("wan2.2", "wan"),
            ("hunyuan_video", "hunyuan"),
            ("animatic", "animatic"),
            ("klingai", "kling"),
            ("LumaAI", "luma"),
            ("dream_machine", "luma"),
            ("replicate.com", "replicate"),
            ("bytedance", "seedance"),
            ("byteplus", "seedance"),
            ("dashscope", "alibaba"),
            ("wan_hosted", "alibaba"),
        ] {
            assert_eq!(lookup(alias).map(|k| k.name), Some(name), "{alias}");
        }
    }

    #[test]
    fn unconfigured_backends_say_why_and_are_never_usable() {
        let reg = Registry::new(&RegistrySettings::default());
        let err = reg.get("backend", "veo3").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(
            err.to_string()
                .contains("set GEMINI_API_KEY or google_veo.api_key"),
            "{err}"
        );
        assert_eq!(
            reg.available().map(|b| b.id()).collect::<Vec<_>>(),
            ["animatic"]
        );
    }

    #[test]
    fn hosted_backends_without_a_key_say_which_variable_to_set() {
        let settings = RegistrySettings {
            runway: Some(RunwayOptions::default()),
            veo: Some(VeoOptions::default()),
            ..RegistrySettings::default()
        };
        let reg = Registry::new(&settings);
        for (name, reason) in [
            ("runway", "set RUNWAYML_API_SECRET or runway_ml.api_key"),
            (
                "veo",
                "set GEMINI_API_KEY or google_veo.api_key, or google_veo.project_id + credentials",
            ),
            ("minimax", "set MINIMAX_API_KEY or minimax.api_key"),
            ("fal", "set FAL_KEY or fal.api_key"),
            (
                "kling",
                "set KLINGAI_ACCESS_KEY and KLINGAI_SECRET_KEY, or kling.access_key and kling.secret_key",
            ),
            ("luma", "set LUMA_AGENTS_API_KEY or luma.api_key"),
            ("replicate", "set REPLICATE_API_TOKEN or replicate.api_key"),
            ("seedance", "set ARK_API_KEY or seedance.api_key"),
            ("alibaba", "set DASHSCOPE_API_KEY or alibaba.api_key"),
        ] {
            let entry = reg.entry("backend", name).unwrap();
            assert_eq!(
                entry.availability,
                Availability::Unavailable {
                    reason: reason.to_owned()
                },
                "{name}"
            );
        }
        let with_key = RegistrySettings {
            fal: Some(FalOptions {
                api_key: Some(crate::http::ApiKey::new("k")),
                ..FalOptions::default()
            }),
            ..RegistrySettings::default()
        };
        assert!(Registry::new(&with_key).get("backend", "fal.ai").is_ok());
        let gemini = RegistrySettings {
            veo: Some(VeoOptions {
                api_key: Some(crate::http::ApiKey::new("k")),
                ..VeoOptions::default()
            }),
            ..RegistrySettings::default()
        };
        assert!(Registry::new(&gemini).get("backend", "google_veo").is_ok());
    }

    #[test]
    fn local_backends_without_options_say_which_setting_is_missing() {
        let reg = Registry::new(&RegistrySettings::default());
        let err = reg.get("backend", "wan2.1").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.to_string().contains("set wan2_dir"), "{err}");
        let err = reg.get("backend", "hunyuan_video").unwrap_err();
        assert!(err.to_string().contains("hunyuan_video.repo_dir"), "{err}");
    }

    #[test]
    fn configured_local_backends_are_built_and_say_what_is_wrong_with_the_install() {
        let empty = tempfile::tempdir().unwrap();
        let settings = RegistrySettings {
            wan: Some(WanOptions::new(empty.path())),
            hunyuan: Some(HunyuanOptions {
                repo_dir: Some(empty.path().to_path_buf()),
                ..HunyuanOptions::default()
            }),
            ..RegistrySettings::default()
        };
        let reg = Registry::new(&settings);
        let wan = reg.entry("backend", "wan2.2").unwrap();
        assert!(wan.backend.is_some());
        let Availability::Unavailable { reason } = &wan.availability else {
            panic!("an empty folder is not a Wan checkout")
        };
        assert!(reason.contains("no generate.py"), "{reason}");
        let hy = reg.entry("backend", "hunyuan").unwrap();
        let Availability::Unavailable { reason } = &hy.availability else {
            panic!("an empty folder is not a HunyuanVideo checkout")
        };
        assert!(reason.contains("has no sample_video.py"), "{reason}");
    }

    #[test]
    fn unknown_names_get_a_suggestion() {
        let reg = Registry::new(&RegistrySettings::default());
        let err = reg.get("--backend", "runwy").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string().contains("did you mean \"runway\"?"),
            "{err}"
        );
    }
}
