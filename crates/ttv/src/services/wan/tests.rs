//! Command lines, availability and validation of the Wan backend, with no GPU and no model:
//! a fake checkout (the files the backend looks at) in a temporary folder.

use std::path::{Path, PathBuf};

use super::*;
use crate::services::local::test_support::{gpus, png};
use crate::services::local::{GpuMemory, GpuProbe, LocalRun};

/// A checkout of `version` with checkpoint folders `dirs` (each holding the weights marker).
fn checkout(version: WanVersion, dirs: &[&str]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("generate.py"), "# fake\n").unwrap();
    std::fs::create_dir_all(root.path().join("wan/configs")).unwrap();
    let tasks = match version {
        WanVersion::V2_1 => "WAN_CONFIGS = {'t2v-14B': 1, 't2v-1.3B': 2, 'i2v-14B': 3}\n",
        WanVersion::V2_2 => "WAN_CONFIGS = {'t2v-A14B': 1, 'i2v-A14B': 2, 'ti2v-5B': 3}\n",
    };
    std::fs::write(root.path().join("wan/configs/__init__.py"), tasks).unwrap();
    for d in dirs {
        let dir = root.path().join(d);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(WEIGHTS_MARKER), b"").unwrap();
    }
    root
}

/// `sh` exists everywhere; the commands only need a program name here.
fn run() -> LocalRun {
    LocalRun {
        python: PathBuf::from("sh"),
        torchrun: PathBuf::from("sh"),
        ..LocalRun::default()
    }
}

fn options(root: &Path) -> WanOptions {
    WanOptions {
        run: run(),
        ..WanOptions::new(root)
    }
}

fn argv(cmd: &local::CommandSpec) -> Vec<&str> {
    std::iter::once(cmd.program.to_str().unwrap())
        .chain(cmd.args.iter().map(String::as_str))
        .collect()
}

#[test]
fn text_to_video_on_one_large_gpu_runs_generate_py_without_offload() {
    let root = checkout(WanVersion::V2_1, &["Wan2.1-T2V-14B"]);
    let wan = Wan::with_gpu_probe(options(root.path()), gpus(&[79]));
    assert_eq!(wan.availability(), Availability::Available);
    let req = GenerationRequest {
        seed: Some(42),
        ..GenerationRequest::text("a red fox in snow")
    };
    let job = Path::new("/jobs/j1");
    let preview = wan.command_for(&req, job).unwrap();
    let cmd = &preview.commands[0];
    let ckpt = root.path().join("Wan2.1-T2V-14B");
    assert_eq!(
        argv(cmd),
        [
            "sh",
            "generate.py",
            "--task",
            "t2v-14B",
            "--size",
            "1280*720",
            "--ckpt_dir",
            ckpt.to_str().unwrap(),
            "--frame_num",
            "81",
            "--sample_steps",
            "50",
            "--base_seed",
            "42",
            "--save_file",
            "/jobs/j1/output.mp4",
            "--prompt",
            "a red fox in snow",
            "--offload_model",
            "False",
        ]
    );
    assert_eq!(cmd.cwd.as_deref(), Some(root.path()));
    assert_eq!(cmd.env, [("PYTHONUNBUFFERED".to_owned(), "1".to_owned())]);
}

#[test]
fn less_free_memory_turns_on_offload_and_then_t5_on_the_cpu() {
    let root = checkout(WanVersion::V2_1, &["Wan2.1-T2V-1.3B"]);
    let req = GenerationRequest::text("waves");
    let cmd = |free: u64| {
        let wan = Wan::with_gpu_probe(options(root.path()), gpus(&[free]));
        wan.command_for(&req, Path::new("/j"))
            .map(|p| p.commands[0].clone())
    };
    let roomy = cmd(40).unwrap();
    assert_eq!(roomy.value_of("--offload_model"), Some("False"));
    assert!(!roomy.has("--t5_cpu"));
    let middling = cmd(16).unwrap();
    assert_eq!(middling.value_of("--offload_model"), Some("True"));
    assert!(!middling.has("--t5_cpu"));
    let tight = cmd(9).unwrap();
    assert_eq!(tight.value_of("--offload_model"), Some("True"));
    assert!(tight.has("--t5_cpu"));
    // Wan2.1 has no --convert_model_dtype.
    assert!(!tight.has("--convert_model_dtype"));
    let err = cmd(4).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.message().contains("needs about 8 GiB"), "{err}");
    // The 1.3B model renders 480p only, so that is its default size.
    assert_eq!(roomy.value_of("--size"), Some("832*480"));
}

