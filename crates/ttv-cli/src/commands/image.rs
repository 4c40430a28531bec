//! `ttv image generate | estimate | backends`: still images (keyframes) through the image job
//! façade ([`ttv::images::jobs`]). This command parses, calls the library and prints; options,
//! JSON and exit codes follow `ttv generate`.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;
use ttv::images::ImageRequest;
use ttv::images::jobs::{ImageJobSpec, ImageJobs, ImageMade, default_out};
use ttv::images::registry::{ImageRegistry, ImageSettings, KNOWN_IMAGES};
use ttv::media::image::ImageInput;
use ttv::{AspectRatio, Availability, Error, Problem, ResolutionSpec};

use crate::cli::{Cli, ImageArgs, ImageCommand, ImageGenerateArgs};
use crate::commands::backends::print_table;
use crate::output::{human_bytes, print_json, warning};
use crate::settings::{self, Settings};

/// Runs `ttv image ...`.
pub async fn run(cli: &Cli, command: &ImageCommand) -> anyhow::Result<()> {
    let settings = settings::load(cli)?;
    match command {
        ImageCommand::Generate(args) => generate(cli, &settings, args).await,
        ImageCommand::Estimate(args) => estimate(cli, &settings, args).await,
        ImageCommand::Backends => backends(cli, &settings),
    }
}

/// The request, or every problem with the arguments at once; with the files read.
async fn build(args: &ImageArgs) -> Result<(ImageRequest, Vec<PathBuf>), Error> {
    let mut problems = Vec::new();
    let mut req = ImageRequest {
        prompt: args.prompt.trim().to_owned(),
        negative_prompt: args
            .negative_prompt
            .clone()
            .filter(|p| !p.trim().is_empty()),
        ..ImageRequest::default()
    };
    if let Some(text) = &args.size {
        match text.parse::<ResolutionSpec>() {
            Ok(ResolutionSpec::Exact(size)) => req.size = Some(size),
            _ => problems.push(Problem::new(
                "size",
                format!("{text:?}"),
                "WIDTHxHEIGHT in pixels, such as 1024x1024",
            )),
        }
    }
    if let Some(text) = &args.aspect {
        match text.parse::<AspectRatio>() {
            Ok(a) => req.aspect_ratio = Some(a),
            Err(e) => problems.extend(e.problems().iter().cloned()),
        }
    }
    if let Some(text) = &args.seed {
        match text.trim().parse() {
            Ok(seed) => req.seed = Some(seed),
            Err(_) => problems.push(Problem::new(
                "seed",
                format!("{text:?}"),
                "a whole number from 0 to 18446744073709551615",
            )),
        }
    }
    for item in &args.extra {
        match item.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                let value = serde_json::from_str(value)
                    .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
                req.extra.insert(key.trim().to_owned(), value);
            }
            _ => problems.push(Problem::new(
                "extra",
                format!("{item:?}"),
                "KEY=VALUE, such as quality=high",
            )),
        }
    }
    for (i, path) in args.images.iter().enumerate() {
        let field = format!("references[{i}]");
        let p = path.clone();
        let loaded = tokio::task::spawn_blocking(move || ImageInput::from_path(&field, &p))
            .await
            .map_err(|e| Error::new(ttv::ErrorKind::Io, format!("image loading crashed: {e}")))?;
        match loaded {
            Ok(img) => req.references.push(img),
            Err(e) if e.problems().is_empty() => return Err(e),
            Err(e) => problems.extend(e.problems().iter().cloned()),
        }
    }
    if problems.is_empty() {
        Ok((req, args.images.clone()))
    } else {
        Err(Error::invalid(problems))
    }
}

fn image_jobs(settings: &Settings) -> ImageJobs {
    ImageJobs::new(
        ImageRegistry::new(&settings.images),
        settings.budget.clone(),
        settings.retry.clone(),
    )
}

