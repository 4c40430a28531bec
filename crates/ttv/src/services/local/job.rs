//! Running one generation as a child process: GPU slot, job folder, logs, progress,
//! cancellation of the whole process group, and a deadline.
//!
//! The child is started in a process group of its own, so `torchrun` and every rank it forks
//! are stopped together: SIGTERM to the group, then SIGKILL after [`KILL_GRACE`]. It writes
//! its stdout and stderr straight to `stdout.log` / `stderr.log` in the job folder (kept after
//! the job, for the user), and its group id to `pid`; tqdm bars read back from the logs become
//! progress. So a job outlives a crash of ttv: a later process polls its ticket from the job
//! folder (running while the process lives, done when the video is there) and can cancel it.
//! This module knows nothing about any particular model; the backends hand it a
//! [`CommandSpec`] and say where the video will appear.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::backend::{Output, Status, Ticket};
use crate::error::{Error, ErrorKind, Result};

use super::command::CommandSpec;
use super::progress::{LineSplitter, Passes, parse_bar};

/// How long a stopped job may take to exit after SIGTERM before it gets SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// Lines of output kept to explain a failure.
const TAIL_LINES: usize = 20;

/// Where a finished job leaves its video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedOutput {
    /// Exactly this file (Wan's `--save_file`).
    File(PathBuf),
    /// The newest `.mp4` in this folder (HunyuanVideo's `--save-path` is a folder and the
    /// script names the file itself).
    Mp4In(PathBuf),
}

impl ExpectedOutput {
    /// The video, if the job left one.
    pub fn find(&self) -> Option<PathBuf> {
        match self {
            Self::File(p) => p
                .metadata()
                .is_ok_and(|m| m.is_file() && m.len() > 0)
                .then(|| p.clone()),
            Self::Mp4In(dir) => std::fs::read_dir(dir)
                .ok()?
                .filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "mp4"))
                .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                .max()
                .map(|(_, p)| p),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::File(p) => p.display().to_string(),
            Self::Mp4In(d) => format!("an .mp4 in {}", d.display()),
        }
    }
}

/// A share of the machine's GPUs that one job runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Which share (0-based); used to keep concurrent `torchrun` rendezvous ports apart.
    pub index: usize,
    /// The GPU indices to expose through `CUDA_VISIBLE_DEVICES`; `None` leaves the
    /// environment as it is (one job at a time on every GPU).
    pub devices: Option<Vec<u32>>,
}

impl Slot {
    /// The only slot when jobs do not share the machine.
    pub fn whole_machine() -> Self {
        Self {
            index: 0,
            devices: None,
        }
    }

    /// `CUDA_VISIBLE_DEVICES` for this slot, when it restricts the GPUs.
    pub fn visible_devices(&self) -> Option<String> {
        self.devices.as_ref().map(|d| {
            d.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        })
    }
}

/// The GPUs split into `parallel` equal slots; a job waits (queued) for a free one.
#[derive(Debug)]
pub struct GpuSlots {
    slots: Vec<Slot>,
    free: Mutex<Vec<bool>>,
    permits: Arc<Semaphore>,
}

impl GpuSlots {
    /// `total_gpus` split into `parallel` slots of `total_gpus / parallel` GPUs each. With
    /// one slot, the environment is left alone.
    pub fn new(total_gpus: u32, parallel: u32) -> Self {
        let parallel = parallel.max(1);
        let per = (total_gpus / parallel).max(1);
        let slots: Vec<Slot> = if parallel == 1 {
            vec![Slot::whole_machine()]
        } else {
            (0..parallel)
                .map(|i| Slot {
                    index: i as usize,
                    devices: Some((i * per..(i + 1) * per).collect()),
                })
                .collect()
        };
        Self {
            free: Mutex::new(vec![true; slots.len()]),
            permits: Arc::new(Semaphore::new(slots.len())),
            slots,
        }
    }