#[test]
fn configured_offload_wins_over_the_memory_probe() {
    let root = checkout(WanVersion::V2_1, &["Wan2.1-T2V-14B"]);
    let opts = WanOptions {
        offload_model: Some(true),
        t5_cpu: Some(true),
        ..options(root.path())
    };
    let wan = Wan::with_gpu_probe(opts, GpuProbe::fixed(Err("no GPU".into())));
    let cmd = wan
        .command_for(&GenerationRequest::text("x"), Path::new("/j"))
        .unwrap();
    assert_eq!(cmd.commands[0].value_of("--offload_model"), Some("True"));
    assert!(cmd.commands[0].has("--t5_cpu"));
}

#[test]
fn image_to_video_passes_the_image_and_the_area_size() {
    let root = checkout(WanVersion::V2_1, &["Wan2.1-I2V-14B-480P"]);
    let wan = Wan::with_gpu_probe(options(root.path()), gpus(&[79]));
    let req = GenerationRequest {
        image: Some(png(480, 832)),
        resolution: Some("480p".parse().unwrap()),
        duration: Some(VideoDuration::from_secs(3)),
        ..GenerationRequest::text("she turns")
    };
    let resolved = wan.validate(&req).unwrap();
    // 3 s at 16 fps is 48 frames; the nearest 4n+1 is 49.
    assert_eq!(resolved.frames, 49);
    assert_eq!(resolved.resolution, Resolution::new(480, 832));
    let cmd = &wan.command_for(&req, Path::new("/j")).unwrap().commands[0];
    assert_eq!(cmd.value_of("--task"), Some("i2v-14B"));
    assert_eq!(cmd.value_of("--size"), Some("480*832"));
    assert_eq!(cmd.value_of("--image"), Some("/j/image.png"));
    assert_eq!(cmd.value_of("--frame_num"), Some("49"));
    assert_eq!(cmd.value_of("--sample_steps"), Some("40"));
    // The script picks shift 3.0 for i2v at 480p itself.
    assert!(!cmd.has("--sample_shift"));
}

#[test]
fn first_last_frame_uses_the_flf2v_checkpoint_and_both_frames() {
    let root = checkout(WanVersion::V2_1, &[]);
    let flf = root.path().join("weights/flf");
    std::fs::create_dir_all(&flf).unwrap();
    std::fs::write(flf.join(WEIGHTS_MARKER), b"").unwrap();
    let opts = WanOptions {
        flf2v_model_dir: Some(flf.clone()),
        sample_shift: Some(16.0),
        guide_scale: Some(5.0),
        ..options(root.path())
    };
    let wan = Wan::with_gpu_probe(opts, gpus(&[79]));
    assert_eq!(wan.capabilities().modes, [Mode::FirstLastFrame]);
    let req = GenerationRequest {
        image: Some(png(1280, 720)),
        last_frame: Some(png(1280, 720)),
        ..GenerationRequest::text("a bird takes off")
    };
    let cmd = &wan.command_for(&req, Path::new("/j")).unwrap().commands[0];
    assert_eq!(cmd.value_of("--task"), Some("flf2v-14B"));
    assert_eq!(cmd.value_of("--ckpt_dir"), flf.to_str());
    assert_eq!(cmd.value_of("--first_frame"), Some("/j/first_frame.png"));
    assert_eq!(cmd.value_of("--last_frame"), Some("/j/last_frame.png"));
    assert_eq!(cmd.value_of("--sample_shift"), Some("16"));
    assert_eq!(cmd.value_of("--sample_guide_scale"), Some("5"));
    assert!(!cmd.has("--image"));
    // Text-to-video has no weights here, and the error says which key to set.
    let err = wan.validate(&GenerationRequest::text("x")).unwrap_err();
    assert!(err.to_string().contains("set t2v_model_dir"), "{err}");
}

#[test]
fn eight_gpus_run_torchrun_with_fsdp_and_ulysses() {
    let root = checkout(WanVersion::V2_1, &["Wan2.1-T2V-14B"]);
    let opts = WanOptions {
        run: LocalRun {
            total_gpus: 8,
            ..run()
        },
        ..options(root.path())
    };
    let wan = Wan::with_gpu_probe(opts, gpus(&[79; 8]));
    assert_eq!(wan.availability(), Availability::Available);
    let req = GenerationRequest {
        seed: Some(1),
        ..GenerationRequest::text("city at night")
    };
    let cmd = &wan.command_for(&req, Path::new("/j")).unwrap().commands[0];
    let ckpt = root.path().join("Wan2.1-T2V-14B");
    assert_eq!(
        argv(cmd),
        [
            "sh",
            "--nproc_per_node=8",
            "generate.py",
            "--task",
            "t2v-14B",
            "--size",
            "1280*720",
            "--ckpt_dir",
            ckpt.to_str().unwrap(),
            "--frame_num",
            "81",
            "--sample_steps",
            "50",
            "--base_seed",
            "1",
            "--save_file",
            "/j/output.mp4",
            "--prompt",
            "city at night",
            "--dit_fsdp",
            "--t5_fsdp",
            "--ulysses_size",
            "8",
            "--offload_model",
            "False",
        ]
    );
}

