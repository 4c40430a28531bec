//! Command lines, availability and validation of the HunyuanVideo backend with fake
//! checkouts (the files the backend looks at) and a fixed GPU report.

use std::path::{Path, PathBuf};

use super::*;
use crate::services::local::test_support::{gpus, png};
use crate::services::local::{GpuMemory, GpuProbe, LocalRun};

/// A checkout with `script` and the weights layout its README describes.
fn checkout(script: &str, transformer: &str, encoders: &[&str]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join(script), "# fake\n").unwrap();
    let t = root
        .path()
        .join("ckpts")
        .join(transformer)
        .join("transformers");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(t.join("mp_rank_00_model_states.pt"), b"").unwrap();
    std::fs::create_dir_all(root.path().join("ckpts").join(transformer).join("vae")).unwrap();
    for e in encoders {
        std::fs::create_dir_all(root.path().join("ckpts").join(e)).unwrap();
    }
    root
}

fn t2v_checkout() -> tempfile::TempDir {
    checkout(
        "sample_video.py",
        "hunyuan-video-t2v-720p",
        &["text_encoder", "text_encoder_2"],
    )
}

fn i2v_checkout() -> tempfile::TempDir {
    checkout(
        "sample_image2video.py",
        "hunyuan-video-i2v-720p",
        &["text_encoder_i2v", "text_encoder_2"],
    )
}

/// `sh` exists everywhere; the commands only need a program name here.
fn run() -> LocalRun {
    LocalRun {
        python: PathBuf::from("sh"),
        torchrun: PathBuf::from("sh"),
        ..LocalRun::default()
    }
}

fn options() -> HunyuanOptions {
    HunyuanOptions {
        run: run(),
        ..HunyuanOptions::default()
    }
}

fn t2v_options(repo: &Path) -> HunyuanOptions {
    HunyuanOptions {
        repo_dir: Some(repo.to_path_buf()),
        ..options()
    }
}

fn argv(cmd: &local::CommandSpec) -> Vec<String> {
    std::iter::once(cmd.program.display().to_string())
        .chain(cmd.args.iter().cloned())
        .collect()
}

#[test]
fn text_to_video_runs_sample_video_py_with_height_then_width() {
    let repo = t2v_checkout();
    let opts = HunyuanOptions {
        repo_dir: Some(repo.path().to_path_buf()),
        ..options()
    };
    let hy = Hunyuan::with_gpu_probe(opts, gpus(&[79]));
    assert_eq!(hy.availability(), Availability::Available);
    let req = GenerationRequest {
        seed: Some(7),
        ..GenerationRequest::text("a cat walks on the grass")
    };
    let cmds = hy.command_for(&req, Path::new("/j")).unwrap();
    let base = repo.path().join("ckpts");
    let dit = base.join("hunyuan-video-t2v-720p/transformers/mp_rank_00_model_states.pt");
    assert_eq!(
        argv(&cmds[0]),
        [
            "sh",
            "sample_video.py",
            "--video-size",
            "720",
            "1280",
            "--video-length",
            "129",
            "--infer-steps",
            "50",
            "--prompt",
            "a cat walks on the grass",
            "--embedded-cfg-scale",
            "6",
            "--flow-shift",
            "7",
            "--flow-reverse",
            "--seed",
            "7",
            "--model-base",
            base.to_str().unwrap(),
            "--dit-weight",
            dit.to_str().unwrap(),
            "--save-path",
            "/j/out",
        ]
    );
    assert!(
        cmds[0]
            .env
            .contains(&("MODEL_BASE".to_owned(), base.display().to_string()))
    );
    assert_eq!(cmds[0].cwd.as_deref(), Some(repo.path()));
}