async fn generate(cli: &Cli, settings: &Settings, args: &ImageGenerateArgs) -> anyhow::Result<()> {
    let (request, inputs) = build(&args.request).await?;
    let job_id = match &args.job_id {
        Some(id) => {
            ttv::jobs::check_job_id(id)?;
            id.clone()
        }
        None => ttv::jobs::new_job_id(),
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&settings.output_dir, &job_id));
    let mut jobs = image_jobs(settings);
    let plan = jobs.plan(ImageJobSpec {
        request,
        backend: args.request.backend.clone(),
        out,
        job_id: Some(job_id.clone()),
        inputs,
    })?;
    if !cli.quiet {
        for w in &plan.warnings {
            eprintln!("{}", warning(w));
        }
    }
    if args.dry_run {
        if cli.json {
            return print_json(&json!({
                "status": "dry_run",
                "job_id": plan.job_id,
                "backend": plan.backend.id(),
                "model": plan.backend.model(),
                "resolved": plan.resolved,
                "estimate": plan.estimate,
                "out": plan.out,
                "warnings": plan.warnings,
            }));
        }
        if !cli.quiet {
            println!(
                "would make {} with {}: {} with {} reference image(s); estimated cost {}",
                plan.out.display(),
                plan.backend.id(),
                plan.resolved.size,
                plan.resolved.references,
                plan.estimate
            );
        }
        return Ok(());
    }
    let store = settings.store().await.context("opening the job store")?;
    jobs = jobs.with_store(store, Some(settings.data_dir.clone()));
    if !cli.quiet && !cli.json {
        eprintln!("job {} ({})", plan.job_id, plan.backend.id());
    }
    let made = jobs
        .run(plan)
        .await
        .with_context(|| format!("job {job_id}"))?;
    print_made(cli, &made)
}

fn print_made(cli: &Cli, made: &ImageMade) -> anyhow::Result<()> {
    if cli.json {
        let mut value = serde_json::to_value(made)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert(
                "status".into(),
                json!(if made.already_done {
                    "already_done"
                } else {
                    "succeeded"
                }),
            );
            obj.insert("path".into(), json!(made.image.path));
        }
        return print_json(&value);
    }
    println!("{}", made.image.path.display());
    if !cli.quiet {
        let i = &made.image;
        eprintln!(
            "{} {} with {}: {}, {}, {}, estimated cost {}; sidecar {}",
            if made.already_done {
                "already made"
            } else {
                "made"
            },
            i.path.display(),
            i.backend,
            i.size,
            i.format,
            human_bytes(i.bytes),
            made.estimate,
            made.sidecar.display()
        );
    }
    Ok(())
}

async fn estimate(cli: &Cli, settings: &Settings, args: &ImageArgs) -> anyhow::Result<()> {
    let (request, _) = build(args).await?;
    // Backends without a key are priced as if configured, so every price table shows.
    let keyed = |k: &str| Some(ttv::http::ApiKey::new(k));
    let priced_anyway = ImageRegistry::new(&ImageSettings {
        openai: Some(ttv::services::openai_images::OpenAiImagesOptions {
            api_key: keyed("price-only"),
            ..settings.images.openai.clone().unwrap_or_default()
        }),
        gemini: Some(ttv::services::gemini_image::GeminiImageOptions {
            api_key: keyed("price-only"),
            ..settings.images.gemini.clone().unwrap_or_default()
        }),
        stability: Some(ttv::services::stability::StabilityOptions {
            api_key: keyed("price-only"),
            ..settings.images.stability.clone().unwrap_or_default()
        }),
        default_backend: None,
    });
    let here = ImageRegistry::new(&settings.images);
    let mut priced = Vec::new();
    let mut unable = Vec::new();
    for entry in here.entries() {
        let name = entry.known.name;
        if let Some(only) = &args.backend
            && ttv::images::registry::lookup(only).map(|k| k.name) != Some(name)
        {
            continue;
        }
        let reason = match &entry.availability {
            Availability::Available => None,
            Availability::Unavailable { reason } => Some(reason.clone()),
        };
        let Ok(backend) = priced_anyway.get("backend", Some(name)) else {
            unable.push(json!({ "backend": name, "usable": false, "reason": reason }));
            continue;
        };
        let result = backend
            .validate(&request)
            .and_then(|r| backend.estimate_cost(&request, &r).map(|e| (r, e)));
        match result {
            Ok((resolved, estimate)) => priced.push(json!({
                "backend": name,
                "model": backend.model(),
                "size": resolved.size,
                "estimate": estimate,
                "usable": reason.is_none(),
                "reason": reason,
            })),
            Err(e) => unable.push(json!({
                "backend": name,
                "usable": reason.is_none(),
                "reason": e.to_string(),
            })),
        }
    }
    priced.sort_by_key(|row| {
        row["estimate"]["usd"]["micros"]
            .as_i64()
            .unwrap_or(i64::MAX)
    });
    if cli.json {
        return print_json(&json!({ "estimates": priced, "unable": unable }));
    }
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
    let rows: Vec<[String; 5]> = priced
        .iter()
        .map(|row| {
            [
                text(&row["backend"]),
                text(&row["model"]),
                row["estimate"]["basis"].as_str().unwrap_or("-").to_owned(),
                serde_json::from_value::<ttv::CostEstimate>(row["estimate"].clone())
                    .map_or("-".to_owned(), |e| e.to_string()),
                match row["usable"].as_bool() {
                    Some(true) => "yes".to_owned(),
                    _ => format!("no: {}", text(&row["reason"])),
                },
            ]
        })
        .collect();
    print_table(&["BACKEND", "MODEL", "BASIS", "COST", "USABLE HERE"], &rows);
    for row in &unable {
        println!(
            "{}: cannot make it: {}",
            text(&row["backend"]),
            text(&row["reason"])
        );
    }
    Ok(())
}

