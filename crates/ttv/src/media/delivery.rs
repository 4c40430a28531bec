//! How an input image reaches a provider: inline in the request (a data URI or base64), or
//! uploaded first and passed by reference (an upload API's URI, or a presigned URL). The choice
//! is made by size against the provider's inline limit, and each choice is recorded so the
//! sidecar can say how every image travelled.
//!
//! This module only decides and records; the uploads themselves live with the providers (their
//! own upload APIs) and in [`crate::services::bucket`] (an S3-compatible object store).

use serde::{Deserialize, Serialize};

use crate::media::image::ImageInput;

/// The key under which a ticket's `data` carries the deliveries.
pub const TICKET_KEY: &str = "inputs";

/// How an image was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// Inside the request body.
    Inline,
    /// Uploaded first; the request names it.
    Upload,
}

/// One image's journey to the provider, as recorded in the sidecar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The request field (`image`, `last_frame`).
    pub field: String,
    /// Inline or uploaded.
    pub how: How,
    /// What carried it: `data_uri`, `base64`, or the upload path (`runway_uploads`,
    /// `fal_storage`, `replicate_files`, `object_store`).
    pub via: String,
    /// Encoded size of the image.
    pub bytes: u64,
    /// SHA-256 of the image, hex.
    pub sha256: String,
    /// Where an upload went, without any signature (`runway://…`, a CDN URL,
    /// `s3://bucket/key`). Never a presigned URL: those are credentials while they last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl Delivery {
    /// An image sent inline by `via`.
    pub fn inline(field: &str, image: &ImageInput, via: &str) -> Self {
        Self {
            field: field.to_owned(),
            how: How::Inline,
            via: via.to_owned(),
            bytes: image.bytes().len() as u64,
            sha256: image.sha256().to_owned(),
            reference: None,
        }
    }

    /// An image uploaded by `via` to `reference`.
    pub fn upload(
        field: &str,
        image: &ImageInput,
        via: &str,
        reference: impl Into<String>,
    ) -> Self {
        Self {
            how: How::Upload,
            reference: Some(reference.into()),
            ..Self::inline(field, image, via)
        }
    }
}

/// Whether `image` fits inline under a limit of `inline_max` encoded bytes.
pub fn fits_inline(image: &ImageInput, inline_max: u64) -> bool {
    image.bytes().len() as u64 <= inline_max
}

/// The raw-image size whose base64 data URI stays within `uri_max` bytes.
pub const fn inline_max_for_data_uri(uri_max: u64) -> u64 {
    // base64 makes 4 bytes of 3; keep room for the `data:image/…;base64,` prefix.
    (uri_max.saturating_sub(64)) / 4 * 3
}

/// Adds `deliveries` to a ticket's `data` (an object, or `Null`, which becomes one).
pub fn record(data: &mut serde_json::Value, deliveries: &[Delivery]) {
    if deliveries.is_empty() {
        return;
    }
    if data.is_null() {
        *data = serde_json::Value::Object(Default::default());
    }
    if let Some(map) = data.as_object_mut() {
        map.insert(
            TICKET_KEY.to_owned(),
            serde_json::to_value(deliveries).unwrap_or_default(),
        );
    }
}

/// The deliveries recorded in a ticket's `data`, if any.
pub fn recorded(data: &serde_json::Value) -> Vec<Delivery> {
    data.get(TICKET_KEY)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_round_trip_through_ticket_data() {
        let png = {
            let img = image::RgbImage::from_pixel(80, 60, image::Rgb([1, 2, 3]));
            let mut out = Vec::new();
            img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
                .unwrap();
            ImageInput::from_bytes("image", "a.png", out).unwrap()
        };
        let mut data = serde_json::Value::Null;
        let sent = vec![
            Delivery::inline("image", &png, "data_uri"),
            Delivery::upload("last_frame", &png, "runway_uploads", "runway://abc"),
        ];
        record(&mut data, &sent);
        assert_eq!(recorded(&data), sent);
        assert_eq!(data["inputs"][1]["how"], "upload");
        assert!(fits_inline(&png, png.bytes().len() as u64));
        assert!(!fits_inline(&png, png.bytes().len() as u64 - 1));
        assert_eq!(inline_max_for_data_uri(5_000_064), 3_750_000);
    }
}