    /// Every slot, in order.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    async fn acquire(self: &Arc<Self>) -> Option<SlotGuard> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        let mut free = self.free.lock().ok()?;
        let index = free.iter().position(|f| *f)?;
        free[index] = false;
        Some(SlotGuard {
            slots: self.clone(),
            index,
            _permit: permit,
        })
    }
}

struct SlotGuard {
    slots: Arc<GpuSlots>,
    index: usize,
    _permit: OwnedSemaphorePermit,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Ok(mut free) = self.slots.free.lock() {
            free[self.index] = true;
        }
    }
}

/// Progress, 0 to 1, reported by a task.
pub type ProgressFn = Arc<dyn Fn(f32) + Send + Sync>;

/// The work of a [`LocalJob::start_task`] job: the video's path when done.
pub type TaskFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<PathBuf>> + Send>>;

/// What to run for one job.
pub struct JobSpec {
    /// The job's id (also its ticket id).
    pub id: String,
    /// The backend's name, for errors.
    pub backend: &'static str,
    /// The job folder; logs go here.
    pub dir: PathBuf,
    /// Where the video will appear.
    pub output: ExpectedOutput,
    /// The deadline for the whole process, from the moment it starts.
    pub timeout: Duration,
    /// The step counts of the sampling passes, in order, so that only sampling bars count as
    /// progress (empty: every bar counts).
    pub steps: Vec<u64>,
    /// Builds the command once the job has its GPU slot.
    pub command: Box<dyn FnOnce(&Slot) -> CommandSpec + Send>,
}

impl std::fmt::Debug for JobSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobSpec")
            .field("id", &self.id)
            .field("dir", &self.dir)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
enum State {
    Waiting,
    Running(Option<f32>),
    Succeeded(PathBuf),
    Failed(ErrorKind, String),
    Cancelled,
}

/// A running (or finished) local job.
#[derive(Debug)]
pub struct LocalJob {
    id: String,
    backend: &'static str,
    dir: PathBuf,
    state: Mutex<State>,
    stop: watch::Sender<bool>,
}

impl LocalJob {
    /// Starts `spec` on the current tokio runtime; the job waits for a slot of `slots`.
    pub fn start(spec: JobSpec, slots: Arc<GpuSlots>) -> Arc<Self> {
        let (stop, stopped) = watch::channel(false);
        let job = Arc::new(Self {
            id: spec.id.clone(),
            backend: spec.backend,
            dir: spec.dir.clone(),
            state: Mutex::new(State::Waiting),
            stop,
        });
        let runner = job.clone();
        tokio::spawn(async move {
            let end = runner.run(spec, slots, stopped).await;
            runner.set(end);
        });
        job
    }

    /// Runs `task` as a job on the current tokio runtime: for work that is not a child
    /// process of its own (a request to the persistent worker). The task gets a progress
    /// callback and the stop signal; an error after a stop is reported as cancelled.
    pub fn start_task(
        id: String,
        backend: &'static str,
        dir: PathBuf,
        task: impl FnOnce(ProgressFn, watch::Receiver<bool>) -> TaskFuture,
    ) -> Arc<Self> {
        let (stop, stopped) = watch::channel(false);
        let job = Arc::new(Self {
            id,
            backend,
            dir,
            state: Mutex::new(State::Running(None)),
            stop,
        });
        let progress_job = job.clone();
        let progress: ProgressFn = Arc::new(move |p| progress_job.set_progress(p));
        let fut = task(progress, stopped.clone());
        let runner = job.clone();
        tokio::spawn(async move {
            let end = match fut.await {
                Ok(path) => State::Succeeded(path),
                Err(_) if *stopped.borrow() => State::Cancelled,
                Err(e) => failed(e),
            };
            runner.set(end);
        });
        job
    }

