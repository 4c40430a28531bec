//! When to ask a provider again: fixed intervals, or adaptive polling that is sparse while a
//! job is unlikely to be done and dense when it probably is.
//!
//! A job's total time (submit to done) is described by a few quantiles ([`Expected`]): seeded
//! with the provider's typical times ([`typical`]) and learned from the job store's finished
//! jobs of the same backend, model, mode, duration and resolution
//! ([`crate::store::Store::finished_times`]). The [`Poller`] then
//!
//! - waits until the 20th percentile before the first poll (never longer than the ceiling),
//! - polls every `dense` from there to the 95th percentile, then backs off (a quarter of
//!   the time past it) so that a stuck job costs little and is still seen every `ceiling`,
//! - and, as soon as the provider reports progress (Runway's `progress`, a percentage in
//!   fal's or Replicate's logs), extrapolates when the job will end and polls just after it,
//!   re-estimating on every answer.
//!
//! No two polls are closer than `floor` (the provider's rate limits); a 429's `Retry-After`
//! is honoured by the retry layer before the poll is sent again. Sparse waits carry a little
//! jitter so that many jobs submitted together do not poll in lock-step. Adaptive pacing is
//! the configuration's default; a fixed interval (`remote_api_settings.polling_interval`, or
//! `adaptive_polling: false` for each provider's own) turns all of this off. Webhooks
//! ([`crate::webhooks`]) and fal's status stream bring a poll forward; they never replace
//! it.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::{Status, VideoBackend};
use crate::layers::{Answer, Layer, Layered, Next, Op};

/// Quantiles of a job's total time, from submit to done.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expected {
    /// 20th percentile: before it a job is rarely done.
    pub p20: Duration,
    /// Median.
    pub p50: Duration,
    /// 95th percentile: after it a job is late.
    pub p95: Duration,
}

/// Finished jobs needed before learned times replace the typical ones.
pub const MIN_SAMPLES: usize = 5;

impl Expected {
    /// The quantiles of a log-normal distribution with median `median` and standard deviation
    /// of the logarithm `spread`.
    pub fn log_normal(median: Duration, spread: f64) -> Self {
        let at = |z: f64| median.mul_f64((spread * z).exp());
        Self {
            p20: at(-0.841_621),
            p50: median,
            p95: at(1.644_854),
        }
    }

    /// The quantiles of observed total times in seconds (nearest rank); `None` with fewer
    /// than [`MIN_SAMPLES`] usable ones.
    pub fn from_samples(samples: &[f64]) -> Option<Self> {
        let mut s: Vec<f64> = samples
            .iter()
            .copied()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .collect();
        if s.len() < MIN_SAMPLES {
            return None;
        }
        s.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let rank = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len());
            Duration::from_secs_f64(s[rank - 1])
        };
        Some(Self {
            p20: q(0.20),
            p50: q(0.50),
            p95: q(0.95),
        })
    }

    /// Every quantile divided by `factor` (a simulator running `factor` times faster).
    pub fn scaled(self, factor: f64) -> Self {
        let f = if factor > 0.0 { 1.0 / factor } else { 1.0 };
        Self {
            p20: self.p20.mul_f64(f),
            p50: self.p50.mul_f64(f),
            p95: self.p95.mul_f64(f),
        }
    }
}

/// The settings of adaptive polling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adaptive {
    /// How long jobs take.
    pub expected: Expected,
    /// Never two polls closer than this (the provider's rate limits).
    pub floor: Duration,
    /// Never longer than this without a poll, so that a stuck job is seen.
    pub ceiling: Duration,
    /// Between polls while the job is likely to end and the provider reports no progress.
    pub dense: Duration,
    /// How long after the end extrapolated from progress to poll.
    pub guard: Duration,
    /// Sparse waits (longer than `dense`) vary by up to this fraction either way.
    pub jitter: f64,
}

impl Adaptive {
    /// Adaptive polling for jobs taking `expected`: floor 1 s, ceiling 30 s, dense 2 s, guard
    /// 0.25 s, jitter 10 %.
    pub fn new(expected: Expected) -> Self {
        Self {
            expected,
            floor: Duration::from_secs(1),
            ceiling: Duration::from_secs(30),
            dense: Duration::from_secs(2),
            guard: Duration::from_millis(250),
            jitter: 0.1,
        }
    }

    /// Every duration divided by `factor`, for a simulator whose clock runs `factor` times
    /// faster than the provider's.
    pub fn scaled(self, factor: f64) -> Self {
        let f = if factor > 0.0 { 1.0 / factor } else { 1.0 };
        Self {
            expected: self.expected.scaled(factor),
            floor: self.floor.mul_f64(f),
            ceiling: self.ceiling.mul_f64(f),
            dense: self.dense.mul_f64(f),
            guard: self.guard.mul_f64(f),
            jitter: self.jitter,
        }
    }
}

