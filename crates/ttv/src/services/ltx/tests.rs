//! Command lines, worker requests, availability and validation of the LTX-Video backend with
//! fake checkouts (the files the backend looks at) and a fixed GPU report.

use std::path::{Path, PathBuf};

use super::*;
use crate::services::local::LocalRun;
use crate::services::local::test_support::{gpus, png};

/// Upstream's `configs/ltxv-13b-0.9.8-distilled.yaml`, the keys ttv reads.
const DISTILLED_13B: &str =
    include_str!("../../../tests/fixtures/local/ltxv-13b-0.9.8-distilled.yaml");

/// Upstream's `configs/ltxv-2b-0.9.1.yaml`, abridged.
const OLD_2B: &str = r#"
pipeline_type: base
checkpoint_path: "ltx-video-2b-v0.9.1.safetensors"
num_inference_steps: 40
"#;

/// A checkout with one config and the weights it names in the checkout itself.
fn checkout(name: &str, config: &str, weights: &[&str]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("inference.py"), "# fake\n").unwrap();
    std::fs::create_dir_all(root.path().join("configs")).unwrap();
    std::fs::write(root.path().join("configs").join(name), config).unwrap();
    for w in weights {
        std::fs::write(root.path().join(w), b"").unwrap();
    }
    root
}

fn distilled_checkout() -> tempfile::TempDir {
    checkout(
        DEFAULT_PIPELINE_CONFIG,
        DISTILLED_13B,
        &[
            "ltxv-13b-0.9.8-distilled.safetensors",
            "ltxv-spatial-upscaler-0.9.8.safetensors",
        ],
    )
}

fn options(repo: &Path) -> LtxOptions {
    LtxOptions {
        repo_dir: Some(repo.to_path_buf()),
        run: LocalRun {
            python: PathBuf::from("sh"),
            ..LocalRun::default()
        },
        ..LtxOptions::default()
    }
}

fn argv(cmd: &local::CommandSpec) -> Vec<String> {
    std::iter::once(cmd.program.display().to_string())
        .chain(cmd.args.iter().cloned())
        .collect()
}

#[test]
fn text_to_video_runs_inference_py_with_the_jobs_copy_of_the_pipeline_config() {
    let repo = distilled_checkout();
    let ltx = Ltx::with_gpu_probe(options(repo.path()), gpus(&[79]));
    assert_eq!(ltx.availability(), Availability::Available);
    assert_eq!(ltx.model(), Some("ltxv-13b-0.9.8-distilled.safetensors"));
    let req = GenerationRequest {
        seed: Some(5),
        ..GenerationRequest::text("a paper lantern drifts upward")
    };
    let cmd = ltx.command_for(&req, Path::new("/j")).unwrap();
    assert_eq!(
        argv(&cmd),
        [
            "sh",
            "inference.py",
            "--prompt",
            "a paper lantern drifts upward",
            "--height",
            "704",
            "--width",
            "1216",
            "--num_frames",
            "121",
            "--frame_rate",
            "30",
            "--seed",
            "5",
            "--pipeline_config",
            "/j/pipeline_config.yaml",
            "--output_path",
            "/j/out",
        ]
    );
    assert_eq!(cmd.cwd.as_deref(), Some(repo.path()));
    let resolved = ltx.validate(&req).unwrap();
    assert_eq!((resolved.frames, resolved.fps), (121, 30));
}

#[test]
fn images_become_conditioning_items_at_the_first_and_last_frame() {
    let repo = distilled_checkout();
    let opts = LtxOptions {
        image_cond_noise_scale: Some(0.05),
        offload_to_cpu: Some(true),
        ..options(repo.path())
    };
    let ltx = Ltx::with_gpu_probe(opts, gpus(&[79]));
    let req = GenerationRequest {
        image: Some(png(1600, 1200)),
        last_frame: Some(png(1600, 1200)),
        duration: Some(VideoDuration::from_secs(3)),
        negative_prompt: Some("-watermark".into()),
        ..GenerationRequest::text("-a dash first")
    };
    let cmd = ltx.command_for(&req, Path::new("/j")).unwrap();
    let args = cmd.args.join(" ");
    // 3 s at 30 fps is 90 frames: 89 is the nearest 8n+1; the last frame is 88.
    assert!(
        args.contains(
            "--conditioning_media_paths /j/first_frame.png /j/last_frame.png \
             --conditioning_start_frames 0 88"
        ),
        "{args}"
    );
    assert_eq!(cmd.value_of("--num_frames"), Some("89"));
    // The 4:3 image picks the 4:3 size.
    assert_eq!(cmd.value_of("--width"), Some("1024"));
    assert_eq!(cmd.value_of("--height"), Some("768"));
    assert!(cmd.args.contains(&"--prompt=-a dash first".to_owned()));
    assert!(
        cmd.args
            .contains(&"--negative_prompt=-watermark".to_owned())
    );
    assert_eq!(cmd.value_of("--image_cond_noise_scale"), Some("0.05"));
    assert!(cmd.has("--offload_to_cpu"));
}

