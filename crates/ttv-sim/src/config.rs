//! The simulator's knobs: per-provider timings and faults, from code, flags or a YAML scenario.
//!
//! A scenario file looks like this:
//!
//! ```yaml
//! runway:
//!   queue_secs: 1
//!   run_secs: 2
//!   faults:
//!     - { on: submit, nth: 2, fault: rate_limited, retry_after: 3 }
//!     - { on: download, probability: 0.1, fault: truncated_download }
//! fal:
//!   run_secs: 0.5
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::Provider;

/// Which kind of call a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// Creating a task (the paid call).
    Submit,
    /// Asking for a task's status.
    Poll,
    /// fal's result call, MiniMax's files/retrieve.
    Result,
    /// Downloading the output video.
    Download,
    /// Cancelling a task.
    Cancel,
    /// Uploading an input file (Runway uploads, fal storage, Replicate files).
    Upload,
    /// Opening a status stream (fal's `.../status/stream`).
    Stream,
}

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 (MiniMax: base_resp 1002), with `Retry-After` when `retry_after` is set.
    RateLimited,
    /// HTTP 500. On submit the task is created first: the ambiguous case where a charge
    /// happened but the reply was lost.
    ServerError,
    /// 503, with `Retry-After` when `retry_after` is set. Nothing is created.
    Unavailable,
    /// The connection is dropped after the request was read. On submit the task is created.
    ConnectionReset,
    /// The body is sent slowly, `delay_ms` between small chunks.
    SlowBody,
    /// The request is read (on submit the task is created) and no answer starts for
    /// `delay_ms` (default 60 s): what a client sees as a timeout after sending.
    NoAnswer,
    /// HTTP 502 from a gateway in front of the API, after the request was read. On submit the
    /// task is created.
    BadGateway,
    /// HTTP 504 from a gateway in front of the API, after the request was read. On submit the
    /// task is created.
    GatewayTimeout,
    /// The download sends half the bytes it announced, then drops the connection.
    TruncatedDownload,
    /// The output URL handed out has already expired.
    ExpiredUrl,
    /// The input is refused by the safety filter (on submit), or the task ends with a
    /// moderation failure (when applied to poll).
    Moderation,
    /// The task runs and then fails.
    TaskFailure,
    /// The key is refused.
    InvalidKey,
    /// The account has no money left.
    InsufficientBalance,
    /// Chat completions: the answer's content is not valid JSON (cut off mid-object).
    MalformedOutput,
    /// Chat completions: the model refuses (`message.refusal` set, `content` null).
    Refusal,
    /// The answer is a success whose body is damaged (image APIs: JSON that does not parse,
    /// or image bytes cut short). On submit the work is done and billed first.
    Malformed,
}

/// One scripted or random fault.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Which calls it applies to.
    pub on: Endpoint,
    /// Only the n-th such call (1-based, counted per provider); every call when absent.
    #[serde(default)]
    pub nth: Option<u32>,
    /// Chance per matching call, 0 to 1; 1 when absent.
    #[serde(default)]
    pub probability: Option<f64>,
    /// What happens.
    pub fault: FaultKind,
    /// Seconds to send in `Retry-After`.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Delay between chunks for `slow_body`, or before the answer for `slow_response`, in
    /// milliseconds.
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

impl FaultRule {
    /// A fault on every call of `on`.
    pub fn always(on: Endpoint, fault: FaultKind) -> Self {
        Self {
            on,
            nth: None,
            probability: None,
            fault,
            retry_after: None,
            delay_ms: None,
        }
    }

    /// A fault on the `nth` call of `on` only.
    pub fn nth(on: Endpoint, nth: u32, fault: FaultKind) -> Self {
        Self {
            nth: Some(nth),
            ..Self::always(on, fault)
        }
    }

    /// Adds a `Retry-After` of `secs`.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

/// Knobs of one simulated provider.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderKnobs {
    /// Seconds a task waits in the queue.
    pub queue_secs: f64,
    /// Seconds a task runs once it leaves the queue: the median when `run_spread` is set.
    pub run_secs: f64,
    /// Spread of run times: the standard deviation of their natural logarithm. 0 (the
    /// default) runs every task exactly `run_secs`; above 0 each task's run time is drawn
    /// from a log-normal distribution with median `run_secs` (0.35 puts the 5th and 95th
    /// percentiles at 0.56x and 1.78x the median).
    pub run_spread: f64,
    /// Spread of queue times, as `run_spread` is for run times.
    pub queue_spread: f64,
    /// Seconds an output URL stays valid.
    pub output_ttl_secs: f64,
    /// Queued tasks at or beyond this queue position are reported as throttled by providers
    /// that say so (Runway's `THROTTLED`); none when absent.
    pub concurrency: Option<u32>,
    /// The provider's request rate limit: at most this many calls (of any kind) are served in
    /// any one-second window; the calls beyond it are answered with the provider's 429 (its
    /// `rate_limited` fault, `Retry-After: 1`) and not served. None when absent.
    pub requests_per_second: Option<u32>,
    /// Faults to inject.
    pub faults: Vec<FaultRule>,
}