/// Rows of the image backends table, for `ttv image backends` and `ttv backends`.
pub fn rows(settings: &ttv::config::Settings) -> (Vec<[String; 6]>, Vec<serde_json::Value>) {
    let registry = ImageRegistry::new(&settings.images);
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    for entry in registry.entries() {
        let caps = entry.backend.as_ref().map(|b| b.capabilities());
        let (status, reason) = match &entry.availability {
            Availability::Available => ("available".to_owned(), None),
            Availability::Unavailable { reason } => {
                (format!("unavailable: {reason}"), Some(reason.clone()))
            }
        };
        let sizes = caps.map_or("-".to_owned(), |c| {
            if c.any_size {
                format!(
                    "any up to {}",
                    c.sizes.last().map_or(String::new(), ToString::to_string)
                )
            } else {
                format!("{} sizes", c.sizes.len())
            }
        });
        let refs = caps.map_or("-".to_owned(), |c| {
            match (c.max_references, c.image_to_image) {
                (0, _) => "none".to_owned(),
                (n, true) => format!("{n} (start image)"),
                (n, false) => format!("up to {n}"),
            }
        });
        let default = entry.known.name == registry.default_backend();
        json_rows.push(json!({
            "name": entry.known.name,
            "aliases": entry.known.aliases,
            "kind": entry.known.kind,
            "available": entry.availability.is_available(),
            "reason": reason,
            "default": default,
            "model": entry.backend.as_ref().and_then(|b| b.model()),
            "summary": entry.known.summary,
            "sizes": caps.map(|c| c.sizes.clone()),
            "max_references": caps.map(|c| c.max_references),
            "image_to_image": caps.map(|c| c.image_to_image),
        }));
        rows.push([
            format!("{}{}", entry.known.name, if default { " *" } else { "" }),
            entry.known.kind.to_string(),
            entry
                .backend
                .as_ref()
                .and_then(|b| b.model().map(str::to_owned))
                .unwrap_or_else(|| "-".to_owned()),
            sizes,
            refs,
            status,
        ]);
    }
    (rows, json_rows)
}

/// The header of [`rows`].
pub const HEADER: [&str; 6] = [
    "IMAGE BACKEND",
    "KIND",
    "MODEL",
    "SIZES",
    "REFERENCES",
    "STATUS",
];

fn backends(cli: &Cli, settings: &Settings) -> anyhow::Result<()> {
    let (rows, json_rows) = rows(settings);
    if cli.json {
        return print_json(&json_rows);
    }
    print_table(&HEADER, &rows);
    debug_assert_eq!(rows.len(), KNOWN_IMAGES.len());
    Ok(())
}
