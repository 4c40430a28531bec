//! What a server puts in the shared queue for a worker ([`crate::worker`]) to run, and how a
//! worker turns it back into a job: the server's record of the job with the input images
//! themselves (a worker on another machine cannot read the server's folder). Planning,
//! budgets, fallback and sidecars stay the library's: the worker plans the request exactly
//! as the server would have ([`crate::state::to_request`], the same job spec).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use ttv::facade::{Jobs, Plan};
use ttv::media::image::ImageInput;

use crate::records::Record;

/// One queued job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    /// The server's record (images named by file, as saved beside the server).
    pub record: Record,
    /// The input images by field (`image`, `last_frame`), base64.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
}

impl Payload {
    /// The payload of `record` with its checked images.
    pub fn new(
        record: Record,
        image: Option<&ImageInput>,
        last_frame: Option<&ImageInput>,
    ) -> Self {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut images = BTreeMap::new();
        for (field, img) in [("image", image), ("last_frame", last_frame)] {
            if let Some(img) = img {
                images.insert(field.to_owned(), b64.encode(img.bytes()));
            }
        }
        Self { record, images }
    }

    /// The plan of the job, made on the worker with its configuration and backends. Blocking
    /// work (image checks) runs off the async threads.
    pub async fn plan(&self, jobs: &Jobs) -> ttv::Result<Plan> {
        self.plan_knowing(jobs, None).await
    }

    /// [`Payload::plan`] for a caller that just read the job from the store (see
    /// [`Jobs::plan_knowing`]).
    pub async fn plan_knowing(
        &self,
        jobs: &Jobs,
        known: Option<Option<ttv::store::Job>>,
    ) -> ttv::Result<Plan> {
        let image = self.image("image").await?;
        let last_frame = self.image("last_frame").await?;
        let input = &self.record.input;
        let request = crate::state::to_request(input, image, last_frame)
            .map_err(|e| ttv::Error::new(ttv::ErrorKind::InvalidRequest, e.message))?;
        let spec = crate::state::spec_for(input, request, &self.record.id)
            .map_err(|e| ttv::Error::new(ttv::ErrorKind::InvalidRequest, e.message))?;
        jobs.plan_knowing(spec, known).await
    }

    async fn image(&self, field: &'static str) -> ttv::Result<Option<ImageInput>> {
        let Some(text) = self.images.get(field) else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| {
                ttv::Error::new(
                    ttv::ErrorKind::InvalidRequest,
                    format!("queued job {}: {field} is not base64 ({e})", self.record.id),
                )
            })?;
        let id = self.record.id.clone();
        tokio::task::spawn_blocking(move || {
            ImageInput::from_bytes(field, format!("{field} of queued job {id}"), bytes)
        })
        .await
        .map_err(|e| ttv::Error::new(ttv::ErrorKind::Io, e.to_string()))?
        .map(Some)
    }
}
