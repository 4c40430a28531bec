//! Long videos: a film is a plan of segments (a [`Storyboard`]), each made as an ordinary job
//! through the job façade ([`crate::facade::Jobs`]), carried from one to the next by
//! keyframes or by the exact last frame of the segment before, then joined into one verified
//! MP4 with a record of every segment.
//!
//! - [`storyboard`]: the plan as people write it, and the original pipeline's plans;
//! - [`split`]: the deterministic plan of a long prompt (no model, no key);
//! - [`settings`]: the original `pipeline_config.yaml` keys of its film steps;
//! - [`keyframes`]: where keyframe images come from (the [`KeyframeSource`] seam);
//! - [`run`]: the durable run — the whole estimate against budgets before the first submit,
//!   segments as jobs whose ids derive from the run's (so a resumed run never pays twice),
//!   chaining and keyframe modes, the join and the film's record.
//!
//! Selection, budgets per job, fallback, retries and sidecars of segments are the façade's;
//! this module never re-implements them.

pub mod keyframes;
pub mod run;
pub mod settings;
pub mod split;
pub mod storyboard;

pub use keyframes::{AnimaticStills, KeyframeRequest, KeyframeSource, Keyframes, UserImages};
pub use run::{
    Film, FilmEvent, FilmEvents, FilmMade, FilmPlan, FilmRequest, PlanningCall, SegmentEstimate,
    SegmentState, planning_job_id,
};
pub use settings::{FilmSettings, GenerationMode, KeyframePosition};
pub use storyboard::{Segment, Storyboard};
