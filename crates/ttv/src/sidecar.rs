//! The JSON sidecar written next to every video: what was asked, who made it, what it cost,
//! how long it took, and what the file holds.
//!
//! The sidecar of `clip.mp4` is `clip.mp4.json`, written atomically after the video is in
//! place. It never holds a secret: requests carry none, and images are described by name,
//! size and hash rather than included.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::backend::Generated;
use crate::capabilities::Resolved;
use crate::cost::{CostEstimate, Money};
use crate::error::{Error, ErrorKind, Result};
use crate::media::atomic::write_atomically;
use crate::media::probe::VideoInfo;
use crate::request::GenerationRequest;
use crate::router::{Selection, Skipped};
use crate::store::{HistoryEntry, Job};

/// The sidecar's layout version; bumped when a field changes meaning.
pub const SCHEMA: u32 = 1;

/// Everything recorded about one video.
#[derive(Debug, Clone, Serialize)]
pub struct Sidecar {
    /// Layout version.
    pub schema: u32,
    /// The ttv version that made it.
    pub ttv_version: &'static str,
    /// The video file.
    pub video: VideoRecord,
    /// The backend that made it.
    pub backend: String,
    /// The model, when the backend has several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The seed the video was made with: the one sent to the provider, or the one ttv drew;
    /// `null` when none was sent (the provider chose its own, unseen).
    pub seed: Option<u64>,
    /// Where `seed` came from: `given` (the request or the configuration's `base_seed`, sent
    /// as it is), `drawn` (none was given, so ttv drew one and used it), or `none` (none was
    /// given and none was sent).
    pub seed_source: SeedSource,
    /// Why this backend was chosen.
    pub selection: SelectionRecord,
    /// When the job fell back from the backend asked for to another one, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// The job in the job store, when the video was made through one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Every submit attempt and fallback of the job, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<HistoryEntry>,
    /// The request as given (its JSON description: no secrets, images described).
    pub request: serde_json::Value,
    /// How each input image reached the provider: inline or uploaded, and where to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<crate::media::delivery::Delivery>,
    /// The settings the backend was asked for.
    pub resolved: Resolved,
    /// The provider's job id and the data needed to find it again.
    pub ticket: crate::backend::Ticket,
    /// Estimated and charged cost.
    pub cost: CostRecord,
    /// When and how long.
    pub timings: Timings,
}

/// The file and what it holds.
#[derive(Debug, Clone, Serialize)]
pub struct VideoRecord {
    /// File name, relative to the sidecar.
    pub file: String,
    /// Where the video was stored (`output.url`): `s3://bucket/prefix/NAME.mp4`; the sidecar
    /// sits next to it as `NAME.mp4.json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// What the container holds, read back from the file.
    pub probe: VideoInfo,
}

/// Where a video's seed came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedSource {
    /// Given with the request (or by `base_seed`) and sent as it is.
    Given,
    /// None was given; ttv drew one and used it.
    Drawn,
    /// None was given and none was sent: the provider chose its own.
    None,
}

/// A job that fell back from the backend asked for to another one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fallback {
    /// The backend asked for (canonical name).
    pub from: String,
    /// The backend that made the video.
    pub to: String,
    /// Why `from` was not used: its error, or why it cannot run here.
    pub reason: String,
    /// Whether `to` is a placeholder renderer (the embedded animatic: camera moves and title
    /// cards), not a generative model.
    pub placeholder: bool,
}

/// How the backend was chosen.
#[derive(Debug, Clone, Serialize)]
pub struct SelectionRecord {
    /// Why this one.
    pub reason: String,
    /// Backends passed over.
    pub skipped: Vec<Skipped>,
}

/// What it cost.
#[derive(Debug, Clone, Serialize)]
pub struct CostRecord {
    /// The estimate made before submitting.
    pub estimate: CostEstimate,
    /// What the provider reported charging, when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charged: Option<Money>,
}

/// When things happened.
#[derive(Debug, Clone, Serialize)]
pub struct Timings {
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When the video was verified and in place.
    pub finished_at: DateTime<Utc>,
    /// Submit to provider success.
    pub generation_secs: f64,
    /// Download and verification.
    pub fetch_secs: f64,
    /// The whole run.
    pub total_secs: f64,
}

