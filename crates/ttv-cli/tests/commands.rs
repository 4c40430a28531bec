//! Commands around the main one: shell completions and the manual page, prices before keys,
//! and `ttv sim` refusing what it cannot serve with exit code 2.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};

use serde_json::Value;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn completions_for_every_shell_and_the_manual_page_are_printed() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "_ttv()"),
        ("zsh", "#compdef ttv"),
        ("fish", "complete -c ttv"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = common::ttv(dir.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        assert!(
            script.contains("generate") && script.contains("job-id"),
            "{shell}"
        );
    }
    let out = common::ttv(dir.path()).arg("man").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH ttv 1"),
        "{page}"
    );
    assert!(page.contains("generate"), "{page}");

    let out = common::ttv(dir.path())
        .args(["man", "--dir", "man"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let page = std::fs::read_to_string(dir.path().join("man/ttv-generate.1")).unwrap();
    assert!(page.contains("job\\-id"), "{page}");
}

#[test]
fn estimate_prices_every_backend_with_a_price_table_before_any_key_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::ttv(dir.path())
        .args(["--json", "estimate", "-p", "a fox in the snow", "-d", "5"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["estimates"].as_array().unwrap();
    let row = |name: &str| rows.iter().find(|r| r["backend"] == name);
    let runway = row("runway").expect("runway is priced without a key");
    assert_eq!(runway["usable"], false);
    assert!(
        runway["reason"]
            .as_str()
            .unwrap()
            .contains("RUNWAYML_API_SECRET"),
        "{runway}"
    );
    assert!(runway["estimate"]["usd"]["micros"].as_i64().unwrap() > 0);
    assert!(row("fal").is_some(), "{v}");
    assert_eq!(row("animatic").unwrap()["usable"], true);

    let out = common::ttv(dir.path())
        .args(["estimate", "-p", "a fox in the snow", "-d", "5"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let line = table.lines().find(|l| l.starts_with("runway")).unwrap();
    assert!(line.contains("no: set RUNWAYML_API_SECRET"), "{line}");
}

fn sim_refuses(args: &[&str], says: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("typo.yaml"), "runway:\n  run_sec: 2\n").unwrap();
    std::fs::write(
        dir.path().join("chance.yaml"),
        "runway:\n  faults:\n    - { on: submit, probability: 7, fault: server_error }\n",
    )
    .unwrap();
    let out = common::ttv(dir.path())
        .arg("sim")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
}

#[test]
fn sim_refuses_what_it_cannot_serve_with_exit_code_2() {
    sim_refuses(
        &["--scenario", "missing.yaml"],
        "--scenario missing.yaml: cannot read it",
    );
    sim_refuses(&["--scenario", "typo.yaml"], "run_sec");
    sim_refuses(
        &["--scenario", "chance.yaml"],
        "runway.faults[0].probability: 7; expected a chance from 0 to 1",
    );
    sim_refuses(
        &["--run-secs=-1"],
        "--run-secs: -1; expected a number of seconds",
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    sim_refuses(&["--port", &port], "the port is in use");
}

#[test]
fn sim_prints_its_addresses_as_json_and_its_help_names_veo() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = common::ttv_std(dir.path())
        .args(["--json", "sim"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let v: Value = serde_json::from_str(&line).unwrap();
    for name in [
        "runway",
        "gemini",
        "vertex",
        "minimax",
        "fal",
        "token_uri",
        "admin",
    ] {
        assert!(
            v[name]
                .as_str()
                .is_some_and(|u| u.starts_with("http://127.0.0.1:")),
            "{name}: {v}"
        );
    }
    let help = common::ttv(dir.path())
        .args(["sim", "--help"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("Google Veo"),
        "{}",
        String::from_utf8_lossy(&help.stdout)
    );
}