#[test]
fn a_smaller_gpu_gets_cpu_offload() {
    let repo = t2v_checkout();
    let opts = HunyuanOptions {
        repo_dir: Some(repo.path().to_path_buf()),
        ..options()
    };
    let hy = Hunyuan::with_gpu_probe(opts, gpus(&[40]));
    let req = GenerationRequest {
        resolution: Some("540p".parse().unwrap()),
        ..GenerationRequest::text("x")
    };
    let cmd = &hy.command_for(&req, Path::new("/j")).unwrap()[0];
    assert_eq!(&cmd.args[1..4], ["--video-size", "544", "960"]);
    assert!(cmd.has("--use-cpu-offload"));
    let roomy = Hunyuan::with_gpu_probe(
        HunyuanOptions {
            repo_dir: Some(repo.path().to_path_buf()),
            ..options()
        },
        gpus(&[79]),
    );
    assert!(!roomy.command_for(&req, Path::new("/j")).unwrap()[0].has("--use-cpu-offload"));
}

#[test]
fn image_to_video_runs_the_i2v_script_with_its_own_weights_flag() {
    let repo = i2v_checkout();
    let opts = HunyuanOptions {
        i2v_repo_dir: Some(repo.path().to_path_buf()),
        ..options()
    };
    let hy = Hunyuan::with_gpu_probe(opts, gpus(&[79]));
    assert_eq!(hy.capabilities().modes, [Mode::ImageToVideo]);
    let img = image::RgbImage::from_pixel(1280, 720, image::Rgb([1, 2, 3]));
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    let req = GenerationRequest {
        image: Some(crate::media::image::ImageInput::from_bytes("image", "a.jpg", bytes).unwrap()),
        seed: Some(0),
        ..GenerationRequest::text("fireworks")
    };
    let cmd = &hy.command_for(&req, Path::new("/j")).unwrap()[0];
    let base = repo.path().join("ckpts");
    let dit = base.join("hunyuan-video-i2v-720p/transformers/mp_rank_00_model_states.pt");
    assert_eq!(
        argv(cmd),
        [
            "sh",
            "sample_image2video.py",
            "--model",
            "HYVideo-T/2",
            "--i2v-mode",
            "--i2v-image-path",
            "/j/image.jpg",
            "--i2v-resolution",
            "720p",
            "--i2v-stability",
            "--video-length",
            "129",
            "--infer-steps",
            "50",
            "--prompt",
            "fireworks",
            "--embedded-cfg-scale",
            "6",
            "--flow-shift",
            "7",
            "--flow-reverse",
            "--seed",
            "0",
            "--model-base",
            base.to_str().unwrap(),
            "--i2v-dit-weight",
            dit.to_str().unwrap(),
            "--save-path",
            "/j/out",
        ]
    );
    // There is no text-to-video checkout, and the error says which key to set.
    let err = hy.validate(&GenerationRequest::text("x")).unwrap_err();
    assert!(err.to_string().contains("set repo_dir"), "{err}");
}

#[test]
fn several_gpus_use_xdit_degrees_that_divide_the_heads() {
    let repo = t2v_checkout();
    let cmd = |n: u32| {
        let opts = HunyuanOptions {
            repo_dir: Some(repo.path().to_path_buf()),
            run: LocalRun {
                total_gpus: n,
                ..run()
            },
            ..options()
        };
        let hy = Hunyuan::with_gpu_probe(opts, gpus(&vec![79; n as usize]));
        hy.command_for(&GenerationRequest::text("x"), Path::new("/j"))
    };
    let eight = &cmd(8).unwrap()[0];
    assert_eq!(&eight.args[..2], ["--nproc_per_node=8", "sample_video.py"]);
    assert_eq!(eight.value_of("--ulysses-degree"), Some("8"));
    assert_eq!(eight.value_of("--ring-degree"), Some("1"));
    assert!(!eight.has("--use-cpu-offload"));
    // The README's 1x5 layout for five GPUs.
    let five = &cmd(5).unwrap()[0];
    assert_eq!(five.value_of("--ulysses-degree"), Some("1"));
    assert_eq!(five.value_of("--ring-degree"), Some("5"));
    // 1280x720 splits neither 80 nor 45 latent columns six ways.
    let err = cmd(6).unwrap_err();
    assert_eq!(err.problems()[0].field, "resolution");
    assert!(err.problems()[0].allowed.contains("960x544"), "{err}");
}

