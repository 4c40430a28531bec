//! The image backends' configuration: the original pipeline's top-level keys
//! (`image_generation_model`, `openai_api_key`, `openai_base_url`, `gemini_api_key`,
//! `stability_api_key`) and the providers' standard environment variables.

use super::resolve::Secrets;
use super::schema::Config;
use super::{Env, Finding};
use crate::images::registry::{self, ImageSettings};
use crate::services::gemini_image::{self, GeminiImageOptions};
use crate::services::openai_images::{self, OpenAiImagesOptions};
use crate::services::stability::{self, StabilityOptions};

/// Fills the image providers' secrets from the file or the environment.
pub(super) fn secrets(config: &mut Config, s: &mut Secrets<'_>) {
    config.openai_api_key = s.pick(
        "openai_api_key",
        config.openai_api_key.take(),
        &[openai_images::KEY_ENV],
    );
    config.stability_api_key = s.pick(
        "stability_api_key",
        config.stability_api_key.take(),
        &[stability::KEY_ENV],
    );
}

fn text(value: Option<&serde_json::Value>) -> Option<String> {
    value
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The image registry's settings. Runs after the Veo section is resolved: the Gemini image
/// models use Veo's Gemini API key and address when the top-level `gemini_api_key` is unset.
pub(super) fn settings(
    config: &Config,
    env: &dyn Env,
    findings: &mut Vec<Finding>,
) -> ImageSettings {
    let var = |name: &str| env.var(name).filter(|v| !v.trim().is_empty());
    let wanted = text(config.image_generation_model.as_ref());
    let mut default_backend = None;
    let model_for = |backend: &str| -> Option<String> {
        let name = wanted.as_deref()?;
        let known = registry::lookup(name)?;
        // A model id names the backend and its model (`gemini-2.5-flash-image-preview`).
        (known.name == backend && name != backend)
            .then(|| name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase())
    };
    let openai_model = model_for(openai_images::NAME).filter(|m| m.starts_with("gpt-image"));
    let gemini_model = model_for(gemini_image::NAME).filter(|m| m.starts_with("gemini-"));
    if let Some(name) = &wanted {
        match registry::lookup(name) {
            Some(known) => default_backend = Some(known.name.to_owned()),
            None => findings.push(Finding::warning(
                "image_generation_model",
                registry::unknown_image_backend("image_generation_model", name)
                    .message()
                    .trim_start_matches("image_generation_model: ")
                    .to_owned()
                    + "; keyframes use the still",
            )),
        }
    }
    ImageSettings {
        default_backend,
        openai: Some(OpenAiImagesOptions {
            api_key: config.openai_api_key.clone(),
            base_url: text(config.openai_base_url.as_ref())
                .or_else(|| var(openai_images::BASE_URL_ENV)),
            model: openai_model,
            quality: None,
        }),
        gemini: Some(GeminiImageOptions {
            api_key: config
                .gemini_api_key
                .clone()
                .or_else(|| config.google_veo.api_key.clone()),
            base_url: config.google_veo.base_url.clone(),
            model: gemini_model,
        }),
        stability: Some(StabilityOptions {
            api_key: config.stability_api_key.clone(),
            base_url: var(stability::BASE_URL_ENV),
            model: None,
        }),
    }
}
