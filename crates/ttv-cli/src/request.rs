//! Turning command-line text into a `GenerationRequest`, reporting every bad value at once.

use std::path::PathBuf;

use ttv::{AspectRatio, Error, GenerationRequest, Problem, ResolutionSpec, VideoDuration};

use crate::cli::RequestArgs;
use crate::settings::RequestDefaults;

/// A request as far as the arguments allow, with what is wrong in them.
pub struct Built {
    /// The request, without the values that could not be read.
    pub request: GenerationRequest,
    /// Every problem with the arguments (bad numbers, unreadable images).
    pub problems: Vec<Problem>,
    /// The files read (the images).
    pub inputs: Vec<PathBuf>,
}

impl Built {
    /// The request, or every problem at once.
    pub fn complete(self) -> Result<GenerationRequest, Error> {
        if self.problems.is_empty() {
            Ok(self.request)
        } else {
            Err(Error::invalid(self.problems))
        }
    }
}

/// Builds the request, filling gaps from the configuration's defaults. Problems with the
/// arguments do not stop it: they are collected, so that the backend's check of the rest of
/// the request can be reported with them.
pub async fn build(args: &RequestArgs, defaults: &RequestDefaults) -> Result<Built, Error> {
    let mut problems = Vec::new();
    let mut req = GenerationRequest {
        prompt: args.prompt.trim().to_owned(),
        negative_prompt: args
            .negative_prompt
            .clone()
            .filter(|p| !p.trim().is_empty()),
        audio: args.audio,
        ..GenerationRequest::default()
    };

    req.duration = parse_into::<VideoDuration>(&args.duration, &mut problems).or(defaults.duration);
    req.aspect_ratio = parse_into::<AspectRatio>(&args.aspect, &mut problems).or(defaults.aspect);
    req.resolution =
        parse_into::<ResolutionSpec>(&args.resolution, &mut problems).or(defaults.resolution);
    req.fps = number(
        &args.fps,
        "fps",
        "a whole number of frames per second, such as 24",
        &mut problems,
    );
    req.seed = number(
        &args.seed,
        "seed",
        "a whole number from 0 to 18446744073709551615",
        &mut problems,
    )
    .or(defaults.seed);

    for item in &args.extra {
        match item.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => match extra_value(value) {
                Ok(value) => {
                    req.extra.insert(key.trim().to_owned(), value);
                }
                Err(allowed) => problems.push(Problem::new(
                    format!("extra.{}", key.trim()),
                    format!("{value:?}"),
                    allowed,
                )),
            },
            _ => problems.push(Problem::new(
                "extra",
                format!("{item:?}"),
                "KEY=VALUE, such as camera=pan_left",
            )),
        }
    }

    let inputs = req
        .read_images(args.image.clone(), args.last_frame.clone(), &mut problems)
        .await?;

    Ok(Built {
        request: req,
        problems,
        inputs,
    })
}

/// The value of `-x KEY=VALUE`: JSON when it reads as JSON, else text. A value that starts
/// like a JSON object, list or string but does not parse is a mistake, not text.
fn extra_value(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(e) => match text.trim_start().chars().next() {
            Some(c @ ('{' | '[' | '"')) => Err(format!(
                "valid JSON, since it starts with {c:?} ({e}); to pass it as text, quote it as a JSON string"
            )),
            _ => Ok(serde_json::Value::String(text.to_owned())),
        },
    }
}

fn parse_into<T: std::str::FromStr<Err = Error>>(
    value: &Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    match value.as_deref().map(str::parse::<T>)? {
        Ok(v) => Some(v),
        Err(e) => {
            problems.extend(e.problems().iter().cloned());
            None
        }
    }
}

fn number<T: std::str::FromStr>(
    value: &Option<String>,
    field: &str,
    allowed: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let text = value.as_deref()?;
    match text.trim().parse() {
        Ok(v) => Some(v),
        Err(_) => {
            problems.push(Problem::new(field, format!("{text:?}"), allowed));
            None
        }
    }
}
