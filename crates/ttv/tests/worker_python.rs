//! ttv's worker script (the real Python, as embedded) against stand-ins for torch, diffusers,
//! transformers and PIL (`fixtures/worker_stubs`) that record every pipeline call: the worker
//! must turn each request the backends build into exactly the diffusers calls the model's
//! script would amount to. Runs on any Python 3, as CI has; the same script with real
//! libraries is `worker_diffusers.rs`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use ttv::GenerationRequest;
use ttv::services::local::worker::{LoadRequest, Worker, WorkerOptions, WorkerPipeline};
use ttv::services::local::{GpuMemory, GpuProbe, LocalRun, MemoryPlan};
use ttv::services::ltx::{Ltx, LtxOptions};
use ttv::services::wan::{WanJob, WanTask};

struct Stubbed {
    dir: tempfile::TempDir,
}

impl Stubbed {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("calls.jsonl")
    }

    async fn worker(&self) -> Worker {
        let stubs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/worker_stubs");
        let options = WorkerOptions {
            env: vec![
                ("PYTHONPATH".into(), stubs.display().to_string()),
                ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
                ("TTV_STUB_LOG".into(), self.log().display().to_string()),
            ],
            startup_timeout: Duration::from_secs(30),
            ..WorkerOptions::new(self.dir.path().join("worker"))
        };
        Worker::start(options).await.unwrap()
    }

    /// The recorded calls, with this test's folder written as `{DIR}`.
    fn calls(&self) -> Vec<Value> {
        let dir = self.dir.path().display().to_string();
        std::fs::read_to_string(self.log())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(&l.replace(&dir, "{DIR}")).unwrap())
            .collect()
    }

    fn folder(&self, name: &str, subfolders: &[&str]) -> PathBuf {
        let dir = self.dir.path().join(name);
        for sub in subfolders {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("model_index.json"), "{}").unwrap();
        dir
    }

    fn png(&self, name: &str, w: u32, h: u32) -> PathBuf {
        let path = self.dir.path().join(name);
        image::RgbImage::from_pixel(w, h, image::Rgb([9, 9, 9]))
            .save(&path)
            .unwrap();
        path
    }
}

fn load(pipeline: WorkerPipeline, model: &Path, upsampler: Option<&Path>) -> LoadRequest {
    LoadRequest {
        pipeline,
        model: model.display().to_string(),
        device: None,
        dtype: None,
        offload: false,
        upsampler: upsampler.map(|u| u.display().to_string()),
    }
}

