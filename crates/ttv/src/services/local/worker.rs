//! The persistent model worker: a small Python process (embedded in ttv as
//! [`WORKER_SCRIPT`]) that loads a diffusers Wan, HunyuanVideo or LTX-Video pipeline once and serves
//! many generations, so a multi-segment run does not reload 14B weights per segment.
//!
//! ttv writes the script into a folder it owns, starts it in its own process group,
//! health-checks it (`ping`), sends one request at a time as a JSON line on stdin and reads
//! replies and progress events from stdout; the worker's stderr (library logs, tqdm) goes
//! to `worker.log` in the same folder. [`Worker::stop`] asks it to exit and terminates the
//! group if it does not; dropping a [`Worker`] kills it.
//!
//! The worker takes diffusers-format weights (for example `Wan-AI/Wan2.1-T2V-14B-Diffusers`,
//! `hunyuanvideo-community/HunyuanVideo`), not the original repositories' checkpoint folders
//! that `generate.py` / `sample_video.py` read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::error::{Error, ErrorKind, Result};

/// The worker's source, written to disk when a worker starts.
pub const WORKER_SCRIPT: &str = include_str!("../../../assets/worker/ttv_worker.py");

/// How to start a worker.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The Python interpreter (with torch and diffusers for real work).
    pub python: PathBuf,
    /// A folder ttv owns: the script and `worker.log` go here.
    pub dir: PathBuf,
    /// Extra environment (`CUDA_VISIBLE_DEVICES`, `HF_HOME` ...).
    pub env: Vec<(String, String)>,
    /// How long the first health check may take.
    pub startup_timeout: Duration,
    /// How long loading a pipeline may take.
    pub load_timeout: Duration,
    /// How long one generation may take.
    pub generate_timeout: Duration,
}

impl WorkerOptions {
    /// Options with `python3` and generous deadlines, keeping files in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            python: PathBuf::from("python3"),
            dir: dir.into(),
            env: Vec::new(),
            startup_timeout: Duration::from_secs(30),
            load_timeout: Duration::from_secs(30 * 60),
            generate_timeout: super::DEFAULT_TIMEOUT,
        }
    }
}

/// What `ping` reports.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkerHealth {
    /// The worker's process id.
    pub pid: u32,
    /// Its Python version.
    pub python: String,
    /// Whether torch can be imported.
    pub torch: bool,
    /// Whether diffusers can be imported.
    pub diffusers: bool,
    /// The pipeline loaded, if any.
    pub loaded: Option<String>,
}

/// Which diffusers pipeline to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum WorkerPipeline {
    /// `WanPipeline` (text-to-video).
    #[serde(rename = "wan")]
    Wan,
    /// `WanImageToVideoPipeline`; Wan2.1's CLIP image encoder is loaded in float32, as
    /// diffusers' Wan documentation does.
    #[serde(rename = "wan-i2v")]
    WanImageToVideo,
    /// `HunyuanVideoPipeline`.
    #[serde(rename = "hunyuan")]
    Hunyuan,
    /// `LTXConditionPipeline` (LTX-Video 0.9.5 or later): text-to-video, and image or first +
    /// last frame through frame conditions; with an upsampler, the multi-scale recipe.
    #[serde(rename = "ltx")]
    Ltx,
}

/// A `load` request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadRequest {
    /// The pipeline class.
    pub pipeline: WorkerPipeline,
    /// A diffusers-format weights folder, or `tiny-random` for a randomly initialised
    /// pipeline of a few small layers (tests).
    pub model: String,
    /// `cuda` or `cpu`; the worker picks when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// A torch dtype name (`bfloat16`, `float32`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    /// `enable_model_cpu_offload()` instead of moving the pipeline to the GPU.
    pub offload: bool,
    /// A latent upsampler folder (`LTXLatentUpsamplePipeline`), loaded beside the pipeline
    /// and sharing its VAE (LTX multi-scale).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upsampler: Option<String>,
}

/// How an input image becomes `width × height`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageFit {
    /// Resized to the size, whose shape ttv already chose to follow the image (Wan I2V).
    #[default]
    Resize,
    /// Scaled to cover the size and centre-cropped (Wan2.2 TI2V, LTX-Video).
    Cover,
}

