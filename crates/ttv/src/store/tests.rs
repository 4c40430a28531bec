//! The store's test suite, run against both engines: SQLite always, PostgreSQL when the
//! test server is there (see [`super::testing`]).

use std::sync::OnceLock;
use std::time::Duration;

use super::*;
use crate::request::{Mode, Resolution, VideoDuration};

pub(crate) fn new_job(id: &str) -> NewJob {
    NewJob {
        id: id.to_owned(),
        backend: "runway".into(),
        model: Some("gen4.5".into()),
        request: serde_json::json!({ "prompt": "a kite" }),
        resolved: Resolved {
            mode: Mode::TextToVideo,
            duration: VideoDuration::from_secs(2),
            resolution: Resolution::new(1280, 720),
            fps: 24,
            frames: 48,
        },
        estimate: CostEstimate::free("test"),
        out: PathBuf::from("/videos/kite.mp4"),
    }
}

fn ticket(id: &str) -> Ticket {
    Ticket {
        backend: "runway".into(),
        id: id.into(),
        model: None,
        data: serde_json::Value::Null,
        submitted_at: Utc::now(),
    }
}

/// Opens one database again each time it is called (a new process would).
type Opener = Box<dyn Fn() -> Store>;

/// Runs `f` on a SQLite file, then on a fresh PostgreSQL database when there is one.
fn each_engine(test: &str, f: impl Fn(&str, &Opener)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let sqlite: Opener = Box::new(move || Store::open_in(&path).unwrap());
    f("sqlite", &sqlite);
    if let Some(url) = testing::fresh_database(test) {
        let pg: Opener = Box::new(move || Store::connect(&url).unwrap());
        f("postgres", &pg);
    }
}

#[test]
fn a_job_survives_reopening_the_store_with_its_ticket() {
    each_engine("a_job_survives_reopening_the_store", |engine, open| {
        {
            let store = open();
            assert_eq!(store.engine(), engine);
            store.create(&new_job("j1")).unwrap();
            store.apply("j1", &JobEvent::BeginSubmit).unwrap();
            store
                .apply("j1", &JobEvent::Submitted(ticket("task-9")))
                .unwrap();
        }
        let store = open();
        let job = store.job("j1").unwrap();
        assert_eq!(job.state, JobState::Submitted, "{engine}");
        assert_eq!(job.ticket.unwrap().id, "task-9");
        assert_eq!(job.submits, 1);
        assert_eq!(job.resolved.frames, 48);
        assert_eq!(job.model.as_deref(), Some("gen4.5"));
        let events: Vec<_> = store
            .history("j1")
            .unwrap()
            .into_iter()
            .map(|h| h.event)
            .collect();
        assert_eq!(events, ["created", "begin_submit", "submitted"], "{engine}");
    });
}

#[test]
fn a_second_submit_is_refused_and_changes_nothing() {
    each_engine("a_second_submit_is_refused", |engine, open| {
        let store = open();
        store.create(&new_job("j")).unwrap();
        store.apply("j", &JobEvent::BeginSubmit).unwrap();
        let err = store.apply("j", &JobEvent::BeginSubmit).unwrap_err();
        assert!(matches!(err, StoreError::Refused { .. }), "{engine}: {err}");
        assert_eq!(store.job("j").unwrap().submits, 1);
        assert_eq!(store.job("j").unwrap().state, JobState::Submitting);
        assert_eq!(store.history("j").unwrap().len(), 2, "{engine}");
    });
}

#[test]
fn ids_are_unique_and_missing_jobs_are_named() {
    each_engine("ids_are_unique", |engine, open| {
        let store = open();
        store.create(&new_job("j")).unwrap();
        assert!(
            matches!(store.create(&new_job("j")), Err(StoreError::Exists(_))),
            "{engine}"
        );
        let err = Error::from(store.job("nope").unwrap_err());
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(err.to_string().contains("no job \"nope\""), "{engine}");
    });
}