#[test]
fn wan21_covers_a_gpu_count_the_heads_do_not_divide_with_ring_attention() {
    let root = checkout(WanVersion::V2_1, &["Wan2.1-T2V-14B"]);
    let opts = WanOptions {
        run: LocalRun {
            total_gpus: 6,
            ..run()
        },
        ..options(root.path())
    };
    let wan = Wan::with_gpu_probe(opts, gpus(&[79; 6]));
    let cmd = &wan
        .command_for(&GenerationRequest::text("x"), Path::new("/j"))
        .unwrap()
        .commands[0];
    // 40 heads: Ulysses 2, ring 3.
    assert_eq!(cmd.value_of("--ulysses_size"), Some("2"));
    assert_eq!(cmd.value_of("--ring_size"), Some("3"));
}

#[test]
fn parallel_segments_split_the_gpus_and_separate_rendezvous_ports() {
    let root = checkout(WanVersion::V2_2, &["Wan2.2-T2V-A14B"]);
    let opts = WanOptions {
        run: LocalRun {
            total_gpus: 8,
            parallel_segments: 2,
            ..run()
        },
        ..options(root.path())
    };
    let wan = Wan::with_gpu_probe(opts, gpus(&[79; 8]));
    assert_eq!(wan.availability(), Availability::Available);
    let preview = wan
        .command_for(&GenerationRequest::text("x"), Path::new("/j"))
        .unwrap();
    let [a, b] = &preview.commands[..] else {
        panic!("two slots expected")
    };
    assert_eq!(
        &a.args[..3],
        ["--nproc_per_node=4", "--master_port=29500", "generate.py"]
    );
    assert_eq!(b.args[1], "--master_port=29501");
    assert!(
        a.env
            .contains(&("CUDA_VISIBLE_DEVICES".to_owned(), "0,1,2,3".to_owned()))
    );
    assert!(
        b.env
            .contains(&("CUDA_VISIBLE_DEVICES".to_owned(), "4,5,6,7".to_owned()))
    );
    assert_eq!(a.value_of("--task"), Some("t2v-A14B"));
    assert_eq!(a.value_of("--ulysses_size"), Some("4"));
    // Wan2.2 has no ring attention flag.
    assert!(!a.has("--ring_size"));
}

#[test]
fn wan22_refuses_a_gpu_count_its_heads_cannot_split() {
    let root = checkout(WanVersion::V2_2, &["Wan2.2-T2V-A14B"]);
    let opts = WanOptions {
        run: LocalRun {
            total_gpus: 3,
            ..run()
        },
        ..options(root.path())
    };
    let wan = Wan::with_gpu_probe(opts, gpus(&[79; 3]));
    let Availability::Unavailable { reason } = wan.availability() else {
        panic!("3 GPUs cannot split 40 heads")
    };
    assert!(reason.contains("t2v-A14B cannot run on 3 GPUs"), "{reason}");
}

#[test]
fn wan22_ti2v_serves_text_and_image_at_24_fps_with_dtype_conversion() {
    let root = checkout(WanVersion::V2_2, &["Wan2.2-TI2V-5B"]);
    let wan = Wan::with_gpu_probe(options(root.path()), gpus(&[24]));
    assert_eq!(
        wan.capabilities().modes,
        [Mode::TextToVideo, Mode::ImageToVideo]
    );
    let text = GenerationRequest::text("a kite");
    let r = wan.validate(&text).unwrap();
    assert_eq!((r.fps, r.frames), (24, 121));
    assert_eq!(r.resolution, Resolution::new(1280, 704));
    let cmd = &wan.command_for(&text, Path::new("/j")).unwrap().commands[0];
    assert_eq!(cmd.value_of("--task"), Some("ti2v-5B"));
    assert_eq!(cmd.value_of("--size"), Some("1280*704"));
    assert_eq!(cmd.value_of("--offload_model"), Some("True"));
    assert!(cmd.has("--t5_cpu"));
    assert!(cmd.has("--convert_model_dtype"));
    let image = GenerationRequest {
        image: Some(png(704, 1280)),
        ..GenerationRequest::text("a kite")
    };
    let cmd = &wan.command_for(&image, Path::new("/j")).unwrap().commands[0];
    assert_eq!(cmd.value_of("--task"), Some("ti2v-5B"));
    assert_eq!(cmd.value_of("--size"), Some("704*1280"));
    assert_eq!(cmd.value_of("--image"), Some("/j/image.png"));
}

