//! `ttv probe` and `ttv frame`: look inside a video.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ttv::media::frames::Which;
use ttv::{Error, Problem};

use crate::cli::{Cli, FrameArgs};
use crate::output::print_json;

/// `ttv probe VIDEO`
pub async fn probe(cli: &Cli, video: &Path) -> anyhow::Result<()> {
    let path = video.to_path_buf();
    let (info, sha256) = tokio::task::spawn_blocking(move || ttv::media::probe::verify_file(&path))
        .await?
        .map_err(given_file)?;
    if cli.json {
        let mut value = serde_json::to_value(&info)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("sha256".into(), sha256.into());
        }
        return print_json(&value);
    }
    println!(
        "{}: {} {}x{}, {:.3} s, {} frames ({:.2} fps), {} keyframes, {}{}",
        video.display(),
        info.codec,
        info.width,
        info.height,
        info.duration_secs,
        info.frames,
        info.fps,
        info.keyframes,
        if info.fast_start {
            "fast start"
        } else {
            "index at the end"
        },
        if info.audio { ", with audio" } else { "" },
    );
    Ok(())
}

/// A file the user named that is not a (playable) video, or lacks the frame asked for, is
/// bad input (exit 2), not a backend failure.
fn given_file(e: Error) -> Error {
    match e.kind() {
        ttv::ErrorKind::Io | ttv::ErrorKind::InvalidRequest => e,
        _ => Error::new(ttv::ErrorKind::InvalidRequest, e.to_string()),
    }
}

/// `ttv frame VIDEO --which last --out last.png`
pub async fn frame(cli: &Cli, args: &FrameArgs) -> anyhow::Result<()> {
    let which = match args.which.trim().to_ascii_lowercase().as_str() {
        "first" => Which::First,
        "last" => Which::Last,
        n => Which::Index(n.parse().map_err(|_| {
            Error::invalid(vec![Problem::new(
                "--which",
                format!("{n:?}"),
                "first, last, or a frame number from 0",
            )])
        })?),
    };
    let (video, out) = (args.video.clone(), args.out.clone());
    let saved: PathBuf = tokio::task::spawn_blocking(move || -> anyhow::Result<PathBuf> {
        let img = ttv::media::frames::extract_frame(&video, which).map_err(given_file)?;
        let format = image::ImageFormat::from_path(&out).map_err(|_| {
            Error::invalid(vec![Problem::new(
                "--out",
                out.display(),
                "a file name ending in .png, .jpg or .webp",
            )])
        })?;
        let mut bytes = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut bytes), format)
            .context("cannot encode the image")?;
        Ok(ttv::media::atomic::write_atomically(&out, &bytes)?)
    })
    .await??;
    if !cli.quiet {
        println!("{}", saved.display());
    }
    Ok(())
}
