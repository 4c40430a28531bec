//! Runway's ephemeral uploads, for prompt images over the 5 MB data-URI limit: `POST
//! /v1/uploads {filename, type: "ephemeral"}` answers `{uploadUrl, fields, runwayUri}`; the
//! file then goes to `uploadUrl` as a multipart form of `fields` plus the `file` part (a
//! presigned storage POST, no Runway headers), and `runwayUri` (`runway://…`, valid 24 h) is
//! used as the image's `uri`. From the official SDK's `uploads.create_ephemeral`.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Call};
use crate::media::delivery::{self, Delivery};
use crate::media::image::{ImageFormat, ImageInput};
use crate::request::GenerationRequest;
use crate::services::hosted;

use super::{NAME, Runway, error};

/// Largest image sent inline: a 5 MB data URI.
pub(super) const INLINE_MAX: u64 = delivery::inline_max_for_data_uri(5_000_064);
/// Largest image the uploads API takes.
pub(super) const UPLOAD_MAX: u64 = 200 * 1024 * 1024;
/// The `via` recorded for uploaded images.
pub const VIA: &str = "runway_uploads";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Started {
    upload_url: String,
    #[serde(default)]
    fields: serde_json::Map<String, Value>,
    runway_uri: String,
}

impl Runway {
    /// The `promptImage` items for the request, each image inline or uploaded.
    pub(super) async fn prompt_images(
        &self,
        req: &GenerationRequest,
    ) -> Result<(Vec<Value>, Vec<Delivery>)> {
        let mut items = Vec::new();
        let mut sent = Vec::new();
        for (field, image, position) in [
            ("image", &req.image, "first"),
            ("last_frame", &req.last_frame, "last"),
        ] {
            let Some(image) = image else { continue };
            let (uri, d) = if delivery::fits_inline(image, INLINE_MAX) {
                (image.data_uri(), Delivery::inline(field, image, "data_uri"))
            } else {
                let uri = self.upload(field, image).await?;
                (uri.clone(), Delivery::upload(field, image, VIA, uri))
            };
            items.push(json!({ "uri": uri, "position": position }));
            sent.push(d);
        }
        Ok((items, sent))
    }

    /// Uploads one image and returns its `runway://` URI. Free: nothing is bought.
    async fn upload(&self, field: &str, image: &ImageInput) -> Result<String> {
        let ext = match image.format() {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Webp => "webp",
        };
        let filename = format!("{field}.{ext}");
        let request = self
            .request(reqwest::Method::POST, "/v1/uploads")?
            .json(&json!({ "filename": filename, "type": "ephemeral" }));
        let started: Started =
            hosted::exchange_json(request, Call::Free, NAME, error::from_reply).await?;
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in started.fields {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            form = form.text(k, text);
        }
        let part = reqwest::multipart::Part::bytes(image.bytes().to_vec())
            .file_name(filename)
            .mime_str(image.format().mime())
            .map_err(|e| {
                Error::new(ErrorKind::InvalidRequest, format!("bad image type: {e}"))
                    .with_backend(NAME)
            })?;
        let request = self
            .client
            .post(&started.upload_url)
            .multipart(form.part("file", part));
        let reply = http::send(request, Call::Free)
            .await
            .map_err(|e| e.with_backend(NAME))?;
        if !reply.status.is_success() {
            return Err(http::status_error(
                reply.status,
                &reply.headers,
                &format!(
                    "the upload of {} was refused: {}",
                    image.source(),
                    http::snippet(&reply.body)
                ),
                Call::Free,
            )
            .with_backend(NAME));
        }
        Ok(started.runway_uri)
    }
}
