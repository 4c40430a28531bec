//! The frame loop: a scene draws frames on one thread while the encoder compresses the
//! previous ones on another, so both cores stay busy. Frame buffers circulate between the two
//! threads instead of being reallocated.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use image::RgbImage;

use crate::error::{Error, ErrorKind, Result};
use crate::media::encode::{EncodeSettings, Mp4Writer};
use crate::media::image::{CropRect, FrameResizer, fit_cover};
use crate::request::Resolution;

use super::camera::{CameraMove, smoothstep};
use super::title::TitleCard;

/// When the cross-fade to the last frame starts, as a fraction of the clip.
const FADE_START: f64 = 0.45;
/// How far the last image is zoomed when it fades in; it settles to the full frame.
const LAST_FRAME_ZOOM: f64 = 1.08;

/// A still, scaled once to the output aspect with room for the camera to move.
struct Still {
    rgb: Vec<u8>,
    size: (u32, u32),
}

impl Still {
    fn prepare(img: &RgbImage, out: Resolution, zoom: f64) -> Result<Self> {
        let w = even_at_least(f64::from(out.width) * zoom, out.width);
        let h = even_at_least(f64::from(out.height) * zoom, out.height);
        let scaled = fit_cover(img, Resolution::new(w, h))?;
        Ok(Self {
            size: scaled.dimensions(),
            rgb: scaled.into_raw(),
        })
    }

    fn full(&self) -> CropRect {
        CropRect {
            x: 0.0,
            y: 0.0,
            w: f64::from(self.size.0),
            h: f64::from(self.size.1),
        }
    }
}

fn even_at_least(v: f64, min: u32) -> u32 {
    let v = (v.ceil() as u32).max(min);
    v + (v & 1)
}

/// What the clip shows.
pub(crate) enum Scene {
    /// The text-only title card.
    Title(Box<TitleCard>),
    /// A camera move over the first image, cross-fading to the last when there is one.
    Stills {
        first: RgbImage,
        last: Option<RgbImage>,
        camera: CameraMove,
    },
}

enum Prepared {
    Title(Box<TitleCard>),
    Stills(Box<Stills>),
}

struct Stills {
    first: Still,
    last: Option<Still>,
    camera: CameraMove,
    resizer: FrameResizer,
    blend: Vec<u8>,
}

impl Prepared {
    fn new(scene: Scene, size: Resolution) -> Result<Self> {
        Ok(match scene {
            Scene::Title(card) => Self::Title(card),
            Scene::Stills {
                first,
                last,
                camera,
            } => Self::Stills(Box::new(Stills {
                first: Still::prepare(&first, size, camera.max_zoom())?,
                last: last
                    .map(|img| Still::prepare(&img, size, LAST_FRAME_ZOOM))
                    .transpose()?,
                camera,
                resizer: FrameResizer::default(),
                blend: Vec::new(),
            })),
        })
    }

    fn draw(
        &mut self,
        i: u32,
        frames: u32,
        fps: u32,
        size: Resolution,
        out: &mut [u8],
    ) -> Result<()> {
        match self {
            Self::Title(card) => card.render(i, fps, out),
            Self::Stills(stills) => {
                let Stills {
                    first,
                    last,
                    camera,
                    resizer,
                    blend,
                } = &mut **stills;
                let t = if frames > 1 {
                    f64::from(i) / f64::from(frames - 1)
                } else {
                    0.0
                };
                let dst = (size.width, size.height);
                let fade = match last {
                    Some(_) => smoothstep((t - FADE_START) / (1.0 - FADE_START)),
                    None => 0.0,
                };
                if fade < 1.0 {
                    resizer.resize_rgb(
                        &first.rgb,
                        first.size,
                        camera.crop_at(first.full(), t),
                        out,
                        dst,
                    )?;
                }
                if let Some(last) = last.as_ref().filter(|_| fade > 0.0) {
                    let zoom = LAST_FRAME_ZOOM + (1.0 - LAST_FRAME_ZOOM) * fade;
                    let full = last.full();
                    let (w, h) = (full.w / zoom, full.h / zoom);
                    let crop = CropRect {
                        x: (full.w - w) / 2.0,
                        y: (full.h - h) / 2.0,
                        w,
                        h,
                    };
                    if fade >= 1.0 {
                        resizer.resize_rgb(&last.rgb, last.size, crop, out, dst)?;
                    } else {
                        blend.resize(out.len(), 0);
                        resizer.resize_rgb(&last.rgb, last.size, crop, blend, dst)?;
                        let a = (fade * 256.0) as u32;
                        for (o, b) in out.iter_mut().zip(blend.iter()) {
                            *o = ((u32::from(*o) * (256 - a) + u32::from(*b) * a) >> 8) as u8;
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// What to render.
pub(crate) struct RenderSpec {
    pub size: Resolution,
    pub fps: u32,
    pub frames: u32,
    pub scene: Scene,
}

/// Renders `spec` as an MP4 into `writer`. `progress` receives the number of frames encoded;
/// setting `cancel` stops the render with a `Cancelled` error.
pub(crate) fn render<W: Write + Send>(
    spec: RenderSpec,
    writer: W,
    progress: &(dyn Fn(u32) + Sync),
    cancel: &AtomicBool,
) -> Result<W> {
    let RenderSpec {
        size,
        fps,
        frames,
        scene,
    } = spec;
    let frame_bytes = size.pixels() as usize * 3;
    let mut mp4 = Mp4Writer::new(writer, EncodeSettings::new(size, fps))?;
    let cancelled = || Error::new(ErrorKind::Cancelled, "the render was cancelled");

    std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(3);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
        let producer = scope.spawn(move || -> Result<()> {
            let mut prepared = Prepared::new(scene, size)?;
            for i in 0..frames {
                if cancel.load(Ordering::Relaxed) {
                    return Err(cancelled());
                }
                let mut buf = empty_rx
                    .try_recv()
                    .unwrap_or_else(|_| vec![0u8; frame_bytes]);
                prepared.draw(i, frames, fps, size, &mut buf)?;
                if full_tx.send(buf).is_err() {
                    // The encoder stopped; its error is reported below.
                    break;
                }
            }
            Ok(())
        });

        let mut encoded = Ok(());
        for buf in full_rx.iter() {
            if cancel.load(Ordering::Relaxed) {
                encoded = Err(cancelled());
                break;
            }
            if let Err(e) = mp4.push_rgb(&buf) {
                encoded = Err(e);
                break;
            }
            progress(mp4.frames() as u32);
            // The producer may have finished; a closed channel only means no reuse.
            let _ = empty_tx.send(buf);
        }
        drop(full_rx);
        let produced = producer
            .join()
            .map_err(|_| Error::new(ErrorKind::Io, "the frame renderer crashed"))?;
        produced?;
        encoded
    })?;

    if mp4.frames() != u64::from(frames) {
        return Err(cancelled());
    }
    mp4.finish()
}
