//! One folder per backend. Provider quirks stay inside their folder; everything outside
//! speaks the shared vocabulary of [`crate::request`] and [`crate::error`].

pub mod alibaba;
pub mod animatic;
pub mod bucket;
pub mod fal;
pub mod gemini_image;
mod hosted;
pub mod hunyuan;
pub mod kling;
pub mod local;
pub mod ltx;
pub mod luma;
pub mod minimax;
pub mod openai_images;
pub mod replicate;
pub mod runway;
pub mod seedance;
pub mod stability;
pub mod veo;
pub mod wan;

/// The webhook receivers of the providers that call back (fal's signed webhooks, MiniMax's
/// callbacks), by the name their route carries.
pub fn webhook_receivers(
    settings: &crate::webhooks::WebhookSettings,
) -> crate::Result<Vec<(&'static str, std::sync::Arc<dyn crate::webhooks::Receiver>)>> {
    Ok(vec![
        (
            fal::NAME,
            std::sync::Arc::new(fal::webhook::FalReceiver::new(settings)?)
                as std::sync::Arc<dyn crate::webhooks::Receiver>,
        ),
        (
            minimax::NAME,
            std::sync::Arc::new(minimax::webhook::MinimaxReceiver)
                as std::sync::Arc<dyn crate::webhooks::Receiver>,
        ),
    ])
}