    /// The job folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The job's state in the terms of [`crate::backend::Status`].
    pub fn status(&self) -> Status {
        let state = match self.state.lock() {
            Ok(s) => s.clone(),
            Err(_) => State::Failed(ErrorKind::Io, "the job table is unusable".into()),
        };
        match state {
            State::Waiting => Status::Queued { position: None },
            State::Running(progress) => Status::Running { progress },
            State::Succeeded(path) => Status::Succeeded {
                output: Output::File { path },
                cost: None,
            },
            State::Failed(kind, message) => {
                Status::Failed(Error::new(kind, message).with_backend(self.backend))
            }
            State::Cancelled => Status::Cancelled,
        }
    }

    /// Whether the job has ended, one way or another.
    pub fn is_finished(&self) -> bool {
        !matches!(
            self.state.lock().as_deref(),
            Ok(State::Waiting | State::Running(_))
        )
    }

    /// Asks the job to stop; the process group is terminated. Returns at once.
    pub fn cancel(&self) {
        let _ = self.stop.send(true);
    }

    fn set(&self, state: State) {
        if let Ok(mut s) = self.state.lock() {
            *s = state;
        }
    }

    fn set_progress(&self, fraction: f32) {
        if let Ok(mut s) = self.state.lock()
            && matches!(*s, State::Running(_))
        {
            *s = State::Running(Some(fraction));
        }
    }

    async fn run(
        self: &Arc<Self>,
        spec: JobSpec,
        slots: Arc<GpuSlots>,
        mut stopped: watch::Receiver<bool>,
    ) -> State {
        let slot = tokio::select! {
            slot = slots.acquire() => slot,
            _ = stopped.wait_for(|s| *s) => return State::Cancelled,
        };
        let Some(slot) = slot else {
            return State::Failed(ErrorKind::Io, "the GPU slot table is unusable".into());
        };
        let command = (spec.command)(&slots.slots()[slot.index]);
        let line = format!("{command}\n");
        if let Err(e) = tokio::fs::write(self.dir.join("command.txt"), line).await {
            return failed(Error::io("cannot write the job's command.txt", e));
        }

        // The child writes its logs itself, so they (and the job) outlive a crash of ttv;
        // progress is read back from the files.
        let logs = match Logs::create(&self.dir) {
            Ok(l) => l,
            Err(e) => return failed(e),
        };
        let mut cmd = command.to_tokio();
        cmd.stdin(Stdio::null())
            .stdout(logs.stdout)
            .stderr(logs.stderr)
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return State::Failed(
                    ErrorKind::Unavailable,
                    format!("cannot start {}: {e}", command.program.display()),
                );
            }
        };
        let pgid = child.id().map(|id| id as i32);
        if let Some(pgid) = pgid {
            // Lets a later ttv process find and stop a job it did not start.
            let _ = tokio::fs::write(self.dir.join(PID_FILE), format!("{pgid}\n")).await;
        }
        self.set(State::Running(None));

        let mut watch = LogWatch::new(&self.dir, spec.steps);
        let deadline = tokio::time::sleep(spec.timeout);
        tokio::pin!(deadline);
        let ended = loop {
            tokio::select! {
                status = child.wait() => break Ok(status),
                _ = &mut deadline => break Err(true),
                _ = stopped.wait_for(|s| *s) => break Err(false),
                _ = tokio::time::sleep(WATCH_INTERVAL) => {
                    if let Some(p) = watch.read_new() {
                        self.set_progress(p);
                    }
                }
            }
        };
        // Once this process has seen the end, the recorded id must not outlive it: a
        // recycled process id would make the job look alive to a later ttv.
        let forget_pid = || {
            let _ = std::fs::remove_file(self.dir.join(PID_FILE));
        };
        let status = match ended {
            Ok(status) => status,
            Err(timed_out) => {
                stop_group(pgid, &mut child).await;
                forget_pid();
                return if timed_out {
                    State::Failed(
                        ErrorKind::Timeout,
                        format!(
                            "the job ran past its {}s timeout and was stopped; logs are in {}",
                            spec.timeout.as_secs(),
                            self.dir.display()
                        ),
                    )
                } else {
                    State::Cancelled
                };
            }
        };
        forget_pid();
        if let Some(p) = watch.read_new() {
            self.set_progress(p);
        }
        let tail = watch.tail();
        match status {
            Ok(s) if s.success() => match spec.output.find() {
                Some(path) => State::Succeeded(path),
                None => State::Failed(
                    ErrorKind::JobFailed,
                    format!(
                        "the process finished but wrote no video at {}; logs are in {}{}",
                        spec.output.describe(),
                        self.dir.display(),
                        render_tail(&tail)
                    ),
                ),
            },
            Ok(s) => State::Failed(
                ErrorKind::JobFailed,
                format!(
                    "the process failed ({s}); logs are in {}{}",
                    self.dir.display(),
                    render_tail(&tail)
                ),
            ),
            Err(e) => failed(Error::io("cannot wait for the process", e)),
        }
    }
}