/// How a job's polls are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// The first poll at once, then one every interval.
    Fixed(Duration),
    /// See the module documentation.
    Adaptive(Adaptive),
}

/// Typical total times (submit to done) of a backend's jobs when the store knows none yet:
/// `(median, spread)` of a log-normal. Orders of magnitude from the providers' documentation
/// and status pages (a 5 to 10 s clip); the job store's own history replaces them after
/// [`MIN_SAMPLES`] finished jobs.
pub fn typical(backend: &str, model: Option<&str>) -> (Duration, f64) {
    let model = model.unwrap_or_default();
    let secs = match backend {
        // Runway: Gen-4 Turbo about 30 s, Gen-4/Gen-4.5 about a minute.
        "runway" if model.contains("turbo") => 30.0,
        "runway" => 60.0,
        // Veo: "from 11 seconds to 6 minutes"; typically one to two minutes.
        "veo" => 90.0,
        // MiniMax Hailuo: a few minutes at 1080p, about two at 768p.
        "minimax" => 150.0,
        // fal hosts many models; a 5 s clip usually takes one to three minutes.
        "fal" => 90.0,
        "kling" => 150.0,
        "luma" => 90.0,
        "replicate" => 120.0,
        "seedance" => 60.0,
        "alibaba" => 180.0,
        _ => 60.0,
    };
    (Duration::from_secs_f64(secs), 0.5)
}

/// Adaptive pacing for `backend` from its typical times.
pub fn typical_pacing(backend: &str, model: Option<&str>) -> Pacing {
    let (median, spread) = typical(backend, model);
    Pacing::Adaptive(Adaptive::new(Expected::log_normal(median, spread)))
}

/// A seed for a job's jitter from its provider id, so that jobs differ and a job's own
/// schedule repeats.
pub fn seed_of(id: &str) -> u64 {
    // FNV-1a.
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The layer that makes a backend poll adaptively: with `settings` when given, else with the
/// backend's [`typical`] times.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdaptiveLayer {
    settings: Option<Adaptive>,
}

impl AdaptiveLayer {
    /// Adaptive polling with `settings`, or the backend's typical times.
    pub fn new(settings: Option<Adaptive>) -> Self {
        Self { settings }
    }
}

#[async_trait::async_trait]
impl Layer for AdaptiveLayer {
    async fn around(&self, _op: Op, next: Next<'_>) -> crate::Result<Answer> {
        next().await
    }

    fn pacing(&self, backend: &dyn VideoBackend, _inner: Pacing) -> Pacing {
        match self.settings {
            Some(a) => Pacing::Adaptive(a),
            None => typical_pacing(backend.id(), backend.model()),
        }
    }
}

/// `backend`, polling adaptively (see [`AdaptiveLayer`]).
pub fn adaptive(
    backend: Arc<dyn VideoBackend>,
    settings: Option<Adaptive>,
) -> Arc<dyn VideoBackend> {
    Arc::new(Layered::new(AdaptiveLayer::new(settings), backend))
}

/// The layer that forces a fixed interval on a backend.
#[derive(Debug, Clone, Copy)]
pub struct FixedLayer(pub Duration);

#[async_trait::async_trait]
impl Layer for FixedLayer {
    async fn around(&self, _op: Op, next: Next<'_>) -> crate::Result<Answer> {
        next().await
    }

    fn pacing(&self, _backend: &dyn VideoBackend, _inner: Pacing) -> Pacing {
        Pacing::Fixed(self.0)
    }
}

/// SplitMix64's finaliser: nearby seeds give unrelated jitter; never 0 (xorshift's fixed
/// point).
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).max(1)
}

/// Schedules the polls of one job.
#[derive(Debug, Clone)]
pub struct Poller {
    pacing: Pacing,
    submitted: Instant,
    /// The last time the job was seen queued.
    queued_seen: Option<Instant>,
    /// The first and the latest progress seen while running.
    first_progress: Option<(Instant, f64)>,
    last_progress: Option<(Instant, f64)>,
    rng: u64,
}

impl Poller {
    /// Polls for a job submitted at `submitted`; `seed` varies the jitter between jobs.
    pub fn new(pacing: Pacing, submitted: Instant, seed: u64) -> Self {
        Self {
            pacing,
            submitted,
            queued_seen: None,
            first_progress: None,
            last_progress: None,
            rng: mix(seed),
        }
    }

