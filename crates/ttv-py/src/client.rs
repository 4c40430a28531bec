//! `NativeClient`: the configuration, the backends and the job store of one `ttv.Client`,
//! behind the library's job façade. Every method releases the GIL while it waits.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pyo3::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use ttv::config::{Loaded, ProcessEnv, Severity};
use ttv::facade::{Cancel, FallbackPolicy, JobSpec, Jobs};
use ttv::film::{Film, FilmEvent, FilmRequest, FilmSettings, split};
use ttv::registry::{Entry, Registry};
use ttv::store::{JobState, Store};
use ttv::{Error, ErrorKind, Event, Money, Problem};

use crate::job::{NativeJob, Shared};
use crate::request::{self, Built};
use crate::{call, describe, raise, runtime};

/// What a client holds; shared with the jobs it starts.
struct Inner {
    loaded: Loaded,
    registry: Registry,
    jobs: Jobs,
    data_dir: PathBuf,
}

/// The job façade of one configuration. Made by `ttv.Client`.
#[pyclass(module = "ttv._native", frozen)]
pub struct NativeClient {
    inner: Arc<Inner>,
}

/// How a video job is run: the façade's choices, in the words of the Python API.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct JobOptions {
    backend: Option<String>,
    out: Option<PathBuf>,
    job_id: Option<String>,
    /// `configured` (the default), `always` or `never`.
    fallback: Option<String>,
}

/// A film: the story and how to cut it.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FilmOptions {
    prompt: Option<String>,
    mode: Option<String>,
    duration: Option<f64>,
    segment_duration: Option<f64>,
    parallel: Option<u32>,
    crossfade_frames: Option<u32>,
    backend: Option<String>,
    out: Option<PathBuf>,
    run_id: Option<String>,
    max_cost: Option<f64>,
}

fn options<T: for<'de> Deserialize<'de>>(what: &str, json: &str) -> ttv::Result<T> {
    serde_json::from_str(json).map_err(|e| {
        Error::new(
            ErrorKind::InvalidRequest,
            format!("the {what} could not be read: {e}"),
        )
    })
}

fn to_text(value: &impl serde::Serialize) -> ttv::Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot describe the result: {e}")))
}

impl Inner {
    /// The job spec of Python's request and options.
    async fn spec(&self, request_json: &str, options_json: &str) -> ttv::Result<JobSpec> {
        let opts: JobOptions = options("job options", options_json)?;
        let built = request::build(
            request::parse(request_json)?,
            &self.loaded.settings.defaults,
        )
        .await?;
        let fallback = match opts.fallback.as_deref() {
            None | Some("configured") => FallbackPolicy::UnlessNamed,
            Some("always") => FallbackPolicy::Always,
            Some("never") => FallbackPolicy::Never,
            Some(other) => {
                return Err(Error::invalid(vec![Problem::new(
                    "fallback",
                    format!("{other:?}"),
                    "\"configured\", \"always\" or \"never\"",
                )]));
            }
        };
        let Built {
            request,
            problems,
            inputs,
        } = built;
        Ok(JobSpec {
            problems,
            inputs,
            backend: opts.backend.filter(|b| !b.trim().is_empty()),
            fallback,
            out: opts.out,
            job_id: opts.job_id,
            ..JobSpec::new(request)
        })
    }

