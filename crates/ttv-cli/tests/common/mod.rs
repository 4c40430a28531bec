//! The one way CLI tests start `ttv`: in a folder of the test's, with an environment cleared
//! of everything but what a process needs to run, so no developer's key, configuration or job
//! store can leak into a test (or a test reach a real provider).

#![allow(dead_code)]

use std::path::Path;

/// Variables kept from the test runner's environment: enough to find programs and temp space.
const KEPT: &[&str] = &[
    "PATH",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "RUST_BACKTRACE",
    "TTV_LOG",
];

fn clean(cmd: &mut std::process::Command, dir: &Path) {
    cmd.env_clear();
    for var in KEPT {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    cmd.current_dir(dir)
        .env("HOME", dir)
        .env("TTV_DATA_DIR", dir.join(".ttv-data"))
        .env("NO_COLOR", "1")
        // The simulator's jobs take a second or less: each provider's fixed interval keeps
        // them quick, where adaptive polling (the default) would wait for a real job's
        // typical time. A test of the default removes this.
        .env("TTV_ADAPTIVE_POLLING", "false");
}

/// `ttv` (assert_cmd) running in `dir`: no configuration, no keys, the job store in
/// `dir/.ttv-data` (override with `.env("TTV_DATA_DIR", ...)`), `HOME` set to `dir`, fixed
/// polling intervals (`TTV_ADAPTIVE_POLLING=false`).
pub fn ttv(dir: &Path) -> assert_cmd::Command {
    let mut std_cmd = ttv_std(dir);
    std_cmd.stdin(std::process::Stdio::null());
    assert_cmd::Command::from_std(std_cmd)
}

/// The same as [`ttv`], as a plain `std::process::Command` (for spawning and signalling).
pub fn ttv_std(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("ttv"));
    clean(&mut cmd, dir);
    cmd
}

/// A port nothing listens on (taken and given back).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until the `ttv` process `child` (`serve`, `worker`) answers `GET {url}/healthz`;
/// fails the test if it exits first or never answers.
pub async fn wait_up(http: &reqwest::Client, url: &str, child: &mut std::process::Child) {
    for _ in 0..500 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("ttv exited ({status})");
        }
        if http.get(format!("{url}/healthz")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("ttv never answered on {url}");
}