fn failed(e: Error) -> State {
    State::Failed(e.kind(), e.message().to_owned())
}

fn render_tail(tail: &[String]) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; last output:\n    {}", tail.join("\n    "))
    }
}

/// Terminates the whole process group: SIGTERM, then SIGKILL after the grace period.
async fn stop_group(pgid: Option<i32>, child: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pgid) = pgid.filter(|p| *p > 0) {
        signal_group(pgid, libc::SIGTERM);
        if tokio::time::timeout(KILL_GRACE, child.wait()).await.is_ok() {
            // The leader is gone; make sure no rank outlives it.
            signal_group(pgid, libc::SIGKILL);
            return;
        }
        signal_group(pgid, libc::SIGKILL);
    }
    #[cfg(not(unix))]
    let _ = pgid;
    let _ = child.kill().await;
}

#[cfg(unix)]
fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: killpg only sends a signal; pgid is the id of a group we created with
    // process_group(0) for our own child, and a stale id yields ESRCH, which is ignored.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

/// The file holding a running job's process-group id.
const PID_FILE: &str = "pid";

/// How often a running job's logs are read for progress.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// The log files a job's child writes.
struct Logs {
    stdout: std::fs::File,
    stderr: std::fs::File,
}

impl Logs {
    fn create(dir: &Path) -> Result<Self> {
        let open = |name: &str| {
            let path = dir.join(name);
            std::fs::File::create(&path)
                .map_err(|e| Error::io(format_args!("cannot create {}", path.display()), e))
        };
        Ok(Self {
            stdout: open("stdout.log")?,
            stderr: open("stderr.log")?,
        })
    }
}

/// Reads what a job's child appended to its logs since the last look: tqdm bars become
/// progress, other lines are kept (the last few) to explain a failure.
struct LogWatch {
    files: Vec<(PathBuf, u64, LineSplitter)>,
    passes: Passes,
    tail: VecDeque<String>,
}

impl LogWatch {
    fn new(dir: &Path, steps: Vec<u64>) -> Self {
        Self {
            files: ["stdout.log", "stderr.log"]
                .into_iter()
                .map(|n| (dir.join(n), 0, LineSplitter::default()))
                .collect(),
            passes: Passes::new(steps),
            tail: VecDeque::new(),
        }
    }

    /// Reads new output; returns the latest progress seen in it, if any.
    fn read_new(&mut self) -> Option<f32> {
        use std::io::{Read, Seek, SeekFrom};
        let mut progress = None;
        for (path, offset, splitter) in &mut self.files {
            let Ok(mut file) = std::fs::File::open(&*path) else {
                continue;
            };
            let mut bytes = Vec::new();
            if file.seek(SeekFrom::Start(*offset)).is_err() || file.read_to_end(&mut bytes).is_err()
            {
                continue;
            }
            *offset += bytes.len() as u64;
            for line in splitter.push(&bytes) {
                match parse_bar(&line) {
                    Some(bar) => {
                        if let Some(p) = self.passes.update(bar) {
                            progress = Some(p);
                        }
                    }
                    None => {
                        if self.tail.len() == TAIL_LINES {
                            self.tail.pop_front();
                        }
                        self.tail.push_back(line);
                    }
                }
            }
            // The bar tqdm is showing now has no terminator until its next redraw; it counts
            // once written out to its closing `]` (a half-written `1/3` of `1/30` must not).
            let shown = splitter.partial();
            if shown.ends_with(']')
                && let Some(bar) = parse_bar(&shown)
                && let Some(p) = self.passes.update(bar)
            {
                progress = Some(p);
            }
        }
        progress
    }