    /// The film request of Python's options and the configuration (the storyboard split from
    /// the prompt).
    fn film_request(&self, opts: FilmOptions) -> ttv::Result<FilmRequest> {
        let base = self
            .loaded
            .source
            .as_deref()
            .and_then(Path::parent)
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let mut settings = FilmSettings::from_config(&self.loaded.config, &base)?;
        let mut problems = Vec::new();
        if let Some(mode) = &opts.mode {
            match mode.parse() {
                Ok(m) => settings.mode = m,
                Err(_) => problems.push(Problem::new(
                    "mode",
                    format!("{mode:?}"),
                    "\"keyframe\" or \"chaining\"",
                )),
            }
        }
        if let Some(secs) = opts.segment_duration {
            if secs.is_finite() && secs > 0.0 {
                settings.segment_secs = secs;
            } else {
                problems.push(Problem::new("segment_duration", secs, "seconds above 0"));
            }
        }
        match opts.parallel {
            Some(0) => problems.push(Problem::new("parallel", 0, "1 or more")),
            Some(n) => settings.parallel = n as usize,
            None => {}
        }
        if let Some(n) = opts.crossfade_frames {
            let max = ttv::film::settings::MAX_CROSSFADE_FRAMES;
            if n > max {
                problems.push(Problem::new(
                    "crossfade_frames",
                    n,
                    format!("a whole number of frames from 0 to {max}"),
                ));
            }
            settings.crossfade_frames = n;
        }
        if let Some(d) = opts.duration.filter(|d| !(d.is_finite() && *d > 0.0)) {
            problems.push(Problem::new("duration", d, "seconds above 0"));
        }
        let prompt = opts.prompt.or_else(|| settings.prompt.clone());
        let prompt = match prompt.as_deref().map(str::trim) {
            Some(p) if !p.is_empty() => p.to_owned(),
            _ => {
                problems.push(Problem::new(
                    "prompt",
                    "(none)",
                    "the story to film, or a configuration with a `prompt`",
                ));
                String::new()
            }
        };
        if !problems.is_empty() {
            return Err(Error::invalid(problems));
        }
        let storyboard = split::split(
            &prompt,
            opts.duration.or(settings.total_secs),
            settings.segment_secs,
        );
        Ok(FilmRequest {
            storyboard,
            settings,
            run_id: opts.run_id,
            out: opts.out,
            backend: opts.backend,
            max_cost_usd: opts.max_cost,
            planning: None,
        })
    }
}

