//! Python's request arguments (JSON from the `ttv` package) into a [`GenerationRequest`].
//!
//! Every bad value is collected as a [`Problem`] named after the Python argument, so that the
//! façade can report them together with the backend's own problems, all at once.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value};
use ttv::config::RequestDefaults;
use ttv::media::image::ImageInput;
use ttv::{
    AspectRatio, Capabilities, Error, ErrorKind, GenerationRequest, Mode, Problem, Resolution,
    ResolutionSpec,
};

/// The request as Python gives it; values are checked here, not by serde, so that a wrong
/// type is reported in the caller's words.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RequestArgs {
    prompt: Value,
    negative_prompt: Option<String>,
    image: Option<PathBuf>,
    last_frame: Option<PathBuf>,
    duration: Value,
    aspect_ratio: Option<String>,
    resolution: Option<String>,
    fps: Value,
    seed: Value,
    audio: bool,
    extra: Map<String, Value>,
}

/// A request as far as the arguments allow, with what is wrong in them.
#[derive(Debug)]
pub struct Built {
    /// The request, without the values that could not be read.
    pub request: GenerationRequest,
    /// Every problem with the arguments.
    pub problems: Vec<Problem>,
    /// The image files read.
    pub inputs: Vec<PathBuf>,
}

/// Reads the JSON text of the arguments.
pub fn parse(json: &str) -> Result<RequestArgs, Error> {
    serde_json::from_str(json).map_err(|e| {
        Error::new(
            ErrorKind::InvalidRequest,
            format!("the request arguments could not be read: {e}"),
        )
    })
}

/// Builds the request, filling gaps from the configuration's defaults.
pub async fn build(args: RequestArgs, defaults: &RequestDefaults) -> Result<Built, Error> {
    let mut problems = Vec::new();
    let prompt = match &args.prompt {
        Value::Null => String::new(),
        Value::String(s) => s.trim().to_owned(),
        other => {
            problems.push(Problem::new("prompt", other, "text"));
            String::new()
        }
    };
    let mut req = GenerationRequest {
        prompt,
        negative_prompt: args.negative_prompt.filter(|p| !p.trim().is_empty()),
        audio: args.audio,
        extra: args.extra,
        ..GenerationRequest::default()
    };
    req.duration = duration(&args.duration, &mut problems).or(defaults.duration);
    req.aspect_ratio =
        parsed::<AspectRatio>(args.aspect_ratio.as_deref(), &mut problems).or(defaults.aspect);
    req.resolution =
        parsed::<ResolutionSpec>(args.resolution.as_deref(), &mut problems).or(defaults.resolution);
    req.fps = whole(&args.fps, "fps", u64::from(u32::MAX), &mut problems)
        .and_then(|n| u32::try_from(n).ok());
    req.seed = whole(&args.seed, "seed", u64::MAX, &mut problems).or(defaults.seed);

    let given = |p: Option<PathBuf>| p.filter(|p| !p.as_os_str().is_empty());
    let inputs = req
        .read_images(given(args.image), given(args.last_frame), &mut problems)
        .await?;
    Ok(Built {
        request: req,
        problems,
        inputs,
    })
}

/// A request that only prices: `duration` seconds at `resolution`, a placeholder prompt and,
/// for a backend that cannot start from text, a plain first frame of that size.
pub fn for_price(
    duration: f64,
    resolution: Option<&str>,
    caps: &Capabilities,
) -> Result<GenerationRequest, Error> {
    let mut problems = Vec::new();
    let mut req = GenerationRequest {
        duration: self::duration(&Value::from(duration), &mut problems),
        resolution: parsed::<ResolutionSpec>(resolution, &mut problems),
        ..GenerationRequest::text("price")
    };
    if !problems.is_empty() {
        return Err(Error::invalid(problems));
    }
    if !caps.modes.contains(&Mode::TextToVideo) {
        let size = match req.resolution {
            Some(ResolutionSpec::Exact(r)) => r,
            _ => Resolution::new(1280, 720),
        };
        let frame = image::RgbImage::from_pixel(size.width, size.height, image::Rgb([128; 3]));
        let mut png = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(frame)
            .write_to(&mut png, image::ImageFormat::Png)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot make a frame: {e}")))?;
        req.image = Some(ImageInput::from_bytes("image", "price", png.into_inner())?);
    }
    Ok(req)
}

/// A duration in seconds: a number, or text such as `"5s"`.
fn duration(value: &Value, problems: &mut Vec<Problem>) -> Option<ttv::VideoDuration> {
    let bad = |problems: &mut Vec<Problem>| {
        problems.push(Problem::new(
            "duration",
            value,
            "a number of seconds above 0, such as 5 or 2.5",
        ));
        None
    };
    match value {
        Value::Null => None,
        Value::Number(n) => match n.as_f64().and_then(ttv::VideoDuration::try_from_secs_f64) {
            Some(d) => Some(d),
            None => bad(problems),
        },
        Value::String(s) => parsed(Some(s), problems),
        _ => bad(problems),
    }
}

/// A whole number from 0 to `max`.
fn whole(value: &Value, field: &str, max: u64, problems: &mut Vec<Problem>) -> Option<u64> {
    match value {
        Value::Null => None,
        Value::Number(n) => match n.as_u64().filter(|n| *n <= max) {
            Some(n) => Some(n),
            None => {
                problems.push(Problem::new(
                    field,
                    n,
                    format!("a whole number from 0 to {max}"),
                ));
                None
            }
        },
        other => {
            problems.push(Problem::new(
                field,
                other,
                format!("a whole number from 0 to {max}"),
            ));
            None
        }
    }
}

/// A value read with its `FromStr` (which names the field in its problems).
fn parsed<T: std::str::FromStr<Err = Error>>(
    text: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    match text?.parse::<T>() {
        Ok(v) => Some(v),
        Err(e) => {
            problems.extend(e.problems().iter().cloned());
            None
        }
    }
}
