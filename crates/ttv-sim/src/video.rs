//! The videos the simulator serves: real H.264 MP4s from ttv's animatic encoder, rendered once
//! per (frame rate, size, duration) on a blocking thread and shared by every job, and every
//! simulator in the process, that asks for them (rendering is deterministic, and a test
//! process starts many simulators).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use tokio::sync::OnceCell;
use ttv::services::animatic::render_title_mp4;
use ttv::{Resolution, VideoDuration};

type Cell = Arc<OnceCell<Bytes>>;
/// Rendered videos by (fps, size, seconds).
type Cells = Mutex<HashMap<(u32, Resolution, u32), Cell>>;

pub(crate) struct VideoCache {
    fps: u32,
    max_side: u32,
}

/// The rendered videos, shared by every simulator of the process.
fn rendered() -> &'static Cells {
    static CELLS: OnceLock<Cells> = OnceLock::new();
    CELLS.get_or_init(Mutex::default)
}

impl VideoCache {
    pub fn new(fps: u32, max_side: u32) -> Self {
        Self { fps, max_side }
    }

    /// The MP4 for `size` and `secs`, rendering it on first use.
    pub async fn get(&self, size: Resolution, secs: u32) -> Result<Bytes, String> {
        let size = shrink(size, self.max_side);
        let cell = {
            let mut cells = rendered().lock().map_err(|_| "video cache poisoned")?;
            cells.entry((self.fps, size, secs)).or_default().clone()
        };
        let fps = self.fps;
        // Rendered in a task of its own: a client that gives up waiting does not cancel it,
        // so the next request finds the video ready.
        let render = tokio::spawn(async move {
            cell.get_or_try_init(|| async move {
                let text = format!("ttv-sim {}x{} {secs}s", size.width, size.height);
                tokio::task::spawn_blocking(move || {
                    render_title_mp4(&text, size, fps, VideoDuration::from_secs(secs.max(1)))
                })
                .await
                .map_err(|e| e.to_string())?
                .map(Bytes::from)
                .map_err(|e| e.to_string())
            })
            .await
            .cloned()
        });
        render.await.map_err(|e| e.to_string())?
    }
}

/// `size` scaled down so its long side is at most `max_side` (0: unchanged), sides even.
fn shrink(size: Resolution, max_side: u32) -> Resolution {
    let long = size.width.max(size.height);
    if max_side == 0 || long <= max_side {
        return size;
    }
    let scale =
        |v: u32| ((u64::from(v) * u64::from(max_side) / u64::from(long)) as u32 & !1).max(16);
    Resolution::new(scale(size.width), scale(size.height))
}
