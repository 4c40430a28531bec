//! Media in and out: input images, the H.264/MP4 encoder, probing and frame extraction, and
//! atomic file writes. Nothing here knows about backends or providers.

pub mod atomic;
pub mod delivery;
pub mod encode;
pub mod frames;
pub mod image;
pub mod join;
pub mod probe;
