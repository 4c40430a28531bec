//! One folder per backend. Provider quirks stay inside their folder; everything outside
//! speaks the shared vocabulary of [`crate::request`] and [`crate::error`].

pub mod alibaba;
pub mod animatic;
pub mod bucket;
pub mod fal;
mod hosted;
pub mod hunyuan;
pub mod kling;
pub mod local;
pub mod ltx;
pub mod luma;
pub mod minimax;
pub mod replicate;
pub mod runway;
pub mod seedance;
pub mod veo;
pub mod wan;
