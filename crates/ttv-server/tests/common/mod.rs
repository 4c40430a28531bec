//! The one way server tests start a server: in-process, on 127.0.0.1 with a free port, over
//! a job store and output folder of the test's own, with only the keys the test gives.

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use ttv::facade::Jobs;
use ttv::registry::Registry;
use ttv::store::Store;
use ttv_server::{Options, Server, TokenSpec};

/// A started server and its folder.
pub struct Running {
    pub server: Server,
    pub dir: tempfile::TempDir,
    pub base: String,
    pub http: reqwest::Client,
}

/// Knobs of a test server.
#[derive(Default)]
pub struct Setup {
    pub env: Vec<(&'static str, String)>,
    pub tokens: Vec<TokenSpec>,
    pub workers: Option<usize>,
    pub max_body: Option<usize>,
    pub models: Vec<(&'static str, &'static str)>,
    pub rate_per_minute: Option<u32>,
    pub token_daily_usd_micros: Option<i64>,
    pub webhooks: Option<std::sync::Arc<ttv::webhooks::Webhooks>>,
}

/// The façade over a fresh store in `dir`, configured only by `env`.
pub fn jobs_in(dir: &std::path::Path, env: &[(&'static str, String)]) -> Jobs {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    // The simulator's jobs take a second or less: each provider's fixed interval keeps them
    // quick, where adaptive polling would wait for a real job's typical time.
    let yaml = format!(
        "output_dir: {}\nremote_api_settings:\n  adaptive_polling: false\n",
        dir.join("out").display()
    );
    let loaded = ttv::config::from_yaml_in(&yaml, &env, dir);
    loaded.check().unwrap();
    let registry = Registry::new(&loaded.settings.registry);
    let store = Store::open_in(&dir.join("data")).unwrap();
    Jobs::new(loaded.settings, registry)
        .with_store(store)
        .unwrap()
}

/// Starts a server as `setup` says.
pub async fn start(setup: Setup) -> Running {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    let jobs = jobs_in(dir.path(), &setup.env);
    let mut opts = Options::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("data").join("server"),
    );
    opts.workers = setup.workers.unwrap_or(2);
    if let Some(max) = setup.max_body {
        opts.max_body = max;
    }
    opts.models = setup
        .models
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    opts.rate_per_minute = setup.rate_per_minute;
    opts.token_daily_usd_micros = setup.token_daily_usd_micros;
    opts.webhooks = setup.webhooks;
    let server = Server::start(jobs, opts, setup.tokens).await.unwrap();
    let base = format!("http://{}", server.addr());
    Running {
        server,
        dir,
        base,
        http: reqwest::Client::new(),
    }
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GETs `path` until `done` holds of its JSON (at most 60 s).
    pub async fn poll_until(
        &self,
        path: &str,
        token: Option<&str>,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        for _ in 0..1200 {
            let mut req = self.http.get(self.url(path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let v: Value = req.send().await.unwrap().json().await.unwrap();
            if done(&v) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{path} never reached the state waited for");
    }
}

/// A small PNG of `w`×`h` pixels.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img =
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 4) as u8, (y * 4) as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}
