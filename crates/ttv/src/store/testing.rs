//! Help for tests that run against a real PostgreSQL server: `.ci/run` starts a throwaway
//! cluster and sets `TTV_TEST_POSTGRES_URL`; each test gets a database of its own. Outside CI
//! without it, tests skip with a message; under `CI=true` a missing server is a failure, so
//! that CI never passes by skipping.

/// The variable that names the test server (a URL to its `postgres` database).
pub const VAR: &str = "TTV_TEST_POSTGRES_URL";

/// A URL to a fresh, empty database (`ttv_test_<uuid>`) on the test server, or `None` (with a
/// message naming `test`) when there is none outside CI.
///
/// # Panics
/// Under `CI=true` without the variable, and when the server cannot be reached: these are
/// test failures, not reasons to skip.
pub fn fresh_database(test: &str) -> Option<String> {
    let admin = match std::env::var(VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test}: {VAR} is not set under CI=true; .ci/run starts PostgreSQL and sets it")
        }
        _ => {
            eprintln!(
                "skipping the PostgreSQL part of {test}: {VAR} is not set (.ci/run starts a server and sets it)"
            );
            return None;
        }
    };
    let name = format!("ttv_test_{}", uuid::Uuid::new_v4().simple());
    let create = {
        let (admin, name) = (admin.clone(), name.clone());
        // A thread of its own: the client runs a small runtime that must not nest in a test's.
        std::thread::spawn(move || {
            let mut client = ::postgres::Client::connect(&admin, ::postgres::NoTls)?;
            client.batch_execute(&format!("CREATE DATABASE {name}"))
        })
        .join()
    };
    match create {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!(
            "{test}: cannot create a database on {}: {e}",
            super::redact_url(&admin)
        ),
        Err(_) => panic!("{test}: creating a test database panicked"),
    }
    let mut url =
        url::Url::parse(&admin).unwrap_or_else(|e| panic!("{test}: {VAR} is not a URL: {e}"));
    url.set_path(&name);
    Some(url.to_string())
}