#[test]
fn a_damaged_store_is_named_with_how_to_recover_and_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    std::fs::write(&path, b"this is not a database, only some bytes").unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("is damaged"), "{text}");
    assert!(text.contains(".damaged`"), "{text}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"this is not a database, only some bytes"
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::TooNew { found: 99, .. })
    ));
    let Some(url) = testing::fresh_database("a_newer_schema_is_refused") else {
        return;
    };
    drop(Store::connect(&url).unwrap());
    let bump = url.clone();
    std::thread::spawn(move || {
        let mut c = ::postgres::Client::connect(&bump, ::postgres::NoTls).unwrap();
        c.batch_execute("UPDATE ttv_schema SET version = 99")
            .unwrap();
    })
    .join()
    .unwrap();
    assert!(matches!(
        Store::connect(&url),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}

#[test]
fn a_store_url_password_is_kept_out_of_debug_errors_and_paths() {
    // Nothing listens on port 9 of this machine: the connection fails.
    let url = "postgres://ttv:hunter2-secret@127.0.0.1:9/jobs";
    let err = Store::connect(url).unwrap_err();
    let mut shown = format!("{err} {err:?}");
    let err = Error::from(err);
    shown.push_str(&format!(" {err} {err:?}"));
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains("postgres://ttv:***@127.0.0.1:9/jobs"),
        "{shown}"
    );
    let bad = Store::connect("mysql://root:hunter2@db/x").unwrap_err();
    assert!(matches!(bad, StoreError::BadUrl { .. }), "{bad}");
    assert!(!bad.to_string().contains("hunter2"), "{bad}");
    assert!(bad.to_string().contains("postgres://USER"), "{bad}");
    let Some(url) = testing::fresh_database("a_store_url_password_is_kept_out") else {
        return;
    };
    // Trust authentication ignores the password; it must still never be shown.
    let mut with_password = url::Url::parse(&url).unwrap();
    with_password.set_password(Some("hunter2-secret")).unwrap();
    let store = Store::connect(with_password.as_str()).unwrap();
    let shown = format!("{store:?} {}", store.path());
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains(":***@"), "{shown}");
}

fn pg_for_proptest() -> Option<&'static Store> {
    static PG: OnceLock<Option<Store>> = OnceLock::new();
    PG.get_or_init(|| {
        testing::fresh_database("the_stored_job_follows_the_state_machine")
            .map(|url| Store::connect(&url).unwrap())
    })
    .as_ref()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// The same random events through the database, on both engines: what is stored is what
    /// the state machine says, a saved ticket never changes, and refused events change
    /// nothing.
    #[test]
    fn the_stored_job_follows_the_state_machine(
        events in proptest::collection::vec(state::tests::event(), 0..30)
    ) {
        let sqlite = Store::in_memory().unwrap();
        let mut stores = vec![&sqlite];
        stores.extend(pg_for_proptest());
        for store in stores {
            let id = format!("p-{}", uuid::Uuid::new_v4().simple());
            store.create(&new_job(&id)).unwrap();
            let mut machine = Machine::new();
            let mut history = 1;
            // The store refuses to retry a job whose submit may have arrived unseen.
            let mut unsettled = false;
            for e in &events {
                let before = store.job(&id).unwrap();
                let stored = store.apply(&id, e);
                let expected = if *e == JobEvent::Retry && unsettled {
                    Err(())
                } else {
                    machine.apply(e).map_err(drop)
                };
                if expected.is_ok() {
                    match e {
                        JobEvent::SubmitAmbiguous(_) | JobEvent::Interrupted => unsettled = true,
                        JobEvent::ResolveNotSubmitted
                        | JobEvent::Running
                        | JobEvent::Downloading { .. }
                        | JobEvent::Done
                        | JobEvent::Retry => unsettled = false,
                        _ => {}
                    }
                }
                proptest::prop_assert_eq!(stored.is_ok(), expected.is_ok());
                let after = store.job(&id).unwrap();
                if let Ok(returned) = &stored {
                    history += 1;
                    proptest::prop_assert_eq!(returned.state, after.state);
                    proptest::prop_assert_eq!(&returned.ticket, &after.ticket);
                    proptest::prop_assert_eq!(returned.updated_at, after.updated_at);
                } else {
                    proptest::prop_assert_eq!(after.updated_at, before.updated_at);
                }
                // Only a new attempt of a failed job leaves its old ticket behind.
                if let Some(t) = &before.ticket
                    && before.state != JobState::Failed
                {
                    proptest::prop_assert_eq!(after.ticket.as_ref(), Some(t));
                }
                proptest::prop_assert_eq!(after.state, machine.state());
                proptest::prop_assert_eq!(after.submits, machine.submits);
                proptest::prop_assert_eq!(&after.ticket, &machine.ticket);
            }
            proptest::prop_assert_eq!(store.history(&id).unwrap().len(), history);
        }
    }
}