#[pymethods]
impl NativeClient {
    /// Loads the configuration (`config_json`: the configuration as JSON text; else
    /// `config_path`; else the usual search: `$TTV_CONFIG`, `./ttv.yaml`,
    /// `./pipeline_config.yaml`, the environment alone) and opens the job store in
    /// `data_dir` (else `TTV_DATA_DIR`, `store.data_dir`, the user's data folder).
    #[new]
    #[pyo3(signature = (config_json=None, config_path=None, data_dir=None))]
    fn new(
        py: Python<'_>,
        config_json: Option<String>,
        config_path: Option<PathBuf>,
        data_dir: Option<PathBuf>,
    ) -> PyResult<Self> {
        let loaded = py.detach(|| match (&config_json, &config_path) {
            (Some(text), _) => ttv::config::from_yaml(text, &ProcessEnv),
            (None, path) => ttv::config::load(path.as_deref(), &ProcessEnv),
        });
        loaded.check().map_err(|e| raise(&e))?;
        let registry = Registry::new(&loaded.settings.registry);
        let dir = ttv::store::data_dir(data_dir.as_deref(), loaded.settings.data_dir.as_deref());
        let open_dir = dir.clone();
        let store = call(py, async move {
            tokio::task::spawn_blocking(move || Store::open_in(&open_dir))
                .await
                .map_err(|e| Error::new(ErrorKind::Io, format!("opening the job store: {e}")))?
        })?;
        let jobs = Jobs::new(loaded.settings.clone(), registry.clone())
            .with_store(store)
            .map_err(|e| raise(&e))?;
        let jobs = match &loaded.source {
            Some(file) => jobs.protect(file, "the configuration file"),
            None => jobs,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                loaded,
                registry,
                jobs,
                data_dir: dir,
            }),
        })
    }

    /// The configuration's warnings (unknown keys, keys ttv does not use), one line each.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.inner
            .loaded
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .map(ToString::to_string)
            .collect()
    }

    /// The configuration file read, if any.
    #[getter]
    fn config_file(&self) -> Option<PathBuf> {
        self.inner.loaded.source.clone()
    }

    /// The folder of the job store.
    #[getter]
    fn data_dir(&self) -> PathBuf {
        self.inner.data_dir.clone()
    }

    /// The configuration's `default_backend`.
    #[getter]
    fn default_backend(&self) -> String {
        self.inner.loaded.settings.default_backend.clone()
    }

    /// Every backend (JSON list): name, aliases, kind, availability and capabilities.
    fn backends(&self) -> PyResult<String> {
        let rows: Vec<Value> = self
            .inner
            .registry
            .entries()
            .iter()
            .map(Entry::describe)
            .collect();
        to_text(&rows).map_err(|e| raise(&e))
    }

    /// One backend's capabilities (JSON), with the original pipeline's keys.
    fn capabilities(&self, backend: &str) -> PyResult<String> {
        let entry = self
            .inner
            .registry
            .entry("backend", backend)
            .map_err(|e| raise(&e))?;
        Ok(describe::original_capabilities(entry).to_string())
    }

    /// Every problem with a request for `backend` (JSON list of {field, value, allowed,
    /// message}); empty when the request can be made. Spends nothing.
    #[pyo3(signature = (request_json, options_json))]
    fn validate(&self, py: Python<'_>, request_json: &str, options_json: &str) -> PyResult<String> {
        let inner = self.inner.clone();
        let found = call(py, async move {
            let spec = inner.spec(request_json, options_json).await?;
            Ok(inner.jobs.check(&spec).err())
        })?;
        let problems: Vec<Value> = match found {
            None => Vec::new(),
            Some(e) if e.problems().is_empty() => vec![json!({
                "field": "backend",
                "value": e.backend(),
                "allowed": Value::Null,
                "message": e.to_string(),
            })],
            Some(e) => e
                .problems()
                .iter()
                .map(|p| json!({"field": p.field, "value": p.value, "allowed": p.allowed, "message": p.to_string()}))
                .collect(),
        };
        Ok(Value::Array(problems).to_string())
    }

    /// What the job would be (JSON): backend, reason, settings, estimate, fallback chain.
    /// Nothing is recorded or spent.
    fn estimate(&self, py: Python<'_>, request_json: &str, options_json: &str) -> PyResult<String> {
        let inner = self.inner.clone();
        call(py, async move {
            let mut spec = inner.spec(request_json, options_json).await?;
            spec.dry_run = true;
            let plan = inner.jobs.plan(spec).await?;
            to_text(&plan.describe())
        })
    }

    /// What `backend` charges for a clip of `duration` seconds at `resolution` (JSON cost
    /// estimate), whatever the prompt or image: the original interface's `estimate_cost`. A
    /// backend that needs a first frame is priced with a plain one of that size.
    #[pyo3(signature = (backend, duration, resolution=None))]
    fn price(
        &self,
        py: Python<'_>,
        backend: &str,
        duration: f64,
        resolution: Option<String>,
    ) -> PyResult<String> {
        let backend = self
            .inner
            .registry
            .get("backend", backend)
            .map_err(|e| raise(&e))?;
        let estimate = py.detach(move || {
            let req = request::for_price(duration, resolution.as_deref(), backend.capabilities())?;
            backend.estimate_cost(&req)
        });
        estimate.and_then(|e| to_text(&e)).map_err(|e| raise(&e))
    }

    /// Plans the job (the job id, backend, budget and output path are decided here, so a
    /// bad request fails now) and starts it on the runtime; returns its handle.
    fn submit(
        &self,
        py: Python<'_>,
        request_json: &str,
        options_json: &str,
    ) -> PyResult<NativeJob> {
        let inner = self.inner.clone();
        let plan = call(py, async move {
            let spec = inner.spec(request_json, options_json).await?;
            inner.jobs.plan(spec).await
        })?;
        let shared = Arc::new(Shared::default());
        let cancel = Cancel::new();
        let job = NativeJob::new(
            plan.job_id.clone(),
            Some(plan.selection.backend.id().to_owned()),
            "video",
            shared.clone(),
            cancel.clone(),
        );
        let jobs = self.inner.jobs.clone();
        runtime()?.spawn(async move {
            let warnings = plan.warnings.clone();
            let events = shared.clone();
            let sink = move |e: Event| events.event(describe::event(&e));
            let result = jobs.run(plan, &sink, &cancel).await;
            shared.finish(
                result
                    .map(|o| describe::outcome(&o, &warnings))
                    .map_err(|e| describe::error(&e)),
            );
        });
        Ok(job)
    }

    /// Plans a film (the storyboard split from the prompt, segments priced, the budget
    /// checked) and starts it on the runtime; returns its handle.
    fn film(&self, py: Python<'_>, options_json: &str) -> PyResult<NativeJob> {
        let inner = self.inner.clone();
        let (film, request, plan) = call(py, async move {
            let request = inner.film_request(options("film options", options_json)?)?;
            let film = Film::new(inner.jobs.clone());
            let plan = film.plan(&request).await?;
            if let Some(why) = &plan.over_budget {
                return Err(Error::new(ErrorKind::QuotaExceeded, why.clone()));
            }
            Ok((film, request, plan))
        })?;
        let shared = Arc::new(Shared::default());
        let cancel = Cancel::new();
        let job = NativeJob::new(
            plan.run_id.clone(),
            None,
            "film",
            shared.clone(),
            cancel.clone(),
        );
        runtime()?.spawn(async move {
            let events = shared.clone();
            let sink: ttv::film::FilmEvents = Arc::new(move |e: FilmEvent| {
                events.event(serde_json::to_value(&e).unwrap_or(Value::Null));
            });
            let result = film.run(plan, &request, sink, &cancel).await;
            shared.finish(match result {
                Ok(made) => serde_json::to_value(&made).map_err(|e| {
                    describe::error(&Error::new(
                        ErrorKind::Io,
                        format!("cannot describe the film: {e}"),
                    ))
                }),
                Err(e) => Err(describe::error(&e)),
            });
        });
        Ok(job)
    }

    /// One job of the store (JSON).
    fn job(&self, py: Python<'_>, id: &str) -> PyResult<String> {
        let inner = self.inner.clone();
        call(py, async move {
            let job = inner.jobs.runner()?.job(id).await?;
            to_text(&job)
        })
    }

    /// The jobs of the store (JSON list), newest first; `states` filters by state.
    fn jobs(&self, py: Python<'_>, states: Vec<String>) -> PyResult<String> {
        let inner = self.inner.clone();
        call(py, async move {
            let states = states
                .iter()
                .map(|s| {
                    s.parse::<JobState>().map_err(|e| {
                        Error::invalid(vec![Problem::new("state", format!("{s:?}"), e.to_string())])
                    })
                })
                .collect::<ttv::Result<Vec<_>>>()?;
            let store = inner.jobs.runner()?.store().clone();
            let jobs = tokio::task::spawn_blocking(move || store.list(&states))
                .await
                .map_err(|e| Error::new(ErrorKind::Io, format!("listing jobs: {e}")))??;
            to_text(&jobs)
        })
    }

    /// Cancels job `id` of the store at the provider (where the backend can) and records it
    /// (JSON of the job after).
    fn cancel_job(&self, py: Python<'_>, id: &str) -> PyResult<String> {
        let inner = self.inner.clone();
        call(py, async move {
            let runner = inner.jobs.runner()?;
            let job = runner.job(id).await?;
            let backend = inner.registry.get("job backend", &job.backend).ok();
            let job = runner.cancel(backend.as_deref(), id).await?;
            to_text(&job)
        })
    }

    /// What jobs cost (JSON): lines by day, backend and model; the jobs; the total; the
    /// budget. `days` keeps the last so many days.
    #[pyo3(signature = (days=None))]
    fn spend(&self, py: Python<'_>, days: Option<u32>) -> PyResult<String> {
        let inner = self.inner.clone();
        call(py, async move {
            let store = inner.jobs.runner()?.store().clone();
            let mut ledger = tokio::task::spawn_blocking(move || store.ledger())
                .await
                .map_err(|e| Error::new(ErrorKind::Io, format!("reading the ledger: {e}")))??;
            if let Some(days) = days {
                let first =
                    chrono::Utc::now().date_naive() - chrono::Days::new(u64::from(days.max(1) - 1));
                ledger.retain(|e| e.at.date_naive() >= first);
            }
            let total = Money::usd_micros(ledger.iter().map(|e| e.usd_micros).sum());
            to_text(&json!({
                "lines": ttv::budget::summarise(&ledger),
                "jobs": ledger,
                "total": total,
                "budget": inner.loaded.settings.budget,
            }))
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "NativeClient(default_backend={:?}, data_dir={:?})",
            self.inner.loaded.settings.default_backend,
            self.inner.data_dir.display().to_string()
        )
    }
}
