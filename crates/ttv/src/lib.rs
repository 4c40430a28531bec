//! ttv: one interface to every text-to-video and image-to-video generator.
//!
//! A [`GenerationRequest`] is checked against a backend's [`Capabilities`], priced, submitted,
//! polled, fetched atomically and verified as a playable MP4. Backends implement
//! [`VideoBackend`]; the embedded [`services::animatic`] backend renders real H.264 video in
//! pure Rust, so everything works with no keys and no GPU.
//!
//! ```no_run
//! use ttv::backend::no_events;
//! use ttv::registry::{Registry, RegistrySettings};
//! use ttv::router::{Preference, select};
//! use ttv::{GenerationRequest, VideoBackend, VideoDuration};
//!
//! # async fn demo() -> ttv::Result<()> {
//! let registry = Registry::new(&RegistrySettings::default());
//! let request = GenerationRequest {
//!     duration: Some(VideoDuration::from_secs(4)),
//!     ..GenerationRequest::text("A paper boat on a rainy street")
//! };
//! let chosen = select(&registry, &request, "backend", "auto", &Preference::Cheapest)?;
//! let video = chosen.backend.generate(&request, "boat.mp4".as_ref(), &no_events).await?;
//! println!("{} frames, sha256 {}", video.video.frames, video.sha256);
//! # Ok(())
//! # }
//! ```

pub mod backend;
pub mod budget;
pub mod capabilities;
pub mod config;
pub mod cost;
pub mod error;
pub mod facade;
pub mod film;
pub mod http;
pub mod images;
pub mod jobs;
pub mod layers;
pub mod limits;
pub mod media;
pub mod planner;
pub mod polling;
pub mod registry;
pub mod request;
pub mod retry;
pub mod router;
pub mod services;
pub mod sidecar;
pub mod store;
pub mod webhooks;

pub use backend::{
    Availability, BackendKind, Event, Generated, Lookup, Output, Reservation, Status, Ticket,
    VideoBackend,
};
pub use capabilities::{Capabilities, Resolved};
pub use cost::{CostEstimate, Money};
pub use error::{Error, ErrorKind, Problem, Result, Spend};
pub use request::{
    AspectRatio, GenerationRequest, Mode, Resolution, ResolutionSpec, VideoDuration,
};