#[test]
fn the_ledger_converts_a_charge_in_credits_at_the_estimates_rate_and_says_so() {
    use crate::budget::LedgerBasis;
    use crate::cost::{Currency, Money};
    each_engine("the_ledger_converts_a_charge_in_credits", |engine, open| {
        let store = open();
        let credits = |n: i64| Money {
            micros: n * 1_000_000,
            currency: Currency::Credits("runway".into()),
        };
        let mut job = new_job("c");
        job.estimate = CostEstimate {
            usd: Money::usd_cents(24),
            native: Some(credits(24)),
            basis: "2 s × 12 credits/s".into(),
            source: None,
        };
        store.create(&job).unwrap();
        store
            .create(&NewJob {
                id: "e".into(),
                ..job.clone()
            })
            .unwrap();
        for id in ["c", "e"] {
            store.apply(id, &JobEvent::BeginSubmit).unwrap();
            store.apply(id, &JobEvent::Submitted(ticket(id))).unwrap();
        }
        store
            .apply(
                "c",
                &JobEvent::Downloading {
                    charged: Some(credits(10)),
                },
            )
            .unwrap();
        let ledger = store.ledger().unwrap();
        let by = |id: &str| ledger.iter().find(|e| e.job_id == id).unwrap().clone();
        assert_eq!(
            (by("c").usd_micros, by("c").basis),
            (100_000, LedgerBasis::ChargedInCredits),
            "{engine}"
        );
        assert_eq!(
            (by("e").usd_micros, by("e").basis),
            (240_000, LedgerBasis::Estimate),
            "{engine}"
        );
    });
}

#[test]
fn list_filters_by_state() {
    each_engine("list_filters_by_state", |engine, open| {
        let store = open();
        store.create(&new_job("a")).unwrap();
        store.create(&new_job("b")).unwrap();
        store.apply("b", &JobEvent::Cancelled).unwrap();
        let ids = |s: &[JobState]| -> Vec<String> {
            store.list(s).unwrap().into_iter().map(|j| j.id).collect()
        };
        assert_eq!(ids(&[JobState::Cancelled]), ["b"], "{engine}");
        assert_eq!(ids(&[JobState::Cancelled, JobState::Created]).len(), 2);
        assert_eq!(ids(&[]).len(), 2);
        let counts = store.state_counts().unwrap();
        assert!(
            counts.contains(&(JobState::Cancelled, 1)),
            "{engine}: {counts:?}"
        );
    });
}