#[test]
fn validation_rejects_frame_counts_and_negative_prompts_it_cannot_honour() {
    let repo = t2v_checkout();
    let opts = HunyuanOptions {
        repo_dir: Some(repo.path().to_path_buf()),
        ..options()
    };
    let hy = Hunyuan::with_gpu_probe(opts.clone(), gpus(&[79]));
    let req = GenerationRequest {
        negative_prompt: Some("blur".into()),
        resolution: Some("1920x1080".parse().unwrap()),
        extra: serde_json::json!({"video_length": 130})
            .as_object()
            .unwrap()
            .clone(),
        ..GenerationRequest::text("x")
    };
    let err = hy.validate(&req).unwrap_err();
    let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["resolution", "negative_prompt", "extra.video_length"],
        "{err}"
    );
    // With classifier-free guidance on, the negative prompt is passed through.
    let cfg = Hunyuan::with_gpu_probe(
        HunyuanOptions {
            cfg_scale: Some(6.0),
            ..opts
        },
        gpus(&[79]),
    );
    let req = GenerationRequest {
        negative_prompt: Some("blur".into()),
        duration: Some(VideoDuration::from_secs(2)),
        ..GenerationRequest::text("x")
    };
    let cmd = &cfg.command_for(&req, Path::new("/j")).unwrap()[0];
    assert_eq!(cmd.value_of("--neg-prompt"), Some("blur"));
    assert_eq!(cmd.value_of("--cfg-scale"), Some("6"));
    // 2 s at 24 fps is 48 frames; the nearest 4n+1 is 49.
    assert_eq!(cmd.value_of("--video-length"), Some("49"));
}

#[test]
fn unavailability_names_exactly_what_is_missing() {
    let reason = |hy: &Hunyuan| match hy.availability() {
        Availability::Unavailable { reason } => reason,
        Availability::Available => panic!("expected unavailable"),
    };
    let hy = Hunyuan::with_gpu_probe(options(), gpus(&[79]));
    assert!(reason(&hy).contains("set hunyuan_video.repo_dir"));

    let empty = tempfile::tempdir().unwrap();
    let hy = Hunyuan::with_gpu_probe(
        HunyuanOptions {
            repo_dir: Some(empty.path().to_path_buf()),
            ..options()
        },
        gpus(&[79]),
    );
    assert!(
        reason(&hy).contains("has no sample_video.py"),
        "{}",
        reason(&hy)
    );

    let no_weights = tempfile::tempdir().unwrap();
    std::fs::write(no_weights.path().join("sample_video.py"), "").unwrap();
    let hy = Hunyuan::with_gpu_probe(
        HunyuanOptions {
            repo_dir: Some(no_weights.path().to_path_buf()),
            ..options()
        },
        gpus(&[79]),
    );
    let r = reason(&hy);
    assert!(r.contains("HunyuanVideo weights missing"), "{r}");
    assert!(r.contains("mp_rank_00_model_states.pt"), "{r}");
    assert!(r.contains("text_encoder_2"), "{r}");

    let repo = t2v_checkout();
    let hy = Hunyuan::with_gpu_probe(
        HunyuanOptions {
            repo_dir: Some(repo.path().to_path_buf()),
            ..options()
        },
        GpuProbe::fixed(Err("no NVIDIA GPU found".into())),
    );
    assert!(reason(&hy).contains("no NVIDIA GPU found"));

    let small = GpuProbe::fixed(Ok(vec![GpuMemory {
        free_mib: 15_000,
        total_mib: 16_384,
    }]));
    let hy = Hunyuan::with_gpu_probe(
        HunyuanOptions {
            repo_dir: Some(repo.path().to_path_buf()),
            ..options()
        },
        small,
    );
    assert!(
        reason(&hy).contains("not enough GPU memory"),
        "{}",
        reason(&hy)
    );
}

