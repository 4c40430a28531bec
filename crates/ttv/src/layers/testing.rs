//! A backend with scripted answers, for the layers' tests: it records each call, marks its
//! request as sent when told to, takes a (virtual) time to answer, and answers in order.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::{Answer, Op};
use crate::backend::{BackendKind, EventSink, Output, Status, Ticket, VideoBackend};
use crate::capabilities::{Capabilities, Resolved};
use crate::cost::CostEstimate;
use crate::error::{Error, ErrorKind, Result};
use crate::request::GenerationRequest;
use crate::services::animatic::{Animatic, AnimaticOptions};

/// The request every scripted call is made with.
pub(crate) fn req() -> GenerationRequest {
    GenerationRequest::text("a scripted test")
}

pub(crate) struct Scripted {
    shape: Animatic,
    answers: Mutex<VecDeque<Result<Answer>>>,
    calls: Mutex<Vec<Op>>,
    delay: Mutex<Duration>,
    sends: Mutex<bool>,
}

impl Scripted {
    /// A backend answering `answers` in order, at once, without marking anything sent.
    pub(crate) fn new(answers: Vec<Result<Answer>>) -> Arc<Self> {
        Arc::new(Self {
            shape: Animatic::new(AnimaticOptions::default()),
            answers: Mutex::new(answers.into()),
            calls: Mutex::new(Vec::new()),
            delay: Mutex::new(Duration::ZERO),
            sends: Mutex::new(false),
        })
    }

    /// Each call takes `delay` (after its request is sent, when [`Scripted::sending`]).
    pub(crate) fn slow(self: Arc<Self>, delay: Duration) -> Arc<Self> {
        *self.delay.lock().unwrap() = delay;
        self
    }

    /// Each call hands its request to the "HTTP client" at once.
    pub(crate) fn sending(self: Arc<Self>) -> Arc<Self> {
        *self.sends.lock().unwrap() = true;
        self
    }

    /// The calls received, in order.
    pub(crate) fn calls(&self) -> Vec<Op> {
        self.calls.lock().unwrap().clone()
    }

    pub(crate) fn resolved(&self) -> Resolved {
        self.shape.validate(&req()).unwrap()
    }

    pub(crate) fn ticket() -> Ticket {
        Ticket {
            backend: "scripted".into(),
            id: "t-1".into(),
            model: None,
            data: serde_json::Value::Null,
            submitted_at: chrono::Utc::now(),
        }
    }

    pub(crate) fn running() -> Answer {
        Answer::Status(Status::Running { progress: None })
    }

    pub(crate) fn submitted() -> Answer {
        Answer::Ticket(Self::ticket())
    }

    async fn call(&self, op: Op) -> Result<Answer> {
        self.calls.lock().unwrap().push(op);
        if *self.sends.lock().unwrap() {
            super::timeout::mark_sent();
        }
        let delay = *self.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Err(Error::new(ErrorKind::Io, "no scripted answer left")))
    }
}

fn wrong(op: Op) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("scripted answer of the wrong kind for {op}"),
    )
}

#[async_trait]
impl VideoBackend for Scripted {
    fn id(&self) -> &'static str {
        "scripted"
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Hosted
    }

    fn capabilities(&self) -> &Capabilities {
        self.shape.capabilities()
    }

    fn estimate_cost(&self, req: &GenerationRequest) -> Result<CostEstimate> {
        self.shape.estimate_cost(req)
    }

    async fn submit(&self, _req: &GenerationRequest, _resolved: &Resolved) -> Result<Ticket> {
        match self.call(Op::Submit).await? {
            Answer::Ticket(t) => Ok(t),
            _ => Err(wrong(Op::Submit)),
        }
    }

    async fn poll(&self, _ticket: &Ticket) -> Result<Status> {
        match self.call(Op::Poll).await? {
            Answer::Status(s) => Ok(s),
            _ => Err(wrong(Op::Poll)),
        }
    }

    async fn fetch(&self, _output: &Output, _into: &Path, _events: EventSink<'_>) -> Result<u64> {
        match self.call(Op::Fetch).await? {
            Answer::Fetched(n) => Ok(n),
            _ => Err(wrong(Op::Fetch)),
        }
    }

    async fn cancel(&self, _ticket: &Ticket) -> Result<()> {
        match self.call(Op::Cancel).await? {
            Answer::Cancelled => Ok(()),
            _ => Err(wrong(Op::Cancel)),
        }
    }
}
