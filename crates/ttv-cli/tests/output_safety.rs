//! `--out` never destroys what the user has: devices, pipes, sockets and folders, the input
//! images, the configuration and the job store are refused before anything is made; default
//! names are unique per job; the same finished job asked for at a new path is copied there.

mod common;

use std::path::Path;
use std::process::Output;

use serde_json::Value;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ttv generate` of a tiny animatic clip in `dir` with `args` added.
fn generate(dir: &Path, args: &[&str]) -> Output {
    common::ttv(dir)
        .args([
            "generate", "-p", "a kite", "-d", "1", "-r", "240p", "--fps", "8",
        ])
        .args(args)
        .output()
        .unwrap()
}

fn png(path: &Path) {
    image::RgbImage::from_pixel(320, 240, image::Rgb([200, 120, 40]))
        .save_with_format(path, image::ImageFormat::Png)
        .unwrap();
}

/// The jobs in the store of `dir`.
fn jobs(dir: &Path) -> Vec<Value> {
    let out = common::ttv(dir)
        .args(["--json", "jobs", "list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

#[cfg(unix)]
#[test]
fn a_pipe_a_socket_or_a_folder_as_output_is_refused_and_left_as_it_is() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let made = std::process::Command::new("mkfifo")
        .arg(d.join("pipe"))
        .status()
        .unwrap();
    assert!(made.success());
    let _socket = std::os::unix::net::UnixListener::bind(d.join("sock")).unwrap();
    std::fs::create_dir(d.join("folder")).unwrap();
    for (name, what) in [
        ("pipe", "a named pipe (FIFO)"),
        ("sock", "a socket"),
        ("folder", "a folder"),
    ] {
        let out = generate(d, &["-o", name]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        let want = format!("out: {name}; expected a new file or a video to replace, not {what}");
        assert!(stderr(&out).contains(&want), "{name}: {}", stderr(&out));
    }
    let kind = |n: &str| std::fs::symlink_metadata(d.join(n)).unwrap().file_type();
    assert!(kind("pipe").is_fifo());
    assert!(kind("sock").is_socket());
    assert!(kind("folder").is_dir());
    assert_eq!(jobs(d), Vec::<Value>::new(), "nothing was recorded");
}

#[test]
fn an_input_the_configuration_or_the_job_store_as_output_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    png(&d.join("same.png"));
    std::fs::hard_link(d.join("same.png"), d.join("alias.png")).unwrap();
    let image = std::fs::read(d.join("same.png")).unwrap();
    let config = "animatic:\n  camera: pan_left\n";
    std::fs::write(d.join("my.yaml"), config).unwrap();

    let out = generate(d, &["-i", "same.png", "-o", "same.png"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("out: same.png; expected a different file from the input same.png"),
        "{}",
        stderr(&out)
    );
    // Another name of the same file is the same file.
    let out = generate(d, &["-i", "same.png", "-o", "alias.png"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read(d.join("same.png")).unwrap(), image);

    let out = generate(d, &["--config", "my.yaml", "-o", "my.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("expected a different file from the configuration file my.yaml"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(d.join("my.yaml")).unwrap(), config);

    // The job store's folder: the database itself, or anything beside it.
    generate(d, &["-o", "first.mp4"]);
    let store = d.join(".ttv-data").join("jobs.sqlite3");
    let before = std::fs::read(&store).unwrap();
    for target in [store.clone(), d.join(".ttv-data/clip.mp4")] {
        let out = generate(d, &["-o", target.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("expected a path outside ttv's data folder"),
            "{}",
            stderr(&out)
        );
    }
    assert!(std::fs::read(&store).unwrap().len() >= before.len());
    assert_eq!(jobs(d).len(), 1, "the store still holds the first job");
}

#[test]
fn an_output_folder_that_cannot_be_made_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let out = generate(dir.path(), &["-o", "notes.txt/clip.mp4"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("notes.txt is a file, so no folder can be made there"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn an_output_name_that_is_not_a_video_gets_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = generate(dir.path(), &["-o", "clip.txt"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "warning: out: clip.txt does not end in .mp4; ttv writes an MP4 video there anyway"
        ),
        "{}",
        stderr(&out)
    );
    let out = generate(dir.path(), &["-o", "clip.mp4"]);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn jobs_started_in_the_same_second_without_out_never_share_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ttv.yaml"), "output_dir: videos\n").unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            common::ttv_std(d)
                .args([
                    "--json", "generate", "-p", "a kite", "-d", "1", "-r", "240p",
                ])
                .args(["--fps", "8"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut paths = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let (path, id) = (v["path"].as_str().unwrap(), v["job_id"].as_str().unwrap());
        // `output_dir` in a file is taken from the file's folder.
        let name = std::path::Path::new(path)
            .strip_prefix(d.join("videos"))
            .unwrap_or_else(|_| panic!("{path} is not in the configured output_dir"))
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with("ttv-") && name.ends_with(&format!("-{id}.mp4")),
            "{path} names job {id}"
        );
        paths.push(path.to_owned());
    }
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 4);
    let videos = std::fs::read_dir(d.join("videos"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".mp4")
        })
        .count();
    assert_eq!(videos, 4, "every paid video is kept");
}

#[test]
fn the_same_finished_job_with_a_new_out_is_copied_there_and_nothing_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = generate(d, &["--job-id", "kite", "-o", "a.mp4"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let out = generate(d, &["--job-id", "kite", "-o", "b.mp4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "b.mp4");
    assert!(
        stderr(&out).contains("a.mp4 was copied to b.mp4; nothing was submitted"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(d.join("a.mp4")).unwrap(),
        std::fs::read(d.join("b.mp4")).unwrap()
    );
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(d.join("b.mp4.json")).unwrap()).unwrap();
    assert_eq!(sidecar["video"]["file"], "b.mp4");
    assert_eq!(sidecar["job_id"], "kite");
    assert!(sidecar["copied_from"].as_str().unwrap().ends_with("a.mp4"));
    let all = jobs(d);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["state"], "done");

    // With the job's own video gone there is nothing to copy: both paths are named.
    std::fs::remove_file(d.join("a.mp4")).unwrap();
    let out = generate(d, &["--job-id", "kite", "-o", "c.mp4"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("a.mp4") && err.contains("c.mp4"), "{err}");
    assert!(!d.join("c.mp4").exists());
}

#[test]
fn output_url_streams_the_video_and_its_sidecar_to_storage_and_jobs_url_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("shared").join("videos");
    let url = format!("file://{}", store.display());
    let out = generate(
        d,
        &[
            "--out",
            "kite.mp4",
            "--job-id",
            "kite",
            "--output-url",
            &url,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stored = format!("{url}/kite.mp4");
    assert!(
        stderr(&out).contains(&format!("stored at {stored}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(store.join("kite.mp4")).unwrap(),
        std::fs::read(d.join("kite.mp4")).unwrap()
    );
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(store.join("kite.mp4.json")).unwrap()).unwrap();
    assert_eq!(sidecar["video"]["url"], stored.as_str());

    let located = common::ttv(d)
        .args(["--json", "jobs", "url", "kite"])
        .output()
        .unwrap();
    assert!(located.status.success(), "{}", stderr(&located));
    let answer: Value = serde_json::from_slice(&located.stdout).unwrap();
    assert_eq!(answer["url"], stored.as_str(), "a folder signs nothing");
    assert_eq!(answer["presigned"], false);

    let bad = generate(d, &["--output-url", "s4://x"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("--output-url: \"s4://x\" — allowed schemes: s3, gs, az, file"),
        "{}",
        stderr(&bad)
    );
}
