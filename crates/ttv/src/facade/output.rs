//! Where a job's video may go, checked before anything is spent so that no front end can
//! destroy what the user has.
//!
//! Refused: a destination that is not a regular file (a device, a named pipe, a socket, a
//! folder), the same file as one of the job's inputs or as a protected file such as the
//! configuration (compared by device and inode, not by name), anything inside ttv's data
//! folder (the job store), and a folder that cannot be written. The video's sidecar
//! (`NAME.json`) is held to the same rules. Replacing an existing regular file is allowed —
//! naming it asks for that — but a name that does not end like a video gets a warning.

use std::fs::{FileType, Metadata};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Problem, Result};

/// Extensions a video file is expected to have (compared without case).
const VIDEO_EXTENSIONS: &[&str] = &["mp4", "m4v", "mov"];

/// A file the output must never replace, and how to name it to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    /// The file.
    pub path: PathBuf,
    /// What it is, for messages: `the configuration file`.
    pub what: String,
}

/// What the output path is checked against.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules<'a> {
    /// Files the job reads (its images).
    pub inputs: &'a [PathBuf],
    /// Other files that must survive (the configuration).
    pub protected: &'a [Protected],
    /// ttv's data folder; nothing inside it may be written.
    pub data_dir: Option<&'a Path>,
}

/// Checks `out` and its sidecar against `rules`. Returns the warnings (a name that does not
/// look like a video), or every problem at once as an `InvalidRequest` on the field `out`.
pub fn check(out: &Path, rules: &Rules<'_>) -> Result<Vec<String>> {
    let shown = out.display().to_string();
    let resolved = resolve(out);
    let mut problems = Vec::new();
    let mut refuse = |allowed: String| problems.push(Problem::new("out", &shown, allowed));

    if let Some(data) = rules.data_dir.map(resolve)
        && resolved.starts_with(&data)
    {
        refuse(format!(
            "a path outside ttv's data folder {} (it holds the job store)",
            data.display()
        ));
    }
    let sidecar = crate::sidecar::path_for(&resolved);
    for (path, whose) in [(&resolved, ""), (&sidecar, "its sidecar ")] {
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        if let Some(kind) = not_a_regular_file(meta.file_type()) {
            refuse(match whose {
                "" => format!("a new file or a video to replace, not {kind}"),
                _ => format!(
                    "a path whose sidecar {} is free, not {kind}",
                    path.display()
                ),
            });
            continue;
        }
        for input in rules.inputs {
            if same_file(&meta, path, input) {
                refuse(format!(
                    "a different file from the input {}: {whose}it would be replaced",
                    input.display()
                ));
            }
        }
        for p in rules.protected {
            if same_file(&meta, path, &p.path) {
                refuse(format!(
                    "a different file from {} {}: {whose}it would be replaced",
                    p.what,
                    p.path.display()
                ));
            }
        }
    }
    if let Err(why) = writable_folder(&resolved) {
        refuse(why);
    }
    if !problems.is_empty() {
        return Err(Error::invalid(problems));
    }

    let ext = resolved
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let mut warnings = Vec::new();
    if !ext.is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.as_str())) {
        warnings.push(format!(
            "out: {shown} does not end in .mp4; ttv writes an MP4 video there anyway"
        ));
    }
    Ok(warnings)
}

/// What a non-regular file is, in words; `None` for a regular file.
fn not_a_regular_file(t: FileType) -> Option<&'static str> {
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a folder (give a file name, such as FOLDER/clip.mp4)");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() || t.is_block_device() {
            return Some("a device");
        }
        if t.is_fifo() {
            return Some("a named pipe (FIFO)");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("a special file")
}

/// Whether `other` is the file `meta` describes (by device and inode where there are any).
fn same_file(meta: &Metadata, path: &Path, other: &Path) -> bool {
    let Ok(theirs) = std::fs::metadata(other) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = path;
        meta.dev() == theirs.dev() && meta.ino() == theirs.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (meta, theirs);
        match (std::fs::canonicalize(path), std::fs::canonicalize(other)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

/// Whether the folder `path` would be written in exists or can be made, and takes files.
fn writable_folder(path: &Path) -> std::result::Result<(), String> {
    let mut folder = path.parent().unwrap_or(Path::new("."));
    while !folder.exists() {
        match folder.parent() {
            Some(up) => folder = up,
            None => return Ok(()),
        }
    }
    if !folder.is_dir() {
        return Err(format!(
            "a path in a folder; {} is a file, so no folder can be made there",
            folder.display()
        ));
    }
    tempfile::tempfile_in(folder).map(drop).map_err(|e| {
        format!(
            "a path in a folder you can write to ({}: {e})",
            folder.display()
        )
    })
}

/// `path` made absolute, its `.` and `..` applied, and the links of its existing part
/// followed, so that two names of one place compare equal.
pub(crate) fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut lexical = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            other => lexical.push(other),
        }
    }
    let mut existing = lexical.as_path();
    let mut tail = Vec::new();
    while std::fs::symlink_metadata(existing).is_err() {
        let (Some(name), Some(up)) = (existing.file_name(), existing.parent()) else {
            break;
        };
        tail.push(name.to_owned());
        existing = up;
    }
    let mut base = std::fs::canonicalize(existing).unwrap_or_else(|_| existing.to_path_buf());
    base.extend(tail.iter().rev());
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(out: &Path, rules: &Rules<'_>) -> Vec<String> {
        match check(out, rules) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems().iter().map(ToString::to_string).collect(),
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused_without_being_touched() {
        let err = problems(Path::new("/dev/null"), &Rules::default());
        assert_eq!(
            err,
            ["out: /dev/null; expected a new file or a video to replace, not a device"]
        );
    }

    #[test]
    fn a_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = problems(dir.path(), &Rules::default());
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].contains("not a folder"), "{err:?}");
    }

    #[test]
    fn an_input_is_refused_under_any_of_its_names() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.png");
        std::fs::write(&input, b"png").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let other_name = dir.path().join("sub/../in.png");
        let inputs = [input.clone()];
        let rules = Rules {
            inputs: &inputs,
            ..Rules::default()
        };
        let err = problems(&other_name, &rules);
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(
            err[0].contains("a different file from the input"),
            "{err:?}"
        );
    }

    #[test]
    fn the_data_folder_is_refused_even_through_a_missing_folder_and_dot_dot() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let sneaky = dir.path().join("nope/../data/jobs.sqlite3");
        let rules = Rules {
            data_dir: Some(&data),
            ..Rules::default()
        };
        let err = problems(&sneaky, &rules);
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].contains("outside ttv's data folder"), "{err:?}");
    }

    #[test]
    fn a_file_where_a_folder_should_be_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let err = problems(&dir.path().join("notes.txt/clip.mp4"), &Rules::default());
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].contains("is a file, so no folder"), "{err:?}");
    }

    #[test]
    fn a_regular_video_may_be_replaced_and_other_names_get_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let clip = dir.path().join("clip.MP4");
        std::fs::write(&clip, b"old").unwrap();
        assert_eq!(
            check(&clip, &Rules::default()).unwrap(),
            Vec::<String>::new()
        );
        let text = dir.path().join("notes.txt");
        let warnings = check(&text, &Rules::default()).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("does not end in .mp4"), "{warnings:?}");
    }
}