impl Default for ProviderKnobs {
    fn default() -> Self {
        Self {
            queue_secs: 0.0,
            run_secs: 1.0,
            run_spread: 0.0,
            queue_spread: 0.0,
            output_ttl_secs: 3600.0,
            concurrency: None,
            requests_per_second: None,
            faults: Vec::new(),
        }
    }
}

impl ProviderKnobs {
    /// A queue time in model seconds: the median times `e^(spread * z)` for a standard
    /// normal `z`.
    pub(crate) fn queue_model_secs(&self, z: f64) -> f64 {
        (self.queue_secs.max(0.0) * (self.queue_spread * z).exp()).min(1e7)
    }

    /// A run time in model seconds, as [`ProviderKnobs::queue_model_secs`].
    pub(crate) fn run_model_secs(&self, z: f64) -> f64 {
        (self.run_secs.max(0.0) * (self.run_spread * z).exp()).min(1e7)
    }
}

/// Everything the simulator is started with.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// TCP port on 127.0.0.1; 0 (the default) picks a free one.
    pub port: u16,
    /// The only API key accepted (Runway, Gemini API, MiniMax, fal). When absent — the
    /// default — ANY non-empty key is accepted, so a wrong key goes unnoticed.
    pub api_key: Option<String>,
    /// Frames per second of the served videos (kept low so rendering is cheap); 8 when 0.
    pub video_fps: u32,
    /// Longest side of the served videos; 0 (the default) serves the size the task asked
    /// for. Tests set it low so that rendering stays cheap in debug builds.
    pub video_max_side: u32,
    /// Runway knobs.
    pub runway: ProviderKnobs,
    /// MiniMax knobs.
    pub minimax: ProviderKnobs,
    /// Gemini API knobs.
    pub gemini: ProviderKnobs,
    /// Vertex AI knobs.
    pub vertex: ProviderKnobs,
    /// fal knobs.
    pub fal: ProviderKnobs,
    /// Kling knobs.
    pub kling: ProviderKnobs,
    /// Luma knobs.
    pub luma: ProviderKnobs,
    /// Replicate knobs.
    pub replicate: ProviderKnobs,
    /// Seedance (ModelArk) knobs.
    pub seedance: ProviderKnobs,
    /// DashScope knobs.
    pub dashscope: ProviderKnobs,
    /// OpenAI knobs: chat completions (the film planner) and Images (faults on `submit`).
    pub openai: ProviderKnobs,
    /// Stability AI knobs (faults; image answers are immediate).
    pub stability: ProviderKnobs,
    /// PEM public key (SPKI) of the service account whose JWTs the Vertex token endpoint
    /// accepts; without it every token request is refused.
    pub google_public_key_pem: Option<String>,
    /// Lifetime of the Vertex access tokens handed out, in seconds; 3600 when absent.
    pub google_token_ttl_secs: Option<u64>,
    /// The secret key Kling JWTs must be signed with; their signature is not checked when
    /// absent (their `iss` is checked against `api_key` either way).
    pub kling_secret_key: Option<String>,
    /// Model seconds per real second: every queue and run time (and the output lifetime) is
    /// divided by it, so that a benchmark can model minute-long jobs in seconds. Protocols
    /// are unchanged; progress, queue positions and reported inference times stay in model
    /// time. 1 when 0 (the default).
    pub time_scale: f64,
    /// Seed of the run-time draws (`run_spread`, `queue_spread`): the same seed gives the
    /// same times to tasks in the same submit order. Drawn from the system when absent.
    pub seed: Option<u64>,
}

impl SimConfig {
    /// Reads a YAML scenario and checks its values (see [`SimConfig::check`]).
    pub fn from_yaml(text: &str) -> anyhow::Result<Self> {
        let config: Self = serde_saphyr::from_str(text)?;
        let problems = config.check();
        if !problems.is_empty() {
            anyhow::bail!("{}", problems.join("; "));
        }
        Ok(config)
    }