#[test]
fn sizes_are_multiples_of_32_and_frame_counts_8n_plus_1() {
    let repo = distilled_checkout();
    let ltx = Ltx::with_gpu_probe(options(repo.path()), gpus(&[79]));
    let ask = |res: &str, extra: Option<serde_json::Value>| {
        let mut req = GenerationRequest {
            resolution: Some(res.parse().unwrap()),
            ..GenerationRequest::text("x")
        };
        if let Some(v) = extra {
            req.extra.insert("num_frames".into(), v);
        }
        ltx.validate(&req)
    };
    assert_eq!(
        ask("480p", None).unwrap().resolution,
        Resolution::new(832, 480)
    );
    assert_eq!(
        ask("896x512", None).unwrap().resolution,
        Resolution::new(896, 512)
    );
    let err = ask("1000x700", Some(serde_json::json!(120))).unwrap_err();
    let fields: Vec<_> = err.problems().iter().map(|p| p.field.clone()).collect();
    assert_eq!(fields, ["resolution", "extra.num_frames"], "{err}");
    assert!(err.to_string().contains("multiples of 32"), "{err}");
    assert_eq!(
        ask("720p", Some(serde_json::json!(257))).unwrap().frames,
        257
    );
    assert_eq!(nearest_8n_plus_1(120), 121);
    assert_eq!(nearest_8n_plus_1(90), 89);
    assert!(is_8n_plus_1(9) && !is_8n_plus_1(10));
}

#[test]
fn missing_weights_and_checkpoints_without_keyframes_are_explained() {
    let empty = checkout(DEFAULT_PIPELINE_CONFIG, DISTILLED_13B, &[]);
    let ltx = Ltx::with_gpu_probe(options(empty.path()), gpus(&[79]));
    let Availability::Unavailable { reason } = ltx.availability() else {
        panic!("available without weights")
    };
    assert!(
        reason.contains("ltxv-13b-0.9.8-distilled.safetensors")
            && reason.contains("ltxv-spatial-upscaler-0.9.8.safetensors"),
        "{reason}"
    );

    let old = checkout("old.yaml", OLD_2B, &["ltx-video-2b-v0.9.1.safetensors"]);
    let opts = LtxOptions {
        // A config's name without its extension will do.
        pipeline_config: PathBuf::from("old"),
        ..options(old.path())
    };
    let ltx = Ltx::with_gpu_probe(opts, gpus(&[79]));
    assert_eq!(ltx.availability(), Availability::Available);
    assert_eq!(
        ltx.capabilities().modes,
        [Mode::TextToVideo, Mode::ImageToVideo]
    );

    let wrong = LtxOptions {
        guidance_scale: Some(3.0),
        ..options(old.path())
    };
    let Availability::Unavailable { reason } =
        Ltx::with_gpu_probe(wrong, gpus(&[79])).availability()
    else {
        panic!("a worker-only setting was ignored")
    };
    assert!(
        reason.contains("guidance_scale applies to diffusers_model"),
        "{reason}"
    );
}

#[test]
fn the_worker_gets_the_variants_sampling_and_the_scripts_defaults() {
    let root = tempfile::tempdir().unwrap();
    let model = root.path().join("LTX-Video-0.9.8-13B-distilled");
    let upsampler = root.path().join("ltxv-spatial-upscaler-0.9.8");
    for dir in [&model, &upsampler] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("model_index.json"), "{}").unwrap();
    }
    let opts = |upsampler: Option<PathBuf>, variant| LtxOptions {
        diffusers_model: Some(model.clone()),
        diffusers_upsampler: upsampler,
        variant,
        run: LocalRun {
            python: PathBuf::from("sh"),
            ..LocalRun::default()
        },
        ..LtxOptions::default()
    };
    let req = GenerationRequest {
        seed: Some(9),
        image: Some(png(640, 640)),
        ..GenerationRequest::text("a kite")
    };
    let distilled = Ltx::with_gpu_probe(opts(Some(upsampler.clone()), None), gpus(&[79]));
    assert_eq!(distilled.availability(), Availability::Available);
    let r = distilled.worker_request_for(&req, Path::new("/j")).unwrap();
    let value = serde_json::to_value(&r).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "prompt": "a kite",
            "negative_prompt": DEFAULT_NEGATIVE_PROMPT,
            "image": "/j/image.png",
            "image_fit": "cover",
            "width": 768,
            "height": 768,
            "num_frames": 121,
            "steps": 8,
            "guidance_scale": 1.0,
            "seed": 9,
            "fps": 30,
            "output": "/j/out/output.mp4",
            "pipeline_args": {
                "decode_timestep": 0.05,
                "decode_noise_scale": 0.025,
                "image_cond_noise_scale": 0.15,
                "timesteps": [1000.0, 993.0, 987.0, 981.0, 975.0, 909.0, 725.0, 0.03],
            },
            "refine": {
                "downscale": 0.6666666,
                "args": {"timesteps": [1000.0, 909.0, 725.0, 421.0, 0.0], "denoise_strength": 0.999},
                "upsample_args": {"adain_factor": 1.0, "tone_map_compression_ratio": 0.6},
                "steps": 4,
            },
        })
    );
    let dev = Ltx::with_gpu_probe(opts(None, Some(Variant::Dev)), gpus(&[79]));
    let r = dev.worker_request_for(&req, Path::new("/j")).unwrap();
    assert_eq!((r.steps, r.guidance_scale), (40, Some(3.0)));
    assert!(r.refine.is_none() && !r.pipeline_args.contains_key("timesteps"));
}
