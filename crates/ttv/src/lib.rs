//! ttv: one interface to every text-to-video and image-to-video generator.
//!
//! A [`GenerationRequest`] is checked against a backend's [`Capabilities`], priced, submitted,
//! polled, fetched atomically and verified as a playable MP4. Backends implement
//! [`VideoBackend`]; the embedded [`services::animatic`] backend renders real H.264 video in
//! pure Rust, so everything works with no keys and no GPU.

pub mod backend;
pub mod capabilities;
pub mod cost;
pub mod error;
pub mod http;
pub mod media;
pub mod registry;
pub mod request;
pub mod router;
pub mod services;
pub mod sidecar;

pub use backend::{
    Availability, BackendKind, Event, Generated, Output, Status, Ticket, VideoBackend,
};
pub use capabilities::{Capabilities, Resolved};
pub use cost::{CostEstimate, Money};
pub use error::{Error, ErrorKind, Problem, Result, Spend};
pub use request::{
    AspectRatio, GenerationRequest, Mode, Resolution, ResolutionSpec, VideoDuration,
};
