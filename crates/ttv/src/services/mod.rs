//! One folder per backend. Provider quirks stay inside their folder; everything outside
//! speaks the shared vocabulary of [`crate::request`] and [`crate::error`].

pub mod animatic;
pub mod fal;
mod hosted;
pub mod hunyuan;
pub mod local;
pub mod ltx;
pub mod minimax;
pub mod runway;
pub mod veo;
pub mod wan;