impl Sidecar {
    /// Assembles the record of a finished generation.
    pub fn new(
        req: &GenerationRequest,
        selection: &Selection,
        generated: &Generated,
        started_at: DateTime<Utc>,
    ) -> Self {
        Self::build(
            serde_json::to_value(req).unwrap_or(serde_json::Value::Null),
            selection.backend.id(),
            selection.backend.model(),
            SelectionRecord {
                reason: selection.reason.clone(),
                skipped: selection.skipped.clone(),
            },
            &selection.estimate,
            generated,
            started_at,
        )
    }

    /// Assembles the record of a video made through job `job` of the job store.
    pub fn from_job(job: &Job, generated: &Generated, started_at: DateTime<Utc>) -> Self {
        let mut sidecar = Self::build(
            job.request.clone(),
            &job.backend,
            job.model.as_deref(),
            SelectionRecord {
                reason: format!("job {}", job.id),
                skipped: Vec::new(),
            },
            &job.estimate,
            generated,
            started_at,
        );
        sidecar.job_id = Some(job.id.clone());
        sidecar
    }

    /// Records the job's submit attempts and fallbacks from its history.
    pub fn with_history(mut self, history: &[HistoryEntry]) -> Self {
        const ATTEMPTS: &[&str] = &[
            "submitted",
            "submit_not_sent",
            "submit_ambiguous",
            "resolve_submitted",
            "resolve_not_submitted",
            "fallback",
            "retry",
        ];
        self.attempts = history
            .iter()
            .filter(|h| ATTEMPTS.contains(&h.event.as_str()))
            .cloned()
            .collect();
        self
    }

    /// Records a fallback.
    pub fn with_fallback(mut self, fallback: Option<Fallback>) -> Self {
        self.fallback = fallback;
        self
    }

    /// Names the job the video was made by.
    pub fn with_job_id(mut self, id: impl Into<String>) -> Self {
        self.job_id = Some(id.into());
        self
    }

    fn build(
        request: serde_json::Value,
        backend: &str,
        model: Option<&str>,
        selection: SelectionRecord,
        estimate: &CostEstimate,
        generated: &Generated,
        started_at: DateTime<Utc>,
    ) -> Self {
        let finished_at = Utc::now();
        let given = request.get("seed").and_then(serde_json::Value::as_u64);
        let drawn = generated
            .ticket
            .data
            .get("seed")
            .and_then(serde_json::Value::as_u64);
        let (seed, seed_source) = match (given, drawn) {
            (Some(s), _) => (Some(s), SeedSource::Given),
            (None, Some(s)) => (Some(s), SeedSource::Drawn),
            (None, None) => (None, SeedSource::None),
        };
        Self {
            schema: SCHEMA,
            ttv_version: env!("CARGO_PKG_VERSION"),
            video: VideoRecord {
                file: generated
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                url: None,
                bytes: generated.bytes,
                sha256: generated.sha256.clone(),
                probe: generated.video.clone(),
            },
            backend: backend.to_owned(),
            model: model.map(str::to_owned),
            seed,
            seed_source,
            selection,
            fallback: None,
            job_id: None,
            attempts: Vec::new(),
            request,
            inputs: crate::media::delivery::recorded(&generated.ticket.data),
            resolved: generated.resolved,
            ticket: generated.ticket.clone(),
            cost: CostRecord {
                estimate: estimate.clone(),
                charged: generated.charged.clone(),
            },
            timings: Timings {
                started_at,
                finished_at,
                generation_secs: generated.generation_secs,
                fetch_secs: generated.fetch_secs,
                total_secs: (finished_at - started_at).num_milliseconds() as f64 / 1000.0,
            },
        }
    }

    /// Writes the sidecar next to `video`, atomically, and returns its path.
    pub fn write_beside(&self, video: &Path) -> Result<PathBuf> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot encode the sidecar: {e}")))?;
        write_atomically(&path_for(video), &json)
    }
}

/// The sidecar path of `video`: the same name with `.json` added.
pub fn path_for(video: &Path) -> PathBuf {
    let mut name = video.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}