    /// The last lines that were not progress bars, oldest first (stdout's, then stderr's
    /// unterminated remainders included).
    fn tail(&mut self) -> Vec<String> {
        for (_, _, splitter) in &mut self.files {
            if let Some(rest) = splitter.finish()
                && parse_bar(&rest).is_none()
            {
                if self.tail.len() == TAIL_LINES {
                    self.tail.pop_front();
                }
                self.tail.push_back(rest);
            }
        }
        self.tail.iter().cloned().collect()
    }
}

/// The process id a test's script wrote to `file`.
#[cfg(test)]
pub(crate) fn pid_in(file: &std::path::Path) -> i32 {
    std::fs::read_to_string(file)
        .expect("the script wrote its pid")
        .trim()
        .parse()
        .expect("a pid")
}

/// Whether process `pid` ends within a while (a few seconds; a killed process can take a
/// moment to go), for tests that check a kill from the process side.
#[cfg(test)]
pub(crate) async fn ends(pid: i32) -> bool {
    for _ in 0..250 {
        if !process_alive(pid) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

/// Whether process `pid` is running (a zombie awaiting its parent counts as gone).
pub fn process_alive(pid: i32) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: signal 0 sends nothing; it only checks that the process exists.
        let exists = pid > 0 && unsafe { libc::kill(pid, 0) } == 0;
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        });
        exists && !zombie
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}

/// The jobs of one backend in this process, by id.
#[derive(Debug, Default)]
pub struct JobTable {
    jobs: Mutex<HashMap<String, Arc<LocalJob>>>,
}

impl JobTable {
    /// Remembers a job.
    pub fn insert(&self, job: Arc<LocalJob>) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.insert(job.id.clone(), job);
        }
    }

    /// A job by id.
    pub fn get(&self, id: &str) -> Option<Arc<LocalJob>> {
        self.jobs.lock().ok()?.get(id).cloned()
    }

    /// Forgets a job (its folder stays on disk).
    pub fn remove(&self, id: &str) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.remove(id);
        }
    }

    /// [`JobTable::status`] for `VideoBackend::poll`: a job that failed or was cancelled is
    /// forgotten once reported (its folder stays). The check of a video left by an earlier
    /// process reads the whole file, so it runs off the async runtime.
    pub async fn poll(&self, backend: &'static str, ticket: &Ticket) -> Status {
        let status = match self.get(&ticket.id) {
            Some(job) => job.status(),
            None => {
                let ticket = ticket.clone();
                tokio::task::spawn_blocking(move || recovered_status(backend, &ticket))
                    .await
                    .unwrap_or_else(|e| {
                        Status::Failed(Error::new(
                            ErrorKind::Io,
                            format!("checking the job failed: {e}"),
                        ))
                    })
            }
        };
        if matches!(status, Status::Failed(_) | Status::Cancelled) {
            self.remove(&ticket.id);
        }
        status
    }

    /// Asks the job of `ticket` to stop: through this process if it started the job, else
    /// by signalling the process group recorded in the job folder. Cancelling a finished job
    /// is not an error.
    pub fn cancel(&self, ticket: &Ticket) {
        if let Some(job) = self.get(&ticket.id) {
            job.cancel();
            return;
        }
        #[cfg(unix)]
        if let Some(pgid) = recorded_pgid(ticket)
            && process_alive(pgid)
        {
            signal_group(pgid, libc::SIGTERM);
        }
    }

    /// The status of `ticket`: from the live job, or, for a job started by an earlier
    /// process, from its folder (see [`recovered_status`]).
    pub fn status(&self, backend: &'static str, ticket: &Ticket) -> Status {
        match self.get(&ticket.id) {
            Some(job) => job.status(),
            None => recovered_status(backend, ticket),
        }
    }
}