/// A scheduler to use instead of the one the weights came with: built with
/// `Class.from_config(<the loaded scheduler's config>, **overrides)` for each request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchedulerSpec {
    /// A diffusers scheduler class the worker allows: `UniPCMultistepScheduler`,
    /// `DPMSolverMultistepScheduler`, `FlowMatchEulerDiscreteScheduler`.
    pub class: String,
    /// Config values replaced (`flow_shift`, `shift`).
    pub overrides: BTreeMap<String, Value>,
}

/// The refining pass of LTX-Video's multi-scale recipe: the first pass runs at
/// `downscale` of the size, the upsampler doubles the latents, and this pass denoises them
/// at full size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefinePass {
    /// The first pass's share of each side (LTX: 2/3), rounded down to the VAE's 32.
    pub downscale: f64,
    /// Arguments of the second pipeline call (`timesteps` or `num_inference_steps`,
    /// `denoise_strength`, `guidance_scale` ...), by diffusers' names.
    pub args: BTreeMap<String, Value>,
    /// Arguments of the upsampler call (`adain_factor`, `tone_map_compression_ratio`).
    pub upsample_args: BTreeMap<String, Value>,
    /// Sampling steps of the second pass, for progress.
    pub steps: u32,
}

/// A `generate` request: every value decided by ttv, so that the worker runs exactly what
/// the model's own script would for the same request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerRequest {
    /// The prompt.
    pub prompt: String,
    /// The negative prompt (the model's default when the request has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    /// The first-frame image file (image-to-video, first + last frame).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<PathBuf>,
    /// The last-frame image file (first + last frame).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_image: Option<PathBuf>,
    /// How images are fitted to the frame.
    pub image_fit: ImageFit,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frames (4n+1 for Wan and HunyuanVideo, 8n+1 for LTX-Video).
    pub num_frames: u32,
    /// Denoising steps (of the first pass).
    pub steps: u32,
    /// Guidance scale; the pipeline's default when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guidance_scale: Option<f64>,
    /// Seed.
    pub seed: u64,
    /// Frame rate written into the MP4 (and LTX-Video's `frame_rate`).
    pub fps: u32,
    /// Where to write the MP4.
    pub output: PathBuf,
    /// The scheduler for this request, when it differs from the weights' own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<SchedulerSpec>,
    /// Further arguments of the pipeline call, by diffusers' names (`guidance_scale_2`,
    /// `true_cfg_scale`, `decode_timestep`, `timesteps` ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub pipeline_args: BTreeMap<String, Value>,
    /// LTX-Video's multi-scale second pass (needs a loaded upsampler).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refine: Option<RefinePass>,
}

impl WorkerRequest {
    /// A request for `width × height`, `num_frames` frames and `steps` steps, written to
    /// `output`, with nothing else set.
    pub fn new(
        prompt: impl Into<String>,
        size: crate::request::Resolution,
        num_frames: u32,
        steps: u32,
        seed: u64,
        fps: u32,
        output: PathBuf,
    ) -> Self {
        Self {
            prompt: prompt.into(),
            negative_prompt: None,
            image: None,
            last_image: None,
            image_fit: ImageFit::Resize,
            width: size.width,
            height: size.height,
            num_frames,
            steps,
            guidance_scale: None,
            seed,
            fps,
            output,
            scheduler: None,
            pipeline_args: BTreeMap::new(),
            refine: None,
        }
    }
}

/// What a generation produced.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WorkerOutput {
    /// The MP4 written.
    pub output: PathBuf,
    /// Frames in it.
    pub frames: u32,
    /// Seconds the pipeline ran.
    pub seconds: f64,
}

/// A running worker process.
#[derive(Debug)]
pub struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    next_id: u64,
    log: PathBuf,
    options: WorkerOptions,
}

