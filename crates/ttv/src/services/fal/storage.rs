//! fal's storage, for images over the inline limit: `POST
//! {storage_url}/storage/auth/token?storage_type=fal-cdn-v3` with the key and `{}` answers
//! `{token, token_type, base_url, expires_at}`; `POST {base_url}/files/upload` with the raw
//! bytes, `Authorization: {token_type} {token}`, `Content-Type` and `X-Fal-File-Name` answers
//! `{access_url}`, which any model takes as an image URL. From the official fal client
//! (fal-ai/fal, `fal_client/client.py`: `CDNTokenManager`, `upload`), read 2026-12-02; files
//! over 100 MB would need its multipart flow, which ttv's 64 MiB image limit never reaches.
//!
//! UNCONFIRMED: fal documents no data-URI size limit; ttv sends up to a 5 MB data URI inline
//! (as Runway allows) and uploads anything larger.

use serde::Deserialize;
use serde_json::json;

use crate::error::Result;
use crate::http::Call;
use crate::media::delivery::{self, Delivery};
use crate::media::image::{ImageFormat, ImageInput};
use crate::request::GenerationRequest;
use crate::services::hosted;

use super::{Fal, NAME, error};

/// Largest image sent inline: a 5 MB data URI (UNCONFIRMED).
pub(super) const INLINE_MAX: u64 = delivery::inline_max_for_data_uri(5_000_064);
/// Largest single upload (bigger ones use fal's multipart flow).
pub(super) const UPLOAD_MAX: u64 = 100 * 1024 * 1024;
/// The `via` recorded for uploaded images.
pub const VIA: &str = "fal_storage";

#[derive(Deserialize)]
struct Token {
    token: String,
    token_type: String,
    base_url: String,
}

#[derive(Deserialize)]
struct Uploaded {
    access_url: String,
}

impl Fal {
    /// `image_url` and `end_image_url` for the request, each inline or uploaded.
    pub(super) async fn images(
        &self,
        req: &GenerationRequest,
    ) -> Result<([Option<String>; 2], Vec<Delivery>)> {
        let mut urls = [None, None];
        let mut sent = Vec::new();
        for (slot, (field, image)) in [("image", &req.image), ("last_frame", &req.last_frame)]
            .into_iter()
            .enumerate()
        {
            let Some(image) = image else { continue };
            if delivery::fits_inline(image, INLINE_MAX) {
                urls[slot] = Some(image.data_uri());
                sent.push(Delivery::inline(field, image, "data_uri"));
            } else {
                let url = self.upload(field, image).await?;
                urls[slot] = Some(url.clone());
                sent.push(Delivery::upload(field, image, VIA, url));
            }
        }
        Ok((urls, sent))
    }

    /// Uploads one image to fal's CDN and returns its URL. Free: nothing is bought.
    async fn upload(&self, field: &str, image: &ImageInput) -> Result<String> {
        let url = format!(
            "{}/storage/auth/token?storage_type=fal-cdn-v3",
            self.options.storage_url.trim_end_matches('/')
        );
        let request = self.with_key(self.client.post(url).json(&json!({})))?;
        let token: Token =
            hosted::exchange_json(request, Call::Free, NAME, error::from_reply).await?;
        let ext = match image.format() {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Webp => "webp",
        };
        let request = self
            .client
            .post(format!(
                "{}/files/upload",
                token.base_url.trim_end_matches('/')
            ))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("{} {}", token.token_type, token.token),
            )
            .header(reqwest::header::CONTENT_TYPE, image.format().mime())
            .header("X-Fal-File-Name", format!("{field}.{ext}"))
            .body(image.bytes().to_vec());
        let uploaded: Uploaded =
            hosted::exchange_json(request, Call::Free, NAME, error::from_reply).await?;
        Ok(uploaded.access_url)
    }
}
