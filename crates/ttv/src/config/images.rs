//! The image backends' configuration: the original pipeline's top-level keys
//! (`image_generation_model`, `openai_api_key`, `openai_base_url`, `gemini_api_key`,
//! `stability_api_key`) and the providers' standard environment variables.

use super::resolve::OpenAiAccess;
use super::resolve::is_placeholder;
use super::schema::Config;
use super::{Env, Finding};
use crate::http::ApiKey;
use crate::images::registry::{self, ImageSettings};
use crate::services::gemini_image::{self, GeminiImageOptions};
use crate::services::openai_images::{self, OpenAiImagesOptions};
use crate::services::stability::{self, StabilityOptions};

/// A key from the file unless it is a sample's placeholder, else from the first variable set.
/// Quiet on purpose: these keys serve only the image commands, so a placeholder left in the
/// original pipeline's sample file is not worth a warning on every command.
fn secret(file: Option<&ApiKey>, env: &dyn Env, vars: &[&str]) -> Option<ApiKey> {
    file.filter(|k| !is_placeholder(k.expose()))
        .cloned()
        .or_else(|| {
            vars.iter()
                .filter_map(|v| env.var(v))
                .map(|v| v.trim().to_owned())
                .find(|v| !is_placeholder(v))
                .map(ApiKey::new)
        })
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
    openai: &OpenAiAccess,
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
        // The planner's OpenAI access (`openai_api_key`, `OPENAI_API_KEY`, `openai_base_url`);
        // `OPENAI_BASE_URL` as the SDK reads it when the file names no address.
        openai: Some(OpenAiImagesOptions {
            api_key: openai.api_key.clone(),
            base_url: text(config.openai_base_url.as_ref())
                .or_else(|| var(openai_images::BASE_URL_ENV))
                .or_else(|| Some(openai.base_url.clone())),
            model: openai_model,
            quality: None,
        }),
        gemini: Some(GeminiImageOptions {
            api_key: secret(config.gemini_api_key.as_ref(), env, &[])
                .or_else(|| config.google_veo.api_key.clone()),
            base_url: config.google_veo.base_url.clone(),
            model: gemini_model,
        }),
        stability: Some(StabilityOptions {
            api_key: secret(
                config.stability_api_key.as_ref(),
                env,
                &[stability::KEY_ENV],
            ),
            base_url: var(stability::BASE_URL_ENV),
            model: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::from_yaml;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_pipelines_image_keys_configure_the_image_backends() {
        let loaded = from_yaml(
            "image_generation_model: gemini-2.5-flash-image-preview\n\
             stability_api_key: YOUR_STABILITY_API_KEY\n\
             openai_base_url: http://127.0.0.1:9/openai/v1\n",
            &env(&[("OPENAI_API_KEY", "sk-1"), ("GEMINI_API_KEY", "gm-2")]),
        );
        let images = &loaded.settings.images;
        assert_eq!(images.default_backend.as_deref(), Some("gemini"));
        let gemini = images.gemini.as_ref().unwrap();
        assert_eq!(
            gemini.model.as_deref(),
            Some("gemini-2.5-flash-image-preview")
        );
        assert_eq!(gemini.api_key.as_ref().unwrap().expose(), "gm-2");
        let openai = images.openai.as_ref().unwrap();
        assert_eq!(openai.api_key.as_ref().unwrap().expose(), "sk-1");
        assert_eq!(
            openai.base_url.as_deref(),
            Some("http://127.0.0.1:9/openai/v1")
        );
        assert!(images.stability.as_ref().unwrap().api_key.is_none());
        let said: Vec<String> = loaded.findings.iter().map(ToString::to_string).collect();
        assert!(
            !said
                .iter()
                .any(|f| f.contains("stability") || f.contains("image_generation")),
            "{said:?}"
        );
    }

    #[test]
    fn an_unknown_image_model_is_a_warning_and_the_still_stays_the_default() {
        let loaded = from_yaml("image_generation_model: dall-e-9\n", &env(&[]));
        assert!(loaded.settings.images.default_backend.is_none());
        assert!(
            loaded
                .findings
                .iter()
                .any(|f| f.to_string().contains("unknown image backend \"dall-e-9\"")),
            "{:?}",
            loaded.findings
        );
    }
}
