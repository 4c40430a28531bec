//! The job state machine, as a pure function so it can be tested on its own.
//!
//! The rules that keep money safe live here and nowhere else: a job is submitted only from
//! `created` and only while it has no ticket; within one attempt a ticket, once saved, is
//! never replaced or dropped; a job whose submit outcome is not known goes to `unknown` and
//! waits for a person. A failed job may start a new attempt (`retry`, or a person naming the
//! provider's task again, or saying it never had it); the old ticket stays in the job's
//! history. The store refuses a retry while a submit of the job may have reached the provider
//! unseen, since the provider may still have it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::backend::Ticket;
use crate::cost::Money;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Recorded; nothing sent yet (or a submit provably never reached the provider).
    Created,
    /// The paid request is being sent. A job found here after a crash is `unknown`.
    Submitting,
    /// The provider accepted the job; the ticket is saved.
    Submitted,
    /// The provider reports the job queued or running.
    Running,
    /// The video is ready and being fetched.
    Downloading,
    /// The video is verified and in place.
    Done,
    /// The job failed; it will not be retried on its own.
    Failed,
    /// The job was cancelled.
    Cancelled,
    /// The submit may or may not have reached the provider; `ttv jobs resolve` settles it.
    Unknown,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 9] = [
        Self::Created,
        Self::Submitting,
        Self::Submitted,
        Self::Running,
        Self::Downloading,
        Self::Done,
        Self::Failed,
        Self::Cancelled,
        Self::Unknown,
    ];

    /// The stable name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Submitting => "submitting",
            Self::Submitted => "submitted",
            Self::Running => "running",
            Self::Downloading => "downloading",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Unknown => "unknown",
        }
    }

    /// Whether nothing more will happen to the job.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }

    /// Whether `ttv jobs resume` can carry the job on by polling its ticket.
    pub fn has_remote_job(self) -> bool {
        matches!(self, Self::Submitted | Self::Running | Self::Downloading)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown job state {s:?}"))
    }
}

/// Something that happened to a job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// The paid request is about to be sent.
    BeginSubmit,
    /// The provider accepted the job.
    Submitted(Ticket),
    /// The submit failed before the provider could have received it.
    SubmitNotSent(String),
    /// The submit failed in a way that may have reached the provider.
    SubmitAmbiguous(String),
    /// The provider reports the job queued or running.
    Running,
    /// The video is ready; `charged` is what the provider says it cost.
    Downloading {
        /// The provider's charge, when it says.
        charged: Option<Money>,
    },
    /// The video is verified at the output path.
    Done,
    /// The job failed for good.
    Failed(String),
    /// The job was cancelled.
    Cancelled,
    /// A person says the submit did reach the provider, under this ticket.
    ResolveSubmitted(Ticket),
    /// ttv looked the request up at the provider and found it, under this ticket.
    Settled(Ticket),
    /// A person says the submit never reached the provider: the job may be submitted again.
    ResolveNotSubmitted,
    /// A person gives the job up.
    ResolveFailed(String),
    /// A process found the job in `submitting`: it stopped while sending the paid request.
    Interrupted,
    /// A failed job starts a new attempt: it may be submitted again.
    Retry,
}

impl JobEvent {
    /// A short name for the history table.
    pub fn name(&self) -> &'static str {
        match self {
            Self::BeginSubmit => "begin_submit",
            Self::Submitted(_) => "submitted",
            Self::SubmitNotSent(_) => "submit_not_sent",
            Self::SubmitAmbiguous(_) => "submit_ambiguous",
            Self::Running => "running",
            Self::Downloading { .. } => "downloading",
            Self::Done => "done",
            Self::Failed(_) => "failed",
            Self::Cancelled => "cancelled",
            Self::ResolveSubmitted(_) => "resolve_submitted",
            Self::Settled(_) => "settled",
            Self::ResolveNotSubmitted => "resolve_not_submitted",
            Self::ResolveFailed(_) => "resolve_failed",
            Self::Interrupted => "interrupted",
            Self::Retry => "retry",
        }
    }
}

/// What a job is made of, as far as the state machine cares.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Machine {
    /// Where the job is.
    pub state: Option<JobState>,
    /// The provider's ticket, once known.
    pub ticket: Option<Ticket>,
    /// How many paid requests were sent (or may have been).
    pub submits: u32,
    /// The last error.
    pub error: Option<String>,
    /// What the provider said it charged.
    pub charged: Option<Money>,
}

/// An event that does not apply in the job's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The state the job was in.
    pub state: JobState,
    /// The event's name.
    pub event: &'static str,
    /// Why.
    pub reason: &'static str,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a job in state {} cannot take {}: {}",
            self.state, self.event, self.reason
        )
    }
}

impl Machine {
    /// A new job, in `created`.
    pub fn new() -> Self {
        Self {
            state: Some(JobState::Created),
            ..Self::default()
        }
    }

