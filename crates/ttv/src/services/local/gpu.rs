//! What GPUs this machine has, read from `nvidia-smi` with a short deadline: cached for
//! availability checks, read afresh when a job picks its memory plan.
//!
//! Only `nvidia-smi --query-gpu=memory.free,memory.total --format=csv,noheader,nounits` is
//! run: it answers in well under a second on a healthy machine, and a hung driver must not
//! hang `ttv backends`, so the probe is killed after [`PROBE_TIMEOUT`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long `nvidia-smi` may take before the probe gives up.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// One GPU's memory, in MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuMemory {
    /// Free now.
    pub free_mib: u64,
    /// Installed.
    pub total_mib: u64,
}

/// The GPUs found, or why none could be read.
pub type GpuReport = std::result::Result<Vec<GpuMemory>, String>;

/// Parses `memory.free,memory.total` CSV rows without header or units.
pub fn parse_query(text: &str) -> std::result::Result<Vec<GpuMemory>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut cols = line.split(',').map(str::trim);
            let free = cols.next().and_then(|c| c.parse().ok());
            let total = cols.next().and_then(|c| c.parse().ok());
            match (free, total) {
                (Some(free_mib), Some(total_mib)) => Ok(GpuMemory {
                    free_mib,
                    total_mib,
                }),
                _ => Err(format!("nvidia-smi printed an unexpected line: {line:?}")),
            }
        })
        .collect()
}

/// Runs the memory query once, killing `nvidia-smi` if it outlives `timeout`.
pub fn query(nvidia_smi: &Path, timeout: Duration) -> GpuReport {
    let mut child = Command::new(nvidia_smi)
        .args([
            "--query-gpu=memory.free,memory.total",
            "--format=csv,noheader,nounits",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "no NVIDIA GPU found: cannot run {} ({e}); install the NVIDIA driver or set the \
                 nvidia_smi path",
                nvidia_smi.display()
            )
        })?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "nvidia-smi did not answer within {}s; the GPU driver may be hung",
                    timeout.as_secs()
                ));
            }
            Err(e) => return Err(format!("cannot wait for nvidia-smi: {e}")),
        }
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        use std::io::Read;
        let _ = stdout.read_to_string(&mut out);
    }
    if !status.success() {
        return Err(format!(
            "nvidia-smi failed ({status}): no usable NVIDIA GPU or driver"
        ));
    }
    let gpus = parse_query(&out)?;
    if gpus.is_empty() {
        return Err("nvidia-smi lists no GPUs".to_owned());
    }
    Ok(gpus)
}

/// A GPU probe: cached for availability checks, re-read when a job is about to start.
#[derive(Debug)]
pub struct GpuProbe {
    nvidia_smi: Option<PathBuf>,
    cached: OnceLock<GpuReport>,
}

impl GpuProbe {
    /// A probe that will run `nvidia_smi` when first asked.
    pub fn new(nvidia_smi: impl Into<PathBuf>) -> Self {
        Self {
            nvidia_smi: Some(nvidia_smi.into()),
            cached: OnceLock::new(),
        }
    }

    /// A probe with a fixed answer, for tests and for callers that know better.
    pub fn fixed(report: GpuReport) -> Self {
        let cached = OnceLock::new();
        let _ = cached.set(report);
        Self {
            nvidia_smi: None,
            cached,
        }
    }

    /// The GPUs, probing on first use and caching the answer (for availability, which must
    /// be cheap).
    pub fn report(&self) -> &GpuReport {
        self.cached.get_or_init(|| match &self.nvidia_smi {
            Some(smi) => query(smi, PROBE_TIMEOUT),
            None => Err("no GPU probe configured".to_owned()),
        })
    }

    /// The GPUs as they are now (free memory changes as other jobs come and go); a fixed
    /// probe answers its fixed report. Blocks for up to [`PROBE_TIMEOUT`].
    pub fn fresh(&self) -> GpuReport {
        match &self.nvidia_smi {
            Some(smi) => query(smi, PROBE_TIMEOUT),
            None => self.report().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_smi_rows_are_parsed_per_gpu() {
        let text = "80517, 81559\n  1024 , 24564 \n\n";
        assert_eq!(
            parse_query(text).unwrap(),
            [
                GpuMemory {
                    free_mib: 80517,
                    total_mib: 81559
                },
                GpuMemory {
                    free_mib: 1024,
                    total_mib: 24564
                }
            ]
        );
        assert!(parse_query("[N/A], 81559").is_err());
    }

    #[test]
    fn a_missing_nvidia_smi_is_reported_not_fatal() {
        let err = query(Path::new("/nonexistent/nvidia-smi"), PROBE_TIMEOUT).unwrap_err();
        assert!(err.contains("no NVIDIA GPU found"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_hung_nvidia_smi_is_killed_after_the_deadline() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("nvidia-smi");
        let pid_file = dir.path().join("pid");
        let script = format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 30\n",
            pid_file.display()
        );
        std::fs::write(&fake, script).unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = query(&fake, Duration::from_secs(1)).unwrap_err();
        assert!(err.contains("did not answer"), "{err}");
        // The hung process itself is gone (killed and reaped), not left running.
        let pid = super::super::job::pid_in(&pid_file);
        assert!(
            !super::super::job::process_alive(pid),
            "pid {pid} still runs"
        );
    }
}