    /// Every value out of range, each naming its key: times must be finite and not negative,
    /// a probability between 0 and 1, `nth` and `concurrency` at least 1.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for p in Provider::every() {
            let knobs = self.knobs(p);
            let name = p.prefix();
            for (key, secs) in [
                ("queue_secs", knobs.queue_secs),
                ("run_secs", knobs.run_secs),
                ("output_ttl_secs", knobs.output_ttl_secs),
                ("run_spread", knobs.run_spread),
                ("queue_spread", knobs.queue_spread),
            ] {
                if !secs.is_finite() || secs < 0.0 {
                    problems.push(format!(
                        "{name}.{key}: {secs}; expected a number of seconds, 0 or more"
                    ));
                }
            }
            if knobs.concurrency == Some(0) {
                problems.push(format!("{name}.concurrency: 0; expected at least 1"));
            }
            if knobs.requests_per_second == Some(0) {
                problems.push(format!(
                    "{name}.requests_per_second: 0; expected at least 1 (or leave it out)"
                ));
            }
            for (i, rule) in knobs.faults.iter().enumerate() {
                if let Some(chance) = rule.probability
                    && !(0.0..=1.0).contains(&chance)
                {
                    problems.push(format!(
                        "{name}.faults[{i}].probability: {chance}; expected a chance from 0 to 1"
                    ));
                }
                if rule.nth == Some(0) {
                    problems.push(format!(
                        "{name}.faults[{i}].nth: 0; expected a call number from 1"
                    ));
                }
            }
        }
        if !self.time_scale.is_finite() || self.time_scale < 0.0 {
            problems.push(format!(
                "time_scale: {}; expected model seconds per real second, above 0",
                self.time_scale
            ));
        }
        problems
    }

    /// Model seconds per real second (1 when unset).
    pub fn scale(&self) -> f64 {
        if self.time_scale > 0.0 && self.time_scale.is_finite() {
            self.time_scale
        } else {
            1.0
        }
    }

    /// The same run-time spread for every provider.
    pub fn with_spread(mut self, run_spread: f64) -> Self {
        for p in Provider::ALL {
            self.knobs_mut(p).run_spread = run_spread;
        }
        self
    }

    /// The same timings for every provider.
    pub fn with_timings(mut self, queue_secs: f64, run_secs: f64) -> Self {
        for p in Provider::ALL {
            let knobs = self.knobs_mut(p);
            knobs.queue_secs = queue_secs;
            knobs.run_secs = run_secs;
        }
        self
    }

    /// Adds a fault to one provider.
    pub fn with_fault(mut self, provider: Provider, rule: FaultRule) -> Self {
        self.knobs_mut(provider).faults.push(rule);
        self
    }

    /// The knobs of `provider`.
    pub fn knobs(&self, provider: Provider) -> &ProviderKnobs {
        match provider {
            Provider::Runway => &self.runway,
            Provider::Gemini => &self.gemini,
            Provider::Vertex => &self.vertex,
            Provider::Minimax => &self.minimax,
            Provider::Fal => &self.fal,
            Provider::Kling => &self.kling,
            Provider::Luma => &self.luma,
            Provider::Replicate => &self.replicate,
            Provider::Seedance => &self.seedance,
            Provider::Dashscope => &self.dashscope,
            Provider::OpenAi => &self.openai,
            Provider::Stability => &self.stability,
        }
    }

    /// The knobs of `provider`, to change.
    pub fn knobs_mut(&mut self, provider: Provider) -> &mut ProviderKnobs {
        match provider {
            Provider::Runway => &mut self.runway,
            Provider::Gemini => &mut self.gemini,
            Provider::Vertex => &mut self.vertex,
            Provider::Minimax => &mut self.minimax,
            Provider::Fal => &mut self.fal,
            Provider::Kling => &mut self.kling,
            Provider::Luma => &mut self.luma,
            Provider::Replicate => &mut self.replicate,
            Provider::Seedance => &mut self.seedance,
            Provider::Dashscope => &mut self.dashscope,
            Provider::OpenAi => &mut self.openai,
            Provider::Stability => &mut self.stability,
        }
    }
}

/// Counts calls per (provider, endpoint) to resolve `nth` rules.
#[derive(Debug, Default)]
pub(crate) struct Counters(BTreeMap<(Provider, u8), u32>);

impl Counters {
    pub(crate) fn next(&mut self, provider: Provider, on: Endpoint) -> u32 {
        let n = self.0.entry((provider, on as u8)).or_insert(0);
        *n += 1;
        *n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_file_sets_timings_and_scripted_faults() {
        let cfg = SimConfig::from_yaml(
            "runway:\n  run_secs: 2\n  faults:\n    - { on: submit, nth: 2, fault: rate_limited, retry_after: 3 }\n",
        )
        .unwrap();
        assert_eq!(cfg.runway.run_secs, 2.0);
        assert_eq!(
            cfg.runway.faults,
            [FaultRule::nth(Endpoint::Submit, 2, FaultKind::RateLimited).with_retry_after(3)]
        );
        assert_eq!(cfg.fal, ProviderKnobs::default());
    }

    #[test]
    fn unknown_scenario_keys_are_refused() {
        assert!(SimConfig::from_yaml("runway:\n  run_sec: 2\n").is_err());
    }

    #[test]
    fn values_out_of_range_are_refused_each_with_its_key() {
        let err = SimConfig::from_yaml(
            "runway:\n  run_secs: -1\n  faults:\n    - { on: submit, probability: 7, fault: server_error }\n    - { on: poll, nth: 0, fault: server_error }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("runway.run_secs: -1; expected a number of seconds, 0 or more"),
            "{err}"
        );
        assert!(
            err.contains("runway.faults[0].probability: 7; expected a chance from 0 to 1"),
            "{err}"
        );
        assert!(
            err.contains("runway.faults[1].nth: 0; expected a call number from 1"),
            "{err}"
        );
    }
}
