//! What the local backends' unit tests share: a GPU report and an input image.

use crate::media::image::ImageInput;

use super::{GpuMemory, GpuProbe};

/// 80 GB GPUs with `free_gib` free each.
pub(crate) fn gpus(free_gib: &[u64]) -> GpuProbe {
    GpuProbe::fixed(Ok(free_gib
        .iter()
        .map(|g| GpuMemory {
            free_mib: g * 1024,
            total_mib: 81_559,
        })
        .collect()))
}

/// A plain `w × h` PNG as a request image.
pub(crate) fn png(w: u32, h: u32) -> ImageInput {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([90, 120, 200]));
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .unwrap();
    ImageInput::from_bytes("image", "test.png", bytes).unwrap()
}