    /// The pacing in use.
    pub fn pacing(&self) -> &Pacing {
        &self.pacing
    }

    /// Uses learned times instead of the typical ones (adaptive pacing only).
    pub fn learned(mut self, expected: Option<Expected>) -> Self {
        if let (Pacing::Adaptive(a), Some(e)) = (&mut self.pacing, expected) {
            a.expected = e;
        }
        self
    }

    /// How long to wait before the first poll: none when fixed.
    pub fn first_wait(&mut self, now: Instant) -> Duration {
        match self.pacing {
            Pacing::Fixed(_) => Duration::ZERO,
            Pacing::Adaptive(_) => self.next_wait(now),
        }
    }

    /// Takes in what a poll answered at `now`.
    pub fn observe(&mut self, now: Instant, status: &Status) {
        match status {
            Status::Queued { .. } => self.queued_seen = Some(now),
            Status::Running {
                progress: Some(p), ..
            } if *p > 0.0 && p.is_finite() => {
                let p = f64::from(p.min(1.0));
                if self.first_progress.is_none() {
                    self.first_progress = Some((now, p));
                }
                self.last_progress = Some((now, p));
            }
            _ => {}
        }
    }

    /// When the job should end, extrapolated from its progress.
    pub fn eta(&self) -> Option<Instant> {
        let (t1, p1) = self.last_progress?;
        let (t0, p0) = self.first_progress?;
        let remaining = 1.0 - p1;
        let secs = if p1 > p0 && t1 > t0 {
            // The rate between two answers.
            remaining * (t1 - t0).as_secs_f64() / (p1 - p0)
        } else {
            // One answer: the job ran since it was last seen queued (or since submit).
            let start = self
                .queued_seen
                .unwrap_or(self.submitted)
                .max(self.submitted);
            let ran = t1.saturating_duration_since(start).as_secs_f64();
            remaining * ran / p1
        };
        Some(t1 + Duration::from_secs_f64(secs.clamp(0.0, 1e7)))
    }

    /// How long to wait after a poll answered at `now` before the next one.
    pub fn next_wait(&mut self, now: Instant) -> Duration {
        let a = match self.pacing {
            Pacing::Fixed(d) => return d,
            Pacing::Adaptive(a) => a,
        };
        let elapsed = now.saturating_duration_since(self.submitted);
        let wait = if let Some(eta) = self.eta() {
            let target = eta + a.guard;
            if target > now {
                target - now
            } else {
                // Later than foretold: the estimate was early; ask densely.
                a.dense
            }
        } else if elapsed + a.dense < a.expected.p20 {
            self.jittered(a.expected.p20 - elapsed, &a)
        } else if elapsed < a.expected.p95 {
            a.dense
        } else {
            // Late: back off with the lateness (a quarter of it), so that a job a little
            // late is still seen promptly and a stuck one costs little.
            a.dense.max((elapsed - a.expected.p95).mul_f64(0.25))
        };
        wait.clamp(a.floor, a.ceiling.max(a.floor))
    }

    fn jittered(&mut self, wait: Duration, a: &Adaptive) -> Duration {
        if a.jitter <= 0.0 {
            return wait;
        }
        // xorshift64: cheap, and reproducible for a seed.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let u = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        wait.mul_f64(1.0 + a.jitter.min(0.9) * (2.0 * u - 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn adaptive() -> Adaptive {
        Adaptive {
            jitter: 0.0,
            ..Adaptive::new(Expected {
                p20: secs(40.0),
                p50: secs(60.0),
                p95: secs(100.0),
            })
        }
    }

    #[test]
    fn log_normal_quantiles_follow_the_median_and_spread() {
        let e = Expected::log_normal(secs(60.0), 0.5);
        assert_eq!(e.p50, secs(60.0));
        assert!((e.p20.as_secs_f64() - 39.39).abs() < 0.01, "{e:?}");
        assert!((e.p95.as_secs_f64() - 136.56).abs() < 0.01, "{e:?}");
    }

    #[test]
    fn learned_quantiles_need_enough_samples_and_use_nearest_rank() {
        assert_eq!(Expected::from_samples(&[1.0, 2.0, 3.0, 4.0]), None);
        let e = Expected::from_samples(&[10.0, 1.0, 9.0, 2.0, 8.0, 3.0, 7.0, 4.0, 6.0, 5.0])
            .expect("enough");
        assert_eq!((e.p20, e.p50, e.p95), (secs(2.0), secs(5.0), secs(10.0)));
    }

