//! Real image answers for the simulated image APIs: a title card of the prompt drawn by ttv's
//! still renderer, encoded as PNG or JPEG, so clients decode what they receive exactly as they
//! would a provider's image. The card reads `SIM {provider}: {prompt}`, so a test can tell
//! which API made an image.

use ttv::Resolution;

/// The image for `prompt` at `size`, as PNG (or JPEG when `jpeg`). Blocking: call it from a
/// blocking thread.
pub(crate) fn render(provider: &str, prompt: &str, size: Resolution, jpeg: bool) -> Vec<u8> {
    let text = format!("SIM {provider}: {prompt}");
    let png = ttv::images::still::render_png(&text, 0, size).unwrap_or_default();
    if !jpeg {
        return png;
    }
    let Ok(img) = image::load_from_memory_with_format(&png, image::ImageFormat::Png) else {
        return png;
    };
    let mut out = Vec::new();
    match img.to_rgb8().write_to(
        &mut std::io::Cursor::new(&mut out),
        image::ImageFormat::Jpeg,
    ) {
        Ok(()) => out,
        Err(_) => png,
    }
}

/// [`render`] off the async threads.
pub(crate) async fn render_async(
    provider: &'static str,
    prompt: String,
    size: Resolution,
    jpeg: bool,
) -> Vec<u8> {
    tokio::task::spawn_blocking(move || render(provider, &prompt, size, jpeg))
        .await
        .unwrap_or_default()
}

/// Whether `bytes` decode as a complete PNG, JPEG or WebP image; its size when they do.
pub(crate) fn decodes(bytes: &[u8]) -> Option<Resolution> {
    ttv::media::image::ImageInput::from_bytes("image", "upload", bytes.to_vec())
        .ok()
        .map(|i| i.resolution())
}