#[test]
fn a_job_is_run_by_one_process_at_a_time() {
    each_engine("a_job_is_run_by_one_process_at_a_time", |engine, open| {
        let (a, b) = (open(), open());
        let held = a.lock_job("busy").unwrap().expect("free at first");
        assert!(b.lock_job("busy").unwrap().is_none(), "{engine}");
        assert!(b.lock_job("other").unwrap().is_some(), "{engine}");
        drop(held);
        // PostgreSQL lets go of the lock when the session closes, a moment after the drop.
        let mut again = None;
        for _ in 0..100 {
            again = b.lock_job("busy").unwrap();
            if again.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(again.is_some(), "{engine}: the lock was not released");
    });
}

#[test]
fn processes_racing_at_a_daily_budget_never_pass_it_together() {
    use crate::cost::Money;
    each_engine("processes_racing_at_a_daily_budget", |engine, open| {
        // Ten jobs of 10 cents, a budget of 35 cents: exactly three may begin.
        let setup = open();
        for i in 0..10 {
            let mut job = new_job(&format!("b{i}"));
            job.estimate = CostEstimate {
                usd: Money::usd_cents(10),
                native: None,
                basis: "test".into(),
                source: None,
            };
            setup.create(&job).unwrap();
        }
        let budget = crate::budget::Budget {
            per_day_usd: Some(0.35),
            ..Default::default()
        };
        let began = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for i in 0..10 {
                let (store, budget, began) = (open(), budget.clone(), &began);
                scope.spawn(move || {
                    let outcome = store
                        .begin_submit_within(&format!("b{i}"), &budget, Utc::now())
                        .unwrap();
                    if outcome.is_ok() {
                        began.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(began.into_inner(), 3, "{engine}");
        let jobs = setup.list(&[]).unwrap();
        let submitting = jobs
            .iter()
            .filter(|j| j.state == JobState::Submitting)
            .count();
        let failed: Vec<_> = jobs
            .iter()
            .filter(|j| j.state == JobState::Failed)
            .collect();
        assert_eq!((submitting, failed.len()), (3, 7), "{engine}");
        assert!(
            failed[0]
                .error
                .as_deref()
                .unwrap_or("")
                .contains("per-day budget"),
            "{engine}: {:?}",
            failed[0].error
        );
        let spent: i64 = setup.ledger().unwrap().iter().map(|e| e.usd_micros).sum();
        assert_eq!(spent, 300_000, "{engine}");
    });
}

#[test]
fn a_queued_job_is_claimed_once_and_again_only_after_its_lease_runs_out() {
    each_engine("a_queued_job_is_claimed_once", |engine, open| {
        let store = open();
        let payload = serde_json::json!({ "prompt": "a kite" });
        assert!(store.enqueue("q1", &payload).unwrap());
        assert!(!store.enqueue("q1", &payload).unwrap(), "{engine}");
        let lease = Duration::from_millis(300);
        let first = store.claim("w1", lease, None).unwrap().expect("a job");
        assert_eq!((first.id.as_str(), first.claims), ("q1", 1));
        assert_eq!(first.payload, payload);
        assert!(
            store.claim("w2", lease, None).unwrap().is_none(),
            "{engine}"
        );
        assert!(store.heartbeat("q1", "w1", lease).unwrap());
        assert!(!store.heartbeat("q1", "w2", lease).unwrap());
        // w1 stops renewing (it died): once the lease is over, w2 takes the job.
        std::thread::sleep(lease + Duration::from_millis(100));
        let second = store
            .claim("w2", lease, None)
            .unwrap()
            .expect("lease ran out");
        assert_eq!((second.id.as_str(), second.claims), ("q1", 2), "{engine}");
        assert!(!store.heartbeat("q1", "w1", lease).unwrap(), "{engine}");
        assert!(!store.finish("q1", "w1", "done").unwrap());
        assert!(store.finish("q1", "w2", "done").unwrap());
        let row = store.queued("q1").unwrap().unwrap();
        assert_eq!(
            (row.state, row.outcome.as_deref()),
            (QueueState::Finished, Some("done"))
        );
        assert!(store.claim("w3", lease, None).unwrap().is_none());
    });
}

#[test]
fn a_released_job_goes_back_and_a_cancelled_one_is_never_claimed() {
    each_engine("a_released_job_goes_back", |engine, open| {
        let store = open();
        let lease = Duration::from_secs(30);
        store.enqueue("a", &serde_json::json!(1)).unwrap();
        store.enqueue("b", &serde_json::json!(2)).unwrap();
        assert!(store.cancel_queued("b").unwrap());
        let a = store.claim("w1", lease, None).unwrap().unwrap();
        assert!(!store.cancel_queued("a").unwrap(), "{engine}");
        assert!(store.release(&a.id, "w1").unwrap());
        let again = store.claim("w2", lease, None).unwrap().unwrap();
        assert_eq!(again.id, "a", "{engine}");
        assert!(
            store.claim("w3", lease, None).unwrap().is_none(),
            "{engine}"
        );
        let counts = store.queue_counts().unwrap();
        assert!(counts.contains(&(QueueState::Claimed, 1)), "{counts:?}");
        assert!(counts.contains(&(QueueState::Finished, 1)), "{counts:?}");
    });
}

#[test]
fn workers_claiming_at_once_take_each_job_exactly_once_within_the_in_flight_limit() {
    each_engine("workers_claiming_at_once", |engine, open| {
        let setup = open();
        for i in 0..40 {
            setup
                .enqueue(&format!("c{i:02}"), &serde_json::json!(i))
                .unwrap();
        }
        let lease = Duration::from_secs(60);
        // With at most 5 in flight, 8 workers together hold 5 jobs, each a different one.
        let held = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for w in 0..8 {
                let (store, held) = (open(), &held);
                scope.spawn(move || {
                    while let Some(c) = store.claim(&format!("w{w}"), lease, Some(5)).unwrap() {
                        held.lock().unwrap().push(c.id);
                    }
                });
            }
        });
        let mut held = held.into_inner().unwrap();
        assert_eq!(held.len(), 5, "{engine}: {held:?}");
        held.sort();
        held.dedup();
        assert_eq!(held.len(), 5, "{engine}: a job was claimed twice");
        // Without a limit, every job is claimed by exactly one worker.
        let all = std::sync::Mutex::new(held);
        std::thread::scope(|scope| {
            for w in 0..8 {
                let (store, all) = (open(), &all);
                scope.spawn(move || {
                    while let Some(c) = store.claim(&format!("v{w}"), lease, None).unwrap() {
                        all.lock().unwrap().push(c.id);
                    }
                });
            }
        });
        let mut all = all.into_inner().unwrap();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!((n, all.len()), (40, 40), "{engine}");
    });
}

#[test]
fn a_postgres_listener_is_woken_by_a_queued_job() {
    let sqlite = Store::in_memory().unwrap();
    assert!(sqlite.listen().unwrap().is_none());
    let Some(url) = testing::fresh_database("a_postgres_listener_is_woken") else {
        return;
    };
    let store = Store::connect(&url).unwrap();
    let mut listener = store.listen().unwrap().expect("postgres listens");
    assert!(!listener.wait(Duration::from_millis(50)).unwrap());
    let started = std::time::Instant::now();
    let other = Store::connect(&url).unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        other.enqueue("n1", &serde_json::json!({})).unwrap();
    });
    assert!(listener.wait(Duration::from_secs(10)).unwrap());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn server_records_are_shared_and_one_idempotency_key_makes_one_record() {
    each_engine("server_records_are_shared", |engine, open| {
        let (a, b) = (open(), open());
        let add = |s: &Store, id: &str, key: Option<&str>| {
            s.add_server_record(id, "alice", key, &format!("{{\"id\":\"{id}\"}}"))
                .unwrap()
        };
        assert_eq!(add(&a, "j1", Some("k1")), RecordAdded::Added, "{engine}");
        assert_eq!(add(&b, "j2", None), RecordAdded::Added);
        assert_eq!(add(&b, "j3", None), RecordAdded::Added, "no key, no clash");
        // The same key from the other server: the first record, nothing added.
        assert_eq!(
            add(&b, "j4", Some("k1")),
            RecordAdded::KeyTaken("{\"id\":\"j1\"}".into())
        );
        // Another owner's key of the same name is another key.
        let bob = b
            .add_server_record("j5", "bob", Some("k1"), "{\"id\":\"j5\"}")
            .unwrap();
        assert_eq!(bob, RecordAdded::Added);
        // An id twice is refused.
        assert!(matches!(
            a.add_server_record("j2", "alice", None, "{}"),
            Err(StoreError::Exists(id)) if id == "j2"
        ));
        assert_eq!(
            b.server_record_by_key("alice", "k1").unwrap().as_deref(),
            Some("{\"id\":\"j1\"}")
        );
        assert!(
            a.set_server_record("j2", "{\"id\":\"j2\",\"cancelled\":true}")
                .unwrap()
        );
        assert!(!a.set_server_record("nope", "{}").unwrap());
        assert_eq!(
            b.server_record("j2").unwrap().as_deref(),
            Some("{\"id\":\"j2\",\"cancelled\":true}")
        );
        assert_eq!(b.server_record("nope").unwrap(), None);
        let ids: Vec<String> = open()
            .server_records()
            .unwrap()
            .iter()
            .map(|r| serde_json::from_str::<serde_json::Value>(r).unwrap()["id"].to_string())
            .collect();
        assert_eq!(ids, ["\"j1\"", "\"j2\"", "\"j3\"", "\"j5\""], "{engine}");
    });
}

#[test]
fn stores_racing_the_same_state_change_never_both_win() {
    each_engine("stores_racing_the_same_state_change", |engine, open| {
        let first = open();
        first.create(&new_job("race")).unwrap();
        let stores: Vec<Store> = (0..6).map(|_| open()).collect();
        for store in &stores {
            // Each has seen the job as created: each would decide to begin its submit.
            assert_eq!(store.job("race").unwrap().state, JobState::Created);
        }
        let barrier = std::sync::Barrier::new(stores.len());
        let won: Vec<bool> = std::thread::scope(|scope| {
            let racers: Vec<_> = stores
                .iter()
                .map(|store| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        match store.apply("race", &JobEvent::BeginSubmit) {
                            Ok(_) => true,
                            Err(StoreError::Refused { .. }) => false,
                            Err(e) => panic!("{engine}: {e}"),
                        }
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "{engine}: {won:?}");
        let job = first.job("race").unwrap();
        assert_eq!(
            (job.state, job.submits),
            (JobState::Submitting, 1),
            "{engine}"
        );
        let begun = first
            .history("race")
            .unwrap()
            .iter()
            .filter(|h| h.event == "begin_submit")
            .count();
        assert_eq!(begun, 1, "{engine}: one history row per change");
    });
}

#[test]
fn a_state_change_is_decided_on_the_row_as_it_is_not_as_it_was_seen() {
    each_engine("a_state_change_is_decided_on_the_row", |engine, open| {
        let (a, b) = (open(), open());
        a.create(&new_job("seen")).unwrap();
        assert_eq!(a.job("seen").unwrap().state, JobState::Created);
        // Another process submits the job after `a` looked at it.
        b.apply("seen", &JobEvent::BeginSubmit).unwrap();
        b.apply("seen", &JobEvent::Submitted(ticket("t-1")))
            .unwrap();
        let refused = a.apply("seen", &JobEvent::BeginSubmit).unwrap_err();
        assert!(
            matches!(refused, StoreError::Refused { .. }),
            "{engine}: {refused}"
        );
        let running = a.apply("seen", &JobEvent::Running).unwrap();
        assert_eq!(running.state, JobState::Running, "{engine}");
        assert_eq!(running.ticket.map(|t| t.id).as_deref(), Some("t-1"));
        let last = a.history("seen").unwrap().pop().unwrap();
        assert_eq!(
            (last.from, last.to),
            (JobState::Submitted, JobState::Running)
        );
        assert_eq!(a.job("seen").unwrap().submits, 1, "{engine}");
    });
}

#[test]
fn on_postgres_each_state_change_and_queue_step_of_a_job_is_one_round_trip() {
    let Some(url) = testing::fresh_database("one_round_trip_each") else {
        return;
    };
    let store = Store::connect(&url).unwrap();
    let lease = Duration::from_secs(30);
    let life = |id: &str| {
        store.enqueue(id, &serde_json::json!({})).unwrap();
        let claimed = store.claim("w", lease, None).unwrap().expect("queued");
        assert_eq!(claimed.id, id);
        store.create(&new_job(id)).unwrap();
        let lock = store.lock_job(id).unwrap().expect("free");
        for event in [
            JobEvent::BeginSubmit,
            JobEvent::Submitted(ticket(&format!("t-{id}"))),
            JobEvent::Running,
            JobEvent::Downloading { charged: None },
            JobEvent::Done,
        ] {
            store.apply(id, &event).unwrap();
        }
        drop(lock);
        assert!(store.finish(id, "w", "done").unwrap());
    };
    // The first job prepares each statement on the pool's connections.
    life("warm");
    let before = store.round_trips();
    life("counted");
    let trips = store.round_trips() - before;
    // Enqueue, claim, create, lock, five state changes, unlock, finish.
    assert!(trips <= 11, "{trips} round trips");
    assert_eq!(store.job("counted").unwrap().state, JobState::Done);
    let events: Vec<String> = store
        .history("counted")
        .unwrap()
        .into_iter()
        .map(|h| h.event)
        .collect();
    assert_eq!(
        events,
        [
            "created",
            "begin_submit",
            "submitted",
            "running",
            "downloading",
            "done"
        ]
    );
}