/// The status of a job started by an earlier process, read from its folder: running while
/// its process group lives (a video in the folder may still be being written), done once
/// the process is gone and the video it left verifies as a complete MP4, failed otherwise.
pub fn recovered_status(backend: &'static str, ticket: &Ticket) -> Status {
    let dir = ticket.data.get("job_dir").and_then(|v| v.as_str());
    if let Some(pgid) = recorded_pgid(ticket)
        && process_alive(pgid)
    {
        let steps: Vec<u64> = match ticket.data.get("passes").and_then(|v| v.as_array()) {
            Some(list) => list.iter().filter_map(|v| v.as_u64()).collect(),
            None => ticket
                .data
                .get("steps")
                .and_then(|v| v.as_u64())
                .into_iter()
                .collect(),
        };
        let progress = dir.and_then(|d| LogWatch::new(Path::new(d), steps).read_new());
        return Status::Running { progress };
    }
    let expected = ticket
        .data
        .get("save_file")
        .and_then(|v| v.as_str())
        .map(|p| ExpectedOutput::File(PathBuf::from(p)))
        .or_else(|| {
            ticket
                .data
                .get("save_dir")
                .and_then(|v| v.as_str())
                .map(|p| ExpectedOutput::Mp4In(PathBuf::from(p)))
        });
    let dir = dir.unwrap_or("(unknown)");
    let fail =
        |why: String| Status::Failed(Error::new(ErrorKind::JobFailed, why).with_backend(backend));
    match expected.and_then(|e| e.find()) {
        Some(path) => match crate::media::probe::verify_file(&path) {
            Ok(_) => Status::Succeeded {
                output: Output::File { path },
                cost: None,
            },
            Err(e) => fail(format!(
                "job {} ended (its process is gone) but left an incomplete video {}: {}; its \
                 logs are in the job folder {dir}",
                ticket.id,
                path.display(),
                e.message()
            )),
        },
        None => fail(format!(
            "job {} ended without a video (its process is gone); its logs are in the job \
             folder {dir}",
            ticket.id
        )),
    }
}

