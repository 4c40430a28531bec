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