    #[test]
    fn fixed_pacing_polls_at_once_then_every_interval() {
        let t0 = Instant::now();
        let mut p = Poller::new(Pacing::Fixed(secs(6.0)), t0, 1);
        assert_eq!(p.first_wait(t0), Duration::ZERO);
        assert_eq!(p.next_wait(t0 + secs(50.0)), secs(6.0));
    }

    #[test]
    fn without_progress_polls_are_sparse_before_p20_dense_to_p95_then_back_off() {
        let t0 = Instant::now();
        let mut p = Poller::new(Pacing::Adaptive(adaptive()), t0, 1);
        // The ceiling caps the first wait; then straight to p20.
        assert_eq!(p.first_wait(t0), secs(30.0));
        assert_eq!(p.next_wait(t0 + secs(30.0)), secs(10.0));
        assert_eq!(p.next_wait(t0 + secs(40.0)), secs(2.0));
        assert_eq!(p.next_wait(t0 + secs(99.0)), secs(2.0));
        assert_eq!(p.next_wait(t0 + secs(104.0)), secs(2.0));
        assert_eq!(p.next_wait(t0 + secs(150.0)), secs(12.5));
        assert_eq!(p.next_wait(t0 + secs(1000.0)), secs(30.0));
    }

    #[test]
    fn progress_sets_the_next_poll_just_after_the_extrapolated_end() {
        let t0 = Instant::now();
        let a = Adaptive {
            ceiling: secs(60.0),
            ..adaptive()
        };
        let mut p = Poller::new(Pacing::Adaptive(a), t0, 1);
        let now = t0 + secs(30.0);
        p.observe(
            now,
            &Status::Running {
                progress: Some(0.5),
            },
        );
        // Half done in 30 s: done at 60 s, polled 0.25 s after.
        assert_eq!(p.eta(), Some(t0 + secs(60.0)));
        assert_eq!(p.next_wait(now), secs(30.0) + secs(0.25));
        // A slower second answer moves the estimate: 0.5 -> 0.75 in 40 s, 0.25 left = 40 s.
        let later = t0 + secs(70.0);
        p.observe(
            later,
            &Status::Running {
                progress: Some(0.75),
            },
        );
        assert_eq!(p.eta(), Some(t0 + secs(110.0)));
        assert_eq!(p.next_wait(later), secs(40.25));
        // Past the estimate and still running: dense.
        assert_eq!(p.next_wait(t0 + secs(111.0)), secs(2.0));
    }

    #[test]
    fn time_in_the_queue_is_not_counted_as_running() {
        let t0 = Instant::now();
        let mut p = Poller::new(Pacing::Adaptive(adaptive()), t0, 1);
        p.observe(t0 + secs(20.0), &Status::Queued { position: Some(3) });
        p.observe(
            t0 + secs(40.0),
            &Status::Running {
                progress: Some(0.25),
            },
        );
        // Running since it was last seen queued (20 s): a quarter in 20 s, 60 s more.
        assert_eq!(p.eta(), Some(t0 + secs(100.0)));
    }

    #[test]
    fn the_floor_holds_even_when_the_estimate_is_imminent() {
        let t0 = Instant::now();
        let a = Adaptive {
            floor: secs(1.0),
            ..adaptive()
        };
        let mut p = Poller::new(Pacing::Adaptive(a), t0, 1);
        let now = t0 + secs(59.9);
        p.observe(
            now,
            &Status::Running {
                progress: Some(0.999),
            },
        );
        assert_eq!(p.next_wait(now), secs(1.0));
    }

    #[test]
    fn jitter_stays_within_its_fraction_and_repeats_for_a_seed() {
        let t0 = Instant::now();
        let a = Adaptive {
            jitter: 0.1,
            ceiling: secs(60.0),
            ..adaptive()
        };
        let waits = |seed| {
            let mut p = Poller::new(Pacing::Adaptive(a), t0, seed);
            p.first_wait(t0)
        };
        let (w1, w2, w3) = (waits(1), waits(1), waits(2));
        assert_eq!(w1, w2);
        assert_ne!(w1, w3);
        for w in [w1, w3] {
            assert!(w >= secs(36.0) && w <= secs(44.0), "{w:?}");
        }
    }

    /// A provider whose job runs `run` from its creation, reporting progress when `reports`;
    /// it records when it was polled, on tokio's clock.
    struct Clocked {
        shape: crate::services::animatic::Animatic,
        born: Instant,
        run: Duration,
        reports: bool,
        pacing: Pacing,
        polls: std::sync::Mutex<Vec<Duration>>,
    }