#[test]
fn validation_rejects_sizes_frame_counts_and_options_the_model_cannot_do() {
    let root = checkout(WanVersion::V2_1, &["Wan2.1-T2V-1.3B"]);
    let wan = Wan::with_gpu_probe(options(root.path()), gpus(&[79]));
    let req = GenerationRequest {
        resolution: Some("1280x720".parse().unwrap()),
        fps: Some(24),
        negative_prompt: Some("blur".into()),
        extra: serde_json::json!({"frame_num": 80, "sample_solver": "euler", "cfg": 1})
            .as_object()
            .unwrap()
            .clone(),
        ..GenerationRequest::text("x")
    };
    let err = wan.validate(&req).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "resolution",
            "negative_prompt",
            "fps",
            "extra.frame_num",
            "extra.sample_solver",
            "extra.cfg"
        ],
        "{err}"
    );
    assert_eq!(
        err.problems()[0].allowed,
        "for t2v-1.3B: 480p, or exactly 832x480, 480x832"
    );
    assert!(err.problems()[3].allowed.contains("4n+1"));
    // Too long: more than 161 frames.
    let long = GenerationRequest {
        duration: Some(VideoDuration::from_secs(20)),
        ..GenerationRequest::text("x")
    };
    assert_eq!(
        wan.validate(&long).unwrap_err().problems()[0].field,
        "duration"
    );
}

#[test]
fn unavailability_names_exactly_what_is_missing() {
    let reason = |wan: &Wan| match wan.availability() {
        Availability::Unavailable { reason } => reason,
        Availability::Available => panic!("expected unavailable"),
    };
    let Availability::Unavailable { reason: none } = not_configured() else {
        panic!()
    };
    assert!(none.contains("set wan2_dir"), "{none}");

    let empty = tempfile::tempdir().unwrap();
    let wan = Wan::with_gpu_probe(options(empty.path()), gpus(&[79]));
    assert!(reason(&wan).contains("no generate.py"), "{}", reason(&wan));

    let bare = checkout(WanVersion::V2_1, &[]);
    let wan = Wan::with_gpu_probe(options(bare.path()), gpus(&[79]));
    assert!(
        reason(&wan).contains("no Wan weights found"),
        "{}",
        reason(&wan)
    );

    let root = checkout(WanVersion::V2_1, &["Wan2.1-T2V-14B"]);
    let no_python = WanOptions {
        run: LocalRun {
            python: PathBuf::from("/nonexistent/python3"),
            ..run()
        },
        ..options(root.path())
    };
    let wan = Wan::with_gpu_probe(no_python, gpus(&[79]));
    assert!(
        reason(&wan).contains("python not found"),
        "{}",
        reason(&wan)
    );

    let wan = Wan::with_gpu_probe(
        options(root.path()),
        GpuProbe::fixed(Err("no NVIDIA GPU found: cannot run nvidia-smi".into())),
    );
    assert!(reason(&wan).contains("no NVIDIA GPU"), "{}", reason(&wan));

    let small = GpuProbe::fixed(Ok(vec![GpuMemory {
        free_mib: 11_000,
        total_mib: 12_288,
    }]));
    let wan = Wan::with_gpu_probe(options(root.path()), small);
    assert!(
        reason(&wan).contains("not enough GPU memory: t2v-14B needs about 40 GiB"),
        "{}",
        reason(&wan)
    );

    let four = WanOptions {
        run: LocalRun {
            total_gpus: 4,
            ..run()
        },
        ..options(root.path())
    };
    let wan = Wan::with_gpu_probe(four, gpus(&[79, 79]));
    assert!(reason(&wan).contains("total_gpus is 4 but nvidia-smi lists 2"));

    let wrong = WanOptions {
        i2v_model_dir: Some(root.path().join("missing")),
        ..options(root.path())
    };
    let wan = Wan::with_gpu_probe(wrong, gpus(&[79]));
    assert!(
        reason(&wan).contains("no Wan weights in i2v_model_dir"),
        "{}",
        reason(&wan)
    );

    let mixed = checkout(WanVersion::V2_1, &["Wan2.2-I2V-A14B"]);
    let wrong_version = WanOptions {
        i2v_model_dir: Some(mixed.path().join("Wan2.2-I2V-A14B")),
        ..options(mixed.path())
    };
    let wan = Wan::with_gpu_probe(wrong_version, gpus(&[79]));
    assert!(
        reason(&wan).contains("holds i2v-A14B (Wan2.2) but wan2_dir is a Wan2.1 checkout"),
        "{}",
        reason(&wan)
    );
}

