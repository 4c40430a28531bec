//! An S3-compatible bucket for input images, for providers that take images only as URLs (or
//! whose inline limit an image exceeds): the image is put under a content-addressed key and
//! the provider gets a presigned GET URL that expires after `url_ttl`.
//!
//! Built on the `object_store` crate (SigV4 signing, retries); any S3-compatible server works
//! (AWS S3, MinIO, R2, moto in the tests). Configured by the `uploads` section or the standard
//! AWS variables. Nothing here knows a video provider.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as StorePath;
use object_store::signer::{Method, Signer};
use object_store::{Attribute, Attributes, ObjectStore, PutOptions, PutPayload};

use crate::error::{Error, ErrorKind, Result};
use crate::http::ApiKey;
use crate::media::delivery::Delivery;
use crate::media::image::ImageInput;

/// The `via` recorded for images that went through the bucket.
pub const VIA: &str = "object_store";

/// Where the bucket is and how to reach it (`uploads` in the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct BucketOptions {
    /// `s3://bucket` or `s3://bucket/prefix`.
    pub store: String,
    /// An S3-compatible endpoint (MinIO, R2, moto); AWS when absent.
    pub endpoint: Option<String>,
    /// The bucket's region (`us-east-1` when absent).
    pub region: Option<String>,
    /// Access key id (else `AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<ApiKey>,
    /// Secret access key (else `AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<ApiKey>,
    /// Session token for temporary credentials (else `AWS_SESSION_TOKEN`).
    pub session_token: Option<ApiKey>,
    /// How long a presigned URL stays valid.
    pub url_ttl: Duration,
}

impl BucketOptions {
    /// Options for `store` with everything else at its default.
    pub fn new(store: impl Into<String>) -> Self {
        Self {
            store: store.into(),
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            url_ttl: Duration::from_secs(3600),
        }
    }
}

/// An opened bucket.
#[derive(Debug, Clone)]
pub struct Bucket {
    store: Arc<AmazonS3>,
    bucket: String,
    prefix: String,
    ttl: Duration,
}

/// An image in the bucket.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// The presigned GET URL to hand the provider (a credential while it lasts).
    pub url: String,
    /// `s3://bucket/key`, for the record.
    pub reference: String,
}

impl Bucket {
    /// Opens the bucket named by `options.store`. Fails with a `Config` error naming the key.
    pub fn new(options: &BucketOptions) -> Result<Self> {
        let rest = options.store.trim().strip_prefix("s3://").ok_or_else(|| {
            Error::config(format!(
                "uploads.store: {:?} is not an S3 location; expected s3://bucket or s3://bucket/prefix",
                options.store
            ))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::config(format!(
                "uploads.store: {:?} names no bucket; expected s3://bucket/prefix",
                options.store
            )));
        }
        let store = s3_store(options, bucket, "uploads")?;
        Ok(Self {
            store: Arc::new(store),
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            ttl: options.url_ttl,
        })
    }

    /// Puts `image` under a key made of its hash (so the same image is stored once) and returns
    /// a presigned GET URL for it. Free to repeat: it never spends provider money.
    pub async fn put_image(&self, image: &ImageInput) -> Result<Uploaded> {
        let name = format!(
            "{}.{}",
            image.sha256(),
            match image.format() {
                crate::media::image::ImageFormat::Png => "png",
                crate::media::image::ImageFormat::Jpeg => "jpg",
                crate::media::image::ImageFormat::Webp => "webp",
            }
        );
        let key = if self.prefix.is_empty() {
            name
        } else {
            format!("{}/{name}", self.prefix)
        };
        let path = StorePath::from(key.as_str());
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, image.format().mime().into());
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        let payload = PutPayload::from(bytes::Bytes::copy_from_slice(image.bytes()));
        self.store
            .put_opts(&path, payload, options)
            .await
            .map_err(|e| store_error("uploading an image to", &self.bucket, e))?;
        let url = self
            .store
            .signed_url(Method::GET, &path, self.ttl)
            .await
            .map_err(|e| store_error("presigning a URL in", &self.bucket, e))?;
        Ok(Uploaded {
            url: url.to_string(),
            reference: format!("s3://{}/{key}", self.bucket),
        })
    }

    /// Uploads `image` for request field `field` and records how.
    pub async fn deliver(&self, field: &str, image: &ImageInput) -> Result<(String, Delivery)> {
        let up = self.put_image(image).await?;
        Ok((up.url, Delivery::upload(field, image, VIA, up.reference)))
    }
}

/// Opens bucket `bucket` with the endpoint, region and credentials of `options` (each unset
/// credential from the standard AWS variables, as the configuration filled them). `section`
/// names the configuration section in errors (`uploads`, `output`); secrets never appear in
/// them.
pub(crate) fn s3_store(options: &BucketOptions, bucket: &str, section: &str) -> Result<AmazonS3> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(options.region.as_deref().unwrap_or("us-east-1"));
    if let Some(endpoint) = &options.endpoint {
        builder = builder
            .with_endpoint(endpoint.trim_end_matches('/'))
            .with_allow_http(endpoint.starts_with("http://"));
    }
    match (&options.access_key_id, &options.secret_access_key) {
        (Some(id), Some(secret)) => {
            builder = builder
                .with_access_key_id(id.expose())
                .with_secret_access_key(secret.expose());
        }
        (None, None) => {}
        _ => {
            return Err(Error::config(format!(
                "{section}: set both access_key_id and secret_access_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or neither"
            )));
        }
    }
    if let Some(token) = &options.session_token {
        builder = builder.with_token(token.expose());
    }
    builder.build().map_err(|e| {
        Error::config(format!("{section}: cannot open {}: {e}", options.store)).with_source(e)
    })
}

/// What the caller can do about an object-store error: fix the configuration (no such bucket
/// or object), the credentials (refused), or try again later.
pub(crate) fn error_kind(e: &object_store::Error) -> ErrorKind {
    let text = e.to_string();
    match e {
        object_store::Error::NotFound { .. } => ErrorKind::Config,
        _ if text.contains("403") || text.contains("AccessDenied") => ErrorKind::Auth,
        _ if text.contains("NoSuchBucket") => ErrorKind::Config,
        _ => ErrorKind::Transient,
    }
}

fn store_error(what: &str, bucket: &str, e: object_store::Error) -> Error {
    let text = e.to_string();
    let kind = error_kind(&e);
    Error::new(
        kind,
        format!("{what} the upload bucket {bucket} failed (nothing was submitted): {text}"),
    )
    .with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_that_is_not_s3_is_a_config_error_naming_the_key() {
        let err = Bucket::new(&BucketOptions::new("gs://bucket/x")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("uploads.store"), "{err}");
        let err = Bucket::new(&BucketOptions::new("s3:///x")).unwrap_err();
        assert!(err.to_string().contains("names no bucket"), "{err}");
        let half = BucketOptions {
            access_key_id: Some(ApiKey::new("id")),
            ..BucketOptions::new("s3://b")
        };
        assert!(Bucket::new(&half).is_err());
    }
}