#[test]
fn a_missing_vae_folder_is_named() {
    let root = t2v_checkout();
    let vae = root.path().join("ckpts/hunyuan-video-t2v-720p/vae");
    std::fs::remove_dir(&vae).unwrap();
    let hy = Hunyuan::with_gpu_probe(t2v_options(root.path()), gpus(&[79]));
    let Availability::Unavailable { reason } = hy.availability() else {
        panic!("available without a VAE")
    };
    assert!(reason.contains(&vae.display().to_string()), "{reason}");
}

#[test]
fn image_to_video_without_stability_uses_the_readmes_dynamic_shift_of_17() {
    let root = i2v_checkout();
    let opts = |stability| HunyuanOptions {
        i2v_repo_dir: Some(root.path().to_path_buf()),
        i2v_stability: stability,
        use_cpu_offload: Some(false),
        run: run(),
        ..HunyuanOptions::default()
    };
    let req = GenerationRequest {
        image: Some(png(1280, 720)),
        ..GenerationRequest::text("a kite")
    };
    let shift = |stability| {
        let hy = Hunyuan::with_gpu_probe(opts(stability), gpus(&[79]));
        let cmd = hy.command_for(&req, Path::new("/j")).unwrap();
        cmd[0].value_of("--flow-shift").map(str::to_owned)
    };
    assert_eq!(shift(true).as_deref(), Some("7"));
    assert_eq!(shift(false).as_deref(), Some("17"));
}

#[test]
fn a_prompt_whose_opening_would_overflow_the_scripts_file_name_is_refused_before_the_gpu() {
    let root = t2v_checkout();
    let hy = Hunyuan::with_gpu_probe(t2v_options(root.path()), gpus(&[79]));
    // 72 CJK characters take 216 bytes: the name fits exactly.
    let fits = "灯".repeat(72);
    assert!(hy.validate(&GenerationRequest::text(&fits)).is_ok());
    // 73 do not; neither do 60 emoji (240 bytes). Only the first 100 characters count.
    for prompt in [
        "灯".repeat(73),
        "🏮".repeat(60),
        format!("{}{}", "灯".repeat(73), "a".repeat(500)),
    ] {
        let err = hy.validate(&GenerationRequest::text(&prompt)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert_eq!(err.problems()[0].field, "prompt", "{err}");
        assert!(
            err.to_string().contains("file name holds 255 bytes"),
            "{err}"
        );
    }
    // Long ASCII prompts are fine: 100 bytes at most.
    assert!(
        hy.validate(&GenerationRequest::text("a".repeat(1500)))
            .is_ok()
    );
}

#[test]
fn a_prompt_beginning_with_a_dash_is_joined_to_its_flag() {
    let root = t2v_checkout();
    let hy = Hunyuan::with_gpu_probe(t2v_options(root.path()), gpus(&[79]));
    let req = GenerationRequest {
        negative_prompt: Some("-blur".into()),
        ..GenerationRequest::text("-close-up of a lantern")
    };
    let opts = HunyuanOptions {
        cfg_scale: Some(6.0),
        ..t2v_options(root.path())
    };
    let hy_cfg = Hunyuan::with_gpu_probe(opts, gpus(&[79]));
    let cmd = hy_cfg.command_for(&req, Path::new("/j")).unwrap();
    assert!(
        cmd[0]
            .args
            .contains(&"--prompt=-close-up of a lantern".to_owned()),
        "{:?}",
        cmd[0].args
    );
    assert!(cmd[0].args.contains(&"--neg-prompt=-blur".to_owned()));
    drop(hy);
}