    impl Clocked {
        fn new(run: f64, reports: bool, pacing: Pacing) -> Self {
            Self {
                shape: crate::services::animatic::Animatic::new(Default::default()),
                born: Instant::now(),
                run: secs(run),
                reports,
                pacing,
                polls: std::sync::Mutex::new(Vec::new()),
            }
        }

        /// Poll times in milliseconds after the job began.
        fn polls_ms(&self) -> Vec<u128> {
            self.polls
                .lock()
                .map(|p| p.iter().map(|d| (d.as_micros() + 500) / 1000).collect())
                .unwrap_or_default()
        }
    }

    #[async_trait::async_trait]
    impl VideoBackend for Clocked {
        fn id(&self) -> &'static str {
            "clocked"
        }
        fn kind(&self) -> crate::backend::BackendKind {
            crate::backend::BackendKind::Hosted
        }
        fn capabilities(&self) -> &crate::capabilities::Capabilities {
            self.shape.capabilities()
        }
        fn estimate_cost(
            &self,
            req: &crate::GenerationRequest,
        ) -> crate::Result<crate::cost::CostEstimate> {
            self.shape.estimate_cost(req)
        }
        fn pacing(&self) -> Pacing {
            self.pacing
        }
        async fn submit(
            &self,
            _req: &crate::GenerationRequest,
            _resolved: &crate::capabilities::Resolved,
        ) -> crate::Result<crate::backend::Ticket> {
            Ok(ticket())
        }
        async fn poll(&self, _ticket: &crate::backend::Ticket) -> crate::Result<Status> {
            let ran = self.born.elapsed();
            if let Ok(mut p) = self.polls.lock() {
                p.push(ran);
            }
            Ok(if ran >= self.run {
                Status::Succeeded {
                    output: crate::backend::Output::Url {
                        url: "http://127.0.0.1:1/v.mp4".into(),
                    },
                    cost: None,
                }
            } else {
                Status::Running {
                    progress: self
                        .reports
                        .then(|| (ran.as_secs_f64() / self.run.as_secs_f64()) as f32),
                }
            })
        }
        async fn fetch(
            &self,
            _output: &crate::backend::Output,
            _into: &std::path::Path,
            _events: crate::backend::EventSink<'_>,
        ) -> crate::Result<u64> {
            Ok(0)
        }
        async fn cancel(&self, _ticket: &crate::backend::Ticket) -> crate::Result<()> {
            Ok(())
        }
    }

    fn ticket() -> crate::backend::Ticket {
        crate::backend::Ticket {
            backend: "clocked".into(),
            id: "task-1".into(),
            model: None,
            data: serde_json::Value::Null,
            submitted_at: chrono::Utc::now(),
        }
    }

    async fn wait(backend: &Clocked) -> Vec<u128> {
        crate::backend::wait_for_output(backend, &ticket(), &crate::backend::no_events)
            .await
            .expect("done");
        backend.polls_ms()
    }

    #[tokio::test(start_paused = true)]
    async fn with_progress_two_polls_notice_a_job_a_quarter_second_after_it_ends() {
        let a = Adaptive {
            ceiling: secs(30.0),
            ..adaptive()
        };
        let b = Clocked::new(50.0, true, Pacing::Adaptive(a));
        // At 30 s (the ceiling, before p20) it is 60 % done: the next poll is at 50 s + guard.
        assert_eq!(wait(&b).await, [30_000, 50_250]);
    }

    #[tokio::test(start_paused = true)]
    async fn without_progress_polls_are_dense_from_p20_only() {
        let b = Clocked::new(47.0, false, Pacing::Adaptive(adaptive()));
        assert_eq!(
            wait(&b).await,
            [30_000, 40_000, 42_000, 44_000, 46_000, 48_000]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fixed_pacing_polls_at_once_and_every_interval() {
        let b = Clocked::new(47.0, true, Pacing::Fixed(secs(6.0)));
        assert_eq!(
            wait(&b).await,
            [
                0, 6_000, 12_000, 18_000, 24_000, 30_000, 36_000, 42_000, 48_000
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_adaptive_layer_replaces_a_backends_fixed_interval() {
        let inner = Arc::new(Clocked::new(60.0, true, Pacing::Fixed(secs(6.0))));
        let wrapped = super::adaptive(inner.clone(), Some(adaptive_settings()));
        assert_eq!(wrapped.pacing(), Pacing::Adaptive(adaptive_settings()));
        let typical = super::adaptive(inner, None);
        let (median, _) = super::typical("clocked", None);
        let Pacing::Adaptive(a) = typical.pacing() else {
            panic!("adaptive expected");
        };
        assert_eq!(a.expected.p50, median);
    }

    fn adaptive_settings() -> Adaptive {
        adaptive()
    }
}