/// The process group a job recorded in its folder, if any.
fn recorded_pgid(ticket: &Ticket) -> Option<i32> {
    let dir = ticket.data.get("job_dir")?.as_str()?;
    std::fs::read_to_string(Path::new(dir).join(PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Creates a fresh job folder under `work_dir`, named so folders sort by time.
pub fn create_job_dir(work_dir: &Path, backend: &str) -> Result<(String, PathBuf)> {
    let id = format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let dir = work_dir.join(format!("{backend}-{id}"));
    std::fs::create_dir_all(&dir).map_err(|e| {
        Error::io(
            format_args!("cannot create job folder {}", dir.display()),
            e,
        )
    })?;
    Ok((id, dir))
}

/// Copies a finished local video to `into`.
pub async fn copy_output(
    backend: &'static str,
    output: &Output,
    into: &Path,
    events: crate::backend::EventSink<'_>,
) -> Result<u64> {
    let Output::File { path } = output else {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("{backend} outputs are local files"),
        )
        .with_backend(backend));
    };
    let bytes = tokio::fs::copy(path, into)
        .await
        .map_err(|e| Error::io(format_args!("cannot copy {}", path.display()), e))?;
    events(crate::backend::Event::Downloading {
        received: bytes,
        total: Some(bytes),
    });
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpus_are_split_evenly_between_parallel_slots() {
        let slots = GpuSlots::new(8, 2);
        assert_eq!(slots.slots().len(), 2);
        assert_eq!(
            slots.slots()[1].visible_devices().as_deref(),
            Some("4,5,6,7")
        );
        let one = GpuSlots::new(4, 1);
        assert_eq!(one.slots(), [Slot::whole_machine()]);
        assert_eq!(one.slots()[0].visible_devices(), None);
    }

    /// A job running `sh -c script` in `dir`.
    fn shell_job(dir: &Path, script: &str, timeout: Duration) -> JobSpec {
        let script = script.to_owned();
        let cwd = dir.to_path_buf();
        JobSpec {
            id: "t".into(),
            backend: "test",
            dir: dir.to_path_buf(),
            output: ExpectedOutput::File(dir.join("out.bin")),
            timeout,
            steps: vec![4],
            command: Box::new(move |_| {
                let mut c = CommandSpec::new("sh");
                c.arg("-c").arg(script);
                c.cwd = Some(cwd);
                c
            }),
        }
    }

    async fn wait_done(job: &LocalJob) -> Status {
        for _ in 0..500 {
            if job.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        job.status()
    }

    #[tokio::test]
    async fn a_finished_process_reports_its_file_and_keeps_logs() {
        let dir = tempfile::tempdir().unwrap();
        let script = "printf ' 50%%|#  | 2/4 [00:01<00:01]\\r' >&2; echo hello; printf x > out.bin";
        let spec = shell_job(dir.path(), script, Duration::from_secs(20));
        let job = LocalJob::start(spec, Arc::new(GpuSlots::new(1, 1)));
        match wait_done(&job).await {
            Status::Succeeded {
                output: Output::File { path },
                ..
            } => assert_eq!(path, dir.path().join("out.bin")),
            other => panic!("{other:?}"),
        }
        let out = std::fs::read_to_string(dir.path().join("stdout.log")).unwrap();
        assert_eq!(out, "hello\n");
        assert!(!dir.path().join(PID_FILE).exists());
        assert!(
            std::fs::read_to_string(dir.path().join("stderr.log"))
                .unwrap()
                .contains("2/4")
        );
        assert!(
            std::fs::read_to_string(dir.path().join("command.txt"))
                .unwrap()
                .starts_with("cd ")
        );
    }

    #[tokio::test]
    async fn a_failing_process_explains_itself_with_its_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let spec = shell_job(
            dir.path(),
            "echo 'CUDA out of memory' >&2; exit 3",
            Duration::from_secs(20),
        );
        let job = LocalJob::start(spec, Arc::new(GpuSlots::new(1, 1)));
        let Status::Failed(e) = wait_done(&job).await else {
            panic!("expected a failure")
        };
        assert_eq!(e.kind(), ErrorKind::JobFailed);
        assert!(e.message().contains("CUDA out of memory"), "{e}");
        assert!(e.message().contains("exit status: 3"), "{e}");
    }

    #[tokio::test]
    async fn a_timeout_stops_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        // The child forks a grandchild that records its pid; both must die.
        let script = "sleep 30 & echo $! > grandchild.pid; wait";
        let spec = shell_job(dir.path(), script, Duration::from_millis(300));
        let job = LocalJob::start(spec, Arc::new(GpuSlots::new(1, 1)));
        let Status::Failed(e) = wait_done(&job).await else {
            panic!("expected a timeout")
        };
        assert_eq!(e.kind(), ErrorKind::Timeout);
        let pid = pid_in(&dir.path().join("grandchild.pid"));
        assert!(ends(pid).await, "the grandchild {pid} survived the timeout");
    }

    #[tokio::test]
    async fn a_later_process_follows_and_cancels_a_job_it_did_not_start() {
        let dir = tempfile::tempdir().unwrap();
        let script = "printf ' 25%%|#   | 1/4 [00:01<00:03]\\r' >&2; exec sleep 30";
        let job = LocalJob::start(
            shell_job(dir.path(), script, Duration::from_secs(60)),
            Arc::new(GpuSlots::new(1, 1)),
        );
        let ticket = Ticket {
            backend: "test".into(),
            id: "t".into(),
            model: None,
            data: serde_json::json!({
                "job_dir": dir.path(),
                "save_file": dir.path().join("out.bin"),
                "steps": 4,
            }),
            submitted_at: chrono::Utc::now(),
        };
        // Another process knows only the ticket.
        let later = JobTable::default();
        let mut progress = None;
        for _ in 0..200 {
            if let Status::Running { progress: Some(p) } = later.status("test", &ticket) {
                progress = Some(p);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(progress, Some(0.25));
        later.cancel(&ticket);
        let mut status = later.status("test", &ticket);
        for _ in 0..200 {
            if matches!(status, Status::Failed(_)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            status = later.status("test", &ticket);
        }
        let Status::Failed(e) = status else {
            panic!("expected the cancelled job to be gone, got {status:?}")
        };
        assert!(e.message().contains("ended without a video"), "{e}");
        // The job's own process saw its child stop.
        assert!(matches!(wait_done(&job).await, Status::Failed(_)));
        // A video left behind counts only when it is a complete MP4.
        std::fs::write(dir.path().join("out.bin"), b"video").unwrap();
        let Status::Failed(e) = later.status("test", &ticket) else {
            panic!("a cut-off file was taken for a video")
        };
        assert!(e.message().contains("incomplete video"), "{e}");
        write_mp4(&dir.path().join("out.bin")).await;
        assert!(matches!(
            later.poll("test", &ticket).await,
            Status::Succeeded { .. }
        ));
    }

    async fn write_mp4(path: &Path) {
        use crate::backend::VideoBackend;
        let req = crate::request::GenerationRequest {
            duration: Some(crate::request::VideoDuration::from_secs(1)),
            resolution: Some(crate::request::ResolutionSpec::Exact(
                crate::request::Resolution::new(64, 64),
            )),
            ..crate::request::GenerationRequest::text("x")
        };
        let mp4 = path.with_extension("mp4");
        crate::services::animatic::Animatic::default()
            .generate(&req, &mp4, &crate::backend::no_events)
            .await
            .unwrap();
        std::fs::rename(&mp4, path).unwrap();
    }

    #[tokio::test]
    async fn a_video_still_being_written_by_a_live_job_is_not_taken_as_done() {
        let dir = tempfile::tempdir().unwrap();
        write_mp4(&dir.path().join("out.bin")).await;
        // The job's process (this test's own, alive) is recorded in the folder.
        std::fs::write(
            dir.path().join(PID_FILE),
            format!("{}\n", std::process::id()),
        )
        .unwrap();
        let ticket = Ticket {
            backend: "test".into(),
            id: "t".into(),
            model: None,
            data: serde_json::json!({
                "job_dir": dir.path(),
                "save_file": dir.path().join("out.bin"),
            }),
            submitted_at: chrono::Utc::now(),
        };
        assert!(matches!(
            JobTable::default().poll("test", &ticket).await,
            Status::Running { .. }
        ));
        std::fs::remove_file(dir.path().join(PID_FILE)).unwrap();
        assert!(matches!(
            JobTable::default().poll("test", &ticket).await,
            Status::Succeeded { .. }
        ));
    }

    #[tokio::test]
    async fn a_queued_job_waits_for_a_free_slot_and_can_be_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let slots = Arc::new(GpuSlots::new(1, 1));
        let first = LocalJob::start(
            shell_job(dir.path(), "sleep 30", Duration::from_secs(60)),
            slots.clone(),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second_dir = tempfile::tempdir().unwrap();
        let second = LocalJob::start(
            shell_job(second_dir.path(), "true", Duration::from_secs(60)),
            slots,
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(matches!(second.status(), Status::Queued { .. }));
        second.cancel();
        assert!(matches!(wait_done(&second).await, Status::Cancelled));
        first.cancel();
        assert!(matches!(wait_done(&first).await, Status::Cancelled));
    }
}