impl Worker {
    /// Writes the script, starts the worker and waits for its first health check.
    pub async fn start(options: WorkerOptions) -> Result<Self> {
        tokio::fs::create_dir_all(&options.dir).await.map_err(|e| {
            Error::io(
                format_args!("cannot create worker folder {}", options.dir.display()),
                e,
            )
        })?;
        let script = options.dir.join("ttv_worker.py");
        tokio::fs::write(&script, WORKER_SCRIPT)
            .await
            .map_err(|e| Error::io(format_args!("cannot write {}", script.display()), e))?;
        let log = options.dir.join("worker.log");
        let log_file = std::fs::File::create(&log)
            .map_err(|e| Error::io(format_args!("cannot create {}", log.display()), e))?;

        let mut cmd = tokio::process::Command::new(&options.python);
        cmd.arg("-u")
            .arg(&script)
            .current_dir(&options.dir)
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!(
                    "cannot start the model worker with {}: {e}",
                    options.python.display()
                ),
            )
        })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Error::new(
                ErrorKind::Io,
                "the model worker has no stdin/stdout pipes",
            ));
        };
        let mut worker = Self {
            child,
            stdin,
            stdout: BufReader::new(stdout).lines(),
            next_id: 1,
            log,
            options,
        };
        let timeout = worker.options.startup_timeout;
        worker.health_within(timeout).await?;
        Ok(worker)
    }

    /// The worker's log file (its stderr).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The worker's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Checks the worker answers, and reports what it has.
    pub async fn health(&mut self) -> Result<WorkerHealth> {
        self.health_within(Duration::from_secs(10)).await
    }

    async fn health_within(&mut self, timeout: Duration) -> Result<WorkerHealth> {
        let value = self.call(json!({"op": "ping"}), timeout, &|_| {}).await?;
        serde_json::from_value(value).map_err(|e| self.protocol_error(e))
    }

    /// Loads a pipeline (once; loading the same one again is a no-op).
    pub async fn load(&mut self, load: &LoadRequest) -> Result<Value> {
        let mut req = serde_json::to_value(load).map_err(|e| self.protocol_error(e))?;
        req["op"] = json!("load");
        let timeout = self.options.load_timeout;
        self.call(req, timeout, &|_| {}).await
    }

    /// Generates one clip, reporting progress (0 to 1) as the pipeline steps.
    pub async fn generate(
        &mut self,
        request: &WorkerRequest,
        progress: &(dyn Fn(f32) + Send + Sync),
    ) -> Result<WorkerOutput> {
        let mut req = serde_json::to_value(request).map_err(|e| self.protocol_error(e))?;
        req["op"] = json!("generate");
        let timeout = self.options.generate_timeout;
        let value = self.call(req, timeout, progress).await?;
        serde_json::from_value(value).map_err(|e| self.protocol_error(e))
    }

    /// Asks the worker to exit, and stops its process group if it does not within a few
    /// seconds.
    pub async fn stop(mut self) -> Result<()> {
        let asked = self
            .call(json!({"op": "shutdown"}), Duration::from_secs(5), &|_| {})
            .await;
        let exited = tokio::time::timeout(super::job::KILL_GRACE, self.child.wait()).await;
        if asked.is_err() || exited.is_err() {
            self.kill().await;
        }
        Ok(())
    }

    /// Kills the worker's process group at once, interrupting whatever it does.
    pub async fn kill_now(mut self) {
        self.kill().await;
    }

    async fn kill(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.child.id() {
            // SAFETY: killpg only sends a signal to the group we created for the worker.
            unsafe {
                libc::killpg(pid as i32, libc::SIGKILL);
            }
        }
        let _ = self.child.kill().await;
    }

    /// Sends one request and reads lines until its reply, forwarding progress events. On a
    /// deadline or a broken pipe the worker is killed: its state is unknown.
    async fn call(
        &mut self,
        mut req: Value,
        timeout: Duration,
        progress: &(dyn Fn(f32) + Send + Sync),
    ) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        req["id"] = json!(id);
        let exchange = async {
            let mut line = req.to_string();
            line.push('\n');
            self.stdin.write_all(line.as_bytes()).await?;
            self.stdin.flush().await?;
            loop {
                let Some(line) = self.stdout.next_line().await? else {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the worker exited",
                    ));
                };
                let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if msg.get("id") != Some(&json!(id)) {
                    continue;
                }
                if msg.get("event").and_then(Value::as_str) == Some("progress") {
                    let step = msg.get("step").and_then(Value::as_f64).unwrap_or(0.0);
                    let total = msg.get("total").and_then(Value::as_f64).unwrap_or(0.0);
                    if total > 0.0 {
                        progress((step / total).clamp(0.0, 1.0) as f32);
                    }
                    continue;
                }
                return Ok(msg);
            }
        };
        let msg = match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(msg)) => msg,
            Ok(Err(e)) => {
                self.kill().await;
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "the model worker stopped answering ({e}); see {}",
                        self.log.display()
                    ),
                ));
            }
            Err(_) => {
                self.kill().await;
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "the model worker did not answer within {}s and was stopped; see {}",
                        timeout.as_secs(),
                        self.log.display()
                    ),
                ));
            }
        };
        if msg.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(msg.get("result").cloned().unwrap_or(Value::Null));
        }
        let error = msg.get("error").cloned().unwrap_or(Value::Null);
        let kind = match error.get("kind").and_then(Value::as_str) {
            Some("unavailable") => ErrorKind::Unavailable,
            Some("invalid_request") => ErrorKind::InvalidRequest,
            _ => ErrorKind::JobFailed,
        };
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the model worker failed without saying why");
        Err(Error::new(kind, format!("model worker: {message}")))
    }

    fn protocol_error(&self, e: serde_json::Error) -> Error {
        Error::new(
            ErrorKind::Io,
            format!(
                "the model worker sent an unexpected reply ({e}); see {}",
                self.log.display()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &Path) -> WorkerOptions {
        WorkerOptions {
            startup_timeout: Duration::from_secs(20),
            ..WorkerOptions::new(dir)
        }
    }

    #[tokio::test]
    async fn the_worker_starts_answers_health_checks_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let mut worker = Worker::start(options(dir.path())).await.unwrap();
        let health = worker.health().await.unwrap();
        assert_eq!(Some(health.pid), worker.pid());
        assert_eq!(health.loaded, None);
        assert!(health.python.starts_with('3'), "{health:?}");
        let pid = health.pid as i32;
        worker.stop().await.unwrap();
        // SAFETY: signal 0 only checks whether the process exists; it was our child and
        // has been reaped by `stop`.
        assert_ne!(
            unsafe { libc::kill(pid, 0) },
            0,
            "the worker is still running"
        );
    }

    #[tokio::test]
    async fn worker_errors_keep_their_kind_and_the_worker_keeps_serving() {
        let dir = tempfile::tempdir().unwrap();
        let mut worker = Worker::start(options(dir.path())).await.unwrap();
        let health = worker.health().await.unwrap();
        let load = LoadRequest {
            pipeline: WorkerPipeline::Wan,
            model: dir.path().join("no-weights").display().to_string(),
            device: Some("cpu".into()),
            dtype: None,
            offload: false,
            upsampler: None,
        };
        let err = worker.load(&load).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        if !health.torch {
            assert!(err.message().contains("torch is not installed"), "{err}");
        } else if !health.diffusers {
            assert!(
                err.message().contains("diffusers is not installed"),
                "{err}"
            );
        } else {
            assert!(err.message().contains("no diffusers weights"), "{err}");
        }
        let req = WorkerRequest::new(
            "x",
            crate::request::Resolution::new(16, 16),
            9,
            2,
            0,
            16,
            dir.path().join("x.mp4"),
        );
        let err = worker.generate(&req, &|_| {}).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(err.message().contains("load a pipeline first"), "{err}");
        assert!(worker.health().await.is_ok());
        worker.stop().await.unwrap();
    }

    #[tokio::test]
    async fn a_missing_python_is_reported_as_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let opts = WorkerOptions {
            python: PathBuf::from("/nonexistent/python3"),
            ..options(dir.path())
        };
        let err = Worker::start(opts).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
    }

    #[tokio::test]
    async fn a_worker_that_never_answers_is_killed_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        // An interpreter that reads nothing and stays silent.
        let fake = dir.path().join("silent");
        let pid_file = dir.path().join("silent.pid");
        let script = format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 30\n",
            pid_file.display()
        );
        std::fs::write(&fake, script).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let opts = WorkerOptions {
            python: fake,
            startup_timeout: Duration::from_secs(1),
            ..WorkerOptions::new(dir.path())
        };
        let err = Worker::start(opts).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        // Killed, as the name says: the silent process is gone.
        let pid = crate::services::local::job::pid_in(&pid_file);
        assert!(
            crate::services::local::job::ends(pid).await,
            "the silent worker {pid} survived its deadline"
        );
    }
}