#[tokio::test]
async fn wan21_image_to_video_loads_clip_in_float32_and_keeps_the_images_shape() {
    let s = Stubbed::new();
    let model = s.folder("Wan2.1-I2V-14B-720P-Diffusers", &["image_encoder"]);
    let image = s.png("photo.png", 1600, 1200);
    let mut worker = s.worker().await;
    worker
        .load(&load(WorkerPipeline::WanImageToVideo, &model, None))
        .await
        .unwrap();
    let size = ttv::Resolution::new(1280, 720);
    let job = WanJob {
        task: WanTask::I2v14B,
        ckpt_dir: model.clone(),
        size,
        frames: 81,
        prompt: "a fox".into(),
        image: Some(image),
        first_last: None,
        steps: 40,
        shift: None,
        guide_scale: None,
        solver: None,
        seed: 11,
        save_file: s.dir.path().join("out.mp4"),
        memory: MemoryPlan {
            offload: false,
            text_encoder_cpu: false,
        },
        convert_model_dtype: false,
    };
    let frame = WanTask::I2v14B.frame_size_for_image(size, ttv::Resolution::new(1600, 1200));
    let request = ttv::services::wan::worker_request(&job, frame, 16, None);
    let progress = Mutex::new(Vec::new());
    let out = worker
        .generate(&request, &|p| progress.lock().unwrap().push(p))
        .await
        .unwrap();
    assert_eq!(out.frames, 81);
    let seen = progress.into_inner().unwrap();
    assert_eq!((seen.len(), seen.last()), (40, Some(&1.0)));
    let calls = s.calls();
    assert_eq!(
        calls[..3],
        [
            json!({"load": "AutoencoderKLWan", "subfolder": "vae", "dtype": "float32"}),
            json!({"load": "CLIPVisionModel", "subfolder": "image_encoder", "dtype": "float32"}),
            json!({"load": "WanImageToVideoPipeline", "model": "Wan2.1-I2V-14B-720P-Diffusers",
                   "dtype": "float32", "components": ["image_encoder", "vae"]}),
        ]
    );
    assert_eq!(
        calls[3],
        json!({
            "call": "WanImageToVideoPipeline",
            "scheduler": {"class": "UniPCMultistepScheduler", "flow_shift": 5.0, "shift": 7.0},
            "args": {
                "callback_on_step_end": "callback",
                "generator": {"seed": 11},
                "guidance_scale": 5.0,
                "height": 816,
                "image": {"image": [1104, 816]},
                "negative_prompt": ttv::services::wan::task::DEFAULT_NEGATIVE_PROMPT,
                "num_frames": 81,
                "num_inference_steps": 40,
                "output_type": "np",
                "prompt": "a fox",
                "width": 1104,
            },
        })
    );
    let video: Value =
        serde_json::from_str(&std::fs::read_to_string(&out.output).unwrap()).unwrap();
    assert_eq!(
        video,
        json!({"frames": 81, "sizes": [[1104, 816]], "fps": 16})
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn ltx_multi_scale_renders_small_upsamples_refines_and_lands_on_the_size_asked() {
    let s = Stubbed::new();
    let model = s.folder("LTX-Video-0.9.8-13B-distilled", &[]);
    let upsampler = s.folder("ltxv-spatial-upscaler-0.9.8", &[]);
    let work = s.dir.path().join("job");
    std::fs::create_dir_all(work.join("out")).unwrap();
    s.png("job/first_frame.png", 1216, 704);
    s.png("job/last_frame.png", 1920, 1080);
    let png = |w, h| {
        let mut bytes = Vec::new();
        image::RgbImage::new(w, h)
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        ttv::media::image::ImageInput::from_bytes("image", "x.png", bytes).unwrap()
    };
    let ltx = Ltx::with_gpu_probe(
        LtxOptions {
            diffusers_model: Some(model.clone()),
            diffusers_upsampler: Some(upsampler.clone()),
            run: LocalRun {
                python: PathBuf::from("python3"),
                ..LocalRun::default()
            },
            ..LtxOptions::default()
        },
        GpuProbe::fixed(Ok(vec![GpuMemory {
            free_mib: 80_000,
            total_mib: 81_559,
        }])),
    );
    let req = GenerationRequest {
        seed: Some(4),
        image: Some(png(1216, 704)),
        last_frame: Some(png(1920, 1080)),
        ..GenerationRequest::text("dawn to dusk")
    };
    let request = ltx.worker_request_for(&req, &work).unwrap();
    let mut worker = s.worker().await;
    worker
        .load(&load(WorkerPipeline::Ltx, &model, Some(&upsampler)))
        .await
        .unwrap();
    let progress = Mutex::new(Vec::new());
    let out = worker
        .generate(&request, &|p| progress.lock().unwrap().push(p))
        .await
        .unwrap();
    // 8 distilled steps, then 4 refining ones, as one progress.
    let seen = progress.into_inner().unwrap();
    assert_eq!((seen.len(), seen.last()), (12, Some(&1.0)));
    let calls: Vec<Value> = s
        .calls()
        .into_iter()
        .filter(|c| c.get("call").is_some())
        .collect();
    let first = &calls[0]["args"];
    assert_eq!(calls[0]["call"], "LTXConditionPipeline");
    // 2/3 of 1216x704, rounded down to the VAE's 32.
    assert_eq!(
        (&first["width"], &first["height"]),
        (&json!(800), &json!(448))
    );
    assert_eq!(first["output_type"], "latent");
    assert_eq!(first["frame_rate"], 30);
    assert_eq!(first["guidance_scale"], 1.0);
    assert_eq!(
        first["timesteps"],
        json!([1000.0, 993.0, 987.0, 981.0, 975.0, 909.0, 725.0, 0.03])
    );
    assert_eq!(
        (
            &first["decode_timestep"],
            &first["decode_noise_scale"],
            &first["image_cond_noise_scale"]
        ),
        (&json!(0.05), &json!(0.025), &json!(0.15))
    );
    assert_eq!(
        first["negative_prompt"],
        ttv::services::ltx::DEFAULT_NEGATIVE_PROMPT
    );
    // The images were fitted to the frame (the last one cropped from 16:9), then passed as
    // conditions at the first and last frame.
    assert_eq!(
        first["conditions"],
        json!([
            {"condition": {"image": [1216, 704]}, "frame_index": 0},
            {"condition": {"image": [1216, 704]}, "frame_index": 120},
        ])
    );
    assert_eq!(
        calls[1],
        json!({"call": "LTXLatentUpsamplePipeline", "args": {
            "adain_factor": 1.0, "latents": "latents", "output_type": "latent",
            "tone_map_compression_ratio": 0.6}})
    );
    let second = &calls[2]["args"];
    assert_eq!(
        (&second["width"], &second["height"]),
        (&json!(1600), &json!(896))
    );
    assert_eq!(second["latents"], "latents");
    assert_eq!(second["denoise_strength"], 0.999);
    assert_eq!(
        second["timesteps"],
        json!([1000.0, 909.0, 725.0, 421.0, 0.0])
    );
    assert!(second.get("num_inference_steps").is_none(), "{second}");
    let video: Value =
        serde_json::from_str(&std::fs::read_to_string(&out.output).unwrap()).unwrap();
    assert_eq!(
        video,
        json!({"frames": 121, "sizes": [[1216, 704]], "fps": 30})
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn hunyuan_requests_swap_the_scheduler_shift_and_turn_on_true_cfg() {
    let s = Stubbed::new();
    let model = s.folder("HunyuanVideo", &[]);
    let mut worker = s.worker().await;
    worker
        .load(&load(WorkerPipeline::Hunyuan, &model, None))
        .await
        .unwrap();
    let job = ttv::services::hunyuan::HunyuanJob {
        script: ttv::services::hunyuan::Script::TextToVideo {
            dit_weight: model.clone(),
        },
        repo: model.clone(),
        model_base: model.clone(),
        size: ttv::Resolution::new(960, 544),
        frames: 33,
        steps: 3,
        prompt: "a lighthouse".into(),
        negative_prompt: None,
        cfg_scale: Some(6.0),
        embedded_cfg_scale: 1.0,
        flow_shift: 9.0,
        flow_reverse: true,
        seed: 2,
        save_dir: s.dir.path().to_path_buf(),
        cpu_offload: false,
    };
    let request = ttv::services::hunyuan::worker_request(&job);
    worker.generate(&request, &|_| {}).await.unwrap();
    // Without a scheduler in the request, the weights' own comes back.
    let plain = ttv::services::local::worker::WorkerRequest::new(
        "x",
        ttv::Resolution::new(960, 544),
        33,
        1,
        0,
        24,
        s.dir.path().join("plain.mp4"),
    );
    worker.generate(&plain, &|_| {}).await.unwrap();
    let calls: Vec<Value> = s
        .calls()
        .into_iter()
        .filter(|c| c.get("call").is_some())
        .collect();
    assert_eq!(
        calls[0]["scheduler"],
        json!({"class": "FlowMatchEulerDiscreteScheduler", "flow_shift": 3.0, "shift": 9.0})
    );
    assert_eq!(calls[0]["args"]["true_cfg_scale"], 6.0);
    assert_eq!(calls[0]["args"]["guidance_scale"], 1.0);
    assert_eq!(
        calls[0]["args"]["negative_prompt"],
        ttv::services::hunyuan::DEFAULT_NEGATIVE_PROMPT
    );
    assert_eq!(calls[1]["scheduler"]["shift"], 7.0);
    assert!(calls[1]["args"].get("negative_prompt").is_none());
    worker.stop().await.unwrap();
}