    /// The state (`created` for a blank machine).
    pub fn state(&self) -> JobState {
        self.state.unwrap_or(JobState::Created)
    }

    /// Applies `event`, or says why it does not apply. Nothing changes on refusal.
    pub fn apply(&mut self, event: &JobEvent) -> Result<(), Refused> {
        use JobState as S;
        let state = self.state();
        let refuse = |reason| Refused {
            state,
            event: event.name(),
            reason,
        };
        let next = match (state, event) {
            (S::Created, JobEvent::BeginSubmit) if self.ticket.is_none() => {
                self.submits += 1;
                S::Submitting
            }
            (_, JobEvent::BeginSubmit) => {
                return Err(refuse("only a job that was never submitted is submitted"));
            }
            (S::Submitting, JobEvent::Submitted(ticket)) => {
                self.ticket = Some(ticket.clone());
                self.error = None;
                S::Submitted
            }
            // The late answer of a submit that another process already marked unknown.
            (S::Unknown, JobEvent::Submitted(ticket)) if self.ticket.is_none() => {
                self.ticket = Some(ticket.clone());
                self.error = None;
                S::Submitted
            }
            (S::Submitting, JobEvent::SubmitNotSent(e)) => {
                self.error = Some(e.clone());
                S::Created
            }
            (S::Submitting, JobEvent::SubmitAmbiguous(e)) => {
                self.error = Some(e.clone());
                S::Unknown
            }
            (S::Submitting, JobEvent::Interrupted) => {
                self.error = Some(
                    "the process stopped while sending the paid request; the provider may have the job"
                        .to_owned(),
                );
                S::Unknown
            }
            (S::Submitted | S::Running, JobEvent::Running) => S::Running,
            (S::Submitted | S::Running | S::Downloading, JobEvent::Downloading { charged }) => {
                if charged.is_some() {
                    self.charged = charged.clone();
                }
                S::Downloading
            }
            (S::Downloading, JobEvent::Done) => {
                self.error = None;
                S::Done
            }
            (s, JobEvent::Failed(e)) if !s.is_terminal() && s != S::Submitting => {
                self.error = Some(e.clone());
                S::Failed
            }
            (s, JobEvent::Cancelled) if !s.is_terminal() && s != S::Submitting => S::Cancelled,
            (S::Unknown, JobEvent::ResolveSubmitted(ticket) | JobEvent::Settled(ticket))
                if self.ticket.is_none() =>
            {
                self.ticket = Some(ticket.clone());
                self.error = None;
                S::Submitted
            }
            (S::Unknown, JobEvent::ResolveNotSubmitted) if self.ticket.is_none() => {
                self.error = None;
                S::Created
            }
            (S::Unknown, JobEvent::ResolveFailed(e)) => {
                self.error = Some(e.clone());
                S::Failed
            }
            // A new attempt: the failed attempt's ticket is in the history.
            (S::Failed, JobEvent::Retry) => {
                self.ticket = None;
                self.error = None;
                S::Created
            }
            // A person names the provider's task again (the first name was wrong).
            (S::Failed, JobEvent::ResolveSubmitted(ticket)) => {
                self.ticket = Some(ticket.clone());
                self.error = None;
                S::Submitted
            }
            // A person says the provider never had the job: it may be submitted again.
            (S::Failed, JobEvent::ResolveNotSubmitted) => {
                self.ticket = None;
                self.error = None;
                S::Created
            }
            (S::Failed, _) => {
                return Err(refuse(
                    "run it again with `ttv generate --job-id` and the same arguments (a new attempt), or name the provider's task with `ttv jobs resolve --submitted`",
                ));
            }
            (S::Unknown, _) => {
                return Err(refuse(
                    "settle it first with `ttv jobs resolve` (submitted, not-submitted or failed)",
                ));
            }
            (s, _) if s.is_terminal() => return Err(refuse("the job is finished")),
            _ => return Err(refuse("not a step of the job's life cycle")),
        };
        self.state = Some(next);
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ticket(n: u8) -> Ticket {
        Ticket {
            backend: "runway".into(),
            id: format!("task-{n}"),
            model: None,
            data: serde_json::Value::Null,
            submitted_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    pub(crate) fn event() -> impl Strategy<Value = JobEvent> {
        prop_oneof![
            Just(JobEvent::BeginSubmit),
            (0u8..4).prop_map(|n| JobEvent::Submitted(ticket(n))),
            Just(JobEvent::SubmitNotSent("refused".into())),
            Just(JobEvent::SubmitAmbiguous("timeout".into())),
            Just(JobEvent::Running),
            Just(JobEvent::Downloading { charged: None }),
            Just(JobEvent::Done),
            Just(JobEvent::Failed("x".into())),
            Just(JobEvent::Cancelled),
            (0u8..4).prop_map(|n| JobEvent::ResolveSubmitted(ticket(n))),
            (0u8..4).prop_map(|n| JobEvent::Settled(ticket(n))),
            Just(JobEvent::ResolveNotSubmitted),
            Just(JobEvent::ResolveFailed("given up".into())),
            Just(JobEvent::Interrupted),
            Just(JobEvent::Retry),
        ]
    }

    proptest! {
        #[test]
        fn no_sequence_of_events_loses_a_ticket_or_submits_twice(
            events in proptest::collection::vec(event(), 0..40)
        ) {
            let mut m = Machine::new();
            // Submits a person or the transport has proven never arrived may be repeated.
            let mut proven_unsent = 0u32;
            for e in &events {
                let before = m.clone();
                match m.apply(e) {
                    Ok(()) => {
                        // Only a new attempt of a failed job starts without the old ticket.
                        if let Some(t) = &before.ticket
                            && before.state() != JobState::Failed
                        {
                            prop_assert_eq!(m.ticket.as_ref(), Some(t), "a saved ticket changed");
                        }
                        if matches!(
                            e,
                            JobEvent::SubmitNotSent(_) | JobEvent::ResolveNotSubmitted | JobEvent::Retry
                        ) {
                            proven_unsent += 1;
                        }
                        if matches!(e, JobEvent::BeginSubmit) {
                            prop_assert!(before.ticket.is_none());
                        }
                    }
                    Err(_) => prop_assert_eq!(&m, &before, "a refused event changed the job"),
                }
                prop_assert!(m.submits <= 1 + proven_unsent, "submitted twice: {:?}", events);
                prop_assert!(
                    !m.state().has_remote_job() || m.ticket.is_some(),
                    "a job with a remote job has no ticket"
                );
                if m.state() == JobState::Done {
                    prop_assert!(m.ticket.is_some());
                }
            }
        }

        #[test]
        fn finished_jobs_take_no_more_events(events in proptest::collection::vec(event(), 0..20)) {
            for end in [JobState::Done, JobState::Cancelled] {
                let mut m = Machine { state: Some(end), ticket: Some(ticket(0)), ..Machine::new() };
                for e in &events {
                    prop_assert!(m.apply(e).is_err());
                    prop_assert_eq!(m.state(), end);
                }
            }
        }
    }

    #[test]
    fn the_happy_path_runs_from_created_to_done() {
        let mut m = Machine::new();
        for e in [
            JobEvent::BeginSubmit,
            JobEvent::Submitted(ticket(1)),
            JobEvent::Running,
            JobEvent::Running,
            JobEvent::Downloading { charged: None },
            JobEvent::Done,
        ] {
            m.apply(&e).unwrap();
        }
        assert_eq!(m.state(), JobState::Done);
        assert_eq!(m.submits, 1);
    }

    #[test]
    fn an_ambiguous_submit_waits_for_a_person() {
        let mut m = Machine::new();
        m.apply(&JobEvent::BeginSubmit).unwrap();
        m.apply(&JobEvent::SubmitAmbiguous("HTTP 502".into()))
            .unwrap();
        assert_eq!(m.state(), JobState::Unknown);
        let refused = m.apply(&JobEvent::BeginSubmit).unwrap_err();
        assert!(refused.to_string().contains("cannot take begin_submit"));
        m.apply(&JobEvent::ResolveSubmitted(ticket(7))).unwrap();
        assert_eq!(m.state(), JobState::Submitted);
        assert_eq!(m.ticket.as_ref().map(|t| t.id.as_str()), Some("task-7"));
    }

    #[test]
    fn a_failed_job_takes_only_a_new_attempt_or_a_task_named_again() {
        let failed = || Machine {
            state: Some(JobState::Failed),
            ticket: Some(ticket(1)),
            submits: 1,
            error: Some("task not found".into()),
            charged: None,
        };
        for e in [JobEvent::Running, JobEvent::Done, JobEvent::Cancelled] {
            let mut m = failed();
            let refused = m.apply(&e).unwrap_err();
            assert!(
                refused.to_string().contains("ttv generate --job-id"),
                "{refused}"
            );
            assert_eq!(m, failed());
        }
        let mut m = failed();
        m.apply(&JobEvent::Retry).unwrap();
        assert_eq!(
            (m.state(), m.ticket.as_ref(), m.submits),
            (JobState::Created, None, 1)
        );
        m.apply(&JobEvent::BeginSubmit).unwrap();
        assert_eq!(m.submits, 2);
        let mut m = failed();
        m.apply(&JobEvent::ResolveSubmitted(ticket(2))).unwrap();
        assert_eq!(m.state(), JobState::Submitted);
        assert_eq!(m.ticket.as_ref().map(|t| t.id.as_str()), Some("task-2"));
    }

    #[test]
    fn state_names_round_trip() {
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>(), Ok(s));
        }
    }
}