#[test]
fn local_generation_is_free_and_says_what_it_will_run() {
    let root = checkout(WanVersion::V2_1, &["Wan2.1-T2V-14B"]);
    let wan = Wan::with_gpu_probe(options(root.path()), gpus(&[79]));
    let est = wan.estimate_cost(&GenerationRequest::text("x")).unwrap();
    assert!(est.usd.is_zero());
    assert_eq!(
        est.basis,
        "local GPU: t2v-14B × 50 steps, 81 frames at 1280x720 on 1 GPU(s)"
    );
}

fn job_for(task: WanTask, size: Resolution) -> WanJob {
    WanJob {
        task,
        ckpt_dir: PathBuf::from("/m"),
        size,
        frames: 81,
        prompt: "p".into(),
        image: None,
        first_last: None,
        steps: task.sampling_defaults(size).steps,
        shift: None,
        guide_scale: None,
        solver: None,
        seed: 1,
        save_file: PathBuf::from("/j/output.mp4"),
        memory: MemoryPlan {
            offload: false,
            text_encoder_cpu: false,
        },
        convert_model_dtype: false,
    }
}

#[test]
fn worker_defaults_equal_generate_py_for_every_task() {
    // (task, --size, steps, shift, guide scale (high-noise expert), low-noise expert), read
    // from generate.py's _validate_args and the task configs.
    let table = [
        (WanTask::T2v14B, (1280, 720), 50, 5.0, 5.0, None),
        (WanTask::T2v1_3B, (832, 480), 50, 5.0, 5.0, None),
        (WanTask::I2v14B, (1280, 720), 40, 5.0, 5.0, None),
        (WanTask::I2v14B, (832, 480), 40, 3.0, 5.0, None),
        (WanTask::Flf2v14B, (1280, 720), 50, 16.0, 5.0, None),
        (WanTask::T2vA14B, (1280, 720), 40, 12.0, 4.0, Some(3.0)),
        (WanTask::I2vA14B, (832, 480), 40, 5.0, 3.5, Some(3.5)),
        (WanTask::Ti2v5B, (1280, 704), 50, 5.0, 5.0, None),
    ];
    for (task, (w, h), steps, shift, guide, low) in table {
        let size = Resolution::new(w, h);
        let r = worker_request(&job_for(task, size), size, task.fps(), None);
        assert_eq!(r.steps, steps, "{task}");
        assert_eq!(r.guidance_scale, Some(guide), "{task}");
        assert_eq!(
            r.pipeline_args.get("guidance_scale_2"),
            low.map(|l| serde_json::json!(l)).as_ref(),
            "{task}"
        );
        let scheduler = r.scheduler.unwrap();
        assert_eq!(scheduler.class, "UniPCMultistepScheduler", "{task}");
        assert_eq!(
            scheduler.overrides["flow_shift"],
            serde_json::json!(shift),
            "{task}"
        );
        assert_eq!(
            r.negative_prompt.as_deref(),
            Some(task::DEFAULT_NEGATIVE_PROMPT),
            "{task}"
        );
    }
}

#[test]
fn configured_settings_reach_the_worker_as_the_script_would_take_them() {
    let size = Resolution::new(1280, 720);
    let job = WanJob {
        shift: Some(7.5),
        guide_scale: Some(6.0),
        solver: Some("dpm++".into()),
        ..job_for(WanTask::T2vA14B, size)
    };
    let r = worker_request(&job, size, 16, Some("blurry"));
    // One --sample_guide_scale serves both experts.
    assert_eq!(r.guidance_scale, Some(6.0));
    assert_eq!(r.pipeline_args["guidance_scale_2"], serde_json::json!(6.0));
    let scheduler = r.scheduler.unwrap();
    assert_eq!(scheduler.class, "DPMSolverMultistepScheduler");
    assert_eq!(scheduler.overrides["flow_shift"], serde_json::json!(7.5));
    assert_eq!(r.negative_prompt.as_deref(), Some("blurry"));
    // ti2v-5B crops an image to cover its frame; the others resize.
    let five = worker_request(&job_for(WanTask::Ti2v5B, size), size, 24, None);
    assert_eq!(five.image_fit, ImageFit::Cover);
}
