//! Atomic file publication: write beside the destination, fsync, rename.
//!
//! A reader of the destination path sees either nothing (or the previous file) or the whole
//! new file, never a partial one. If the writer fails or is dropped, the temporary file is
//! removed.
//!
//! A file that was at the destination when the writer started is replaced (overwriting is
//! asked for by naming it). A file that appeared there while the writer worked belongs to
//! someone else (another job) and is never replaced: the rename refuses to clobber
//! (`renameat2(RENAME_NOREPLACE)`, else link-then-unlink) and the new file takes the first
//! free name with a suffix (`clip-2.mp4`); [`AtomicFile::commit`] returns where it went.

use std::fs::File;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Problem, Result};

/// A temporary file in the destination's folder that becomes the destination on
/// [`AtomicFile::commit`].
#[derive(Debug)]
pub struct AtomicFile {
    temp: NamedTempFile,
    dest: PathBuf,
    /// Whether something was at `dest` when the writer started (and may be replaced).
    replace: bool,
}

impl AtomicFile {
    /// Creates the temporary file beside `dest`, creating the folder if needed.
    pub fn new(dest: &Path) -> Result<Self> {
        if dest.is_dir() {
            return Err(Error::invalid(vec![Problem::new(
                "out",
                dest.display(),
                "a file path, not a folder (for example folder/clip.mp4)",
            )]));
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent)
            .map_err(|e| Error::io(format_args!("cannot create folder {}", parent.display()), e))?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".to_owned());
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".part")
            .tempfile_in(&parent)
            .map_err(|e| Error::io(format_args!("cannot write in {}", parent.display()), e))?;
        Ok(Self {
            temp,
            replace: dest.symlink_metadata().is_ok(),
            dest: dest.to_path_buf(),
        })
    }

    /// The temporary path to write to.
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// Flushes the file to disk and renames it to the destination, or, when a file appeared
    /// there meanwhile, to the first free name with a suffix. Returns the path it went to.
    pub fn commit(self) -> Result<PathBuf> {
        let Self {
            temp,
            dest,
            replace,
        } = self;
        // Writers may have written through another handle; sync by reopening the path.
        File::open(temp.path())
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(format_args!("cannot flush {}", temp.path().display()), e))?;
        // Temporary files are created private; a published video is an ordinary file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644)).map_err(
                |e| {
                    Error::io(
                        format_args!("cannot set permissions on {}", dest.display()),
                        e,
                    )
                },
            )?;
        }
        let saved = if replace {
            temp.persist(&dest)
                .map_err(|e| Error::io(format_args!("cannot save {}", dest.display()), e.error))?;
            dest
        } else {
            persist_new(temp, &dest)?
        };
        sync_parent(&saved);
        Ok(saved)
    }
}

/// Most names tried before giving up on a free one.
const MAX_SUFFIX: u32 = 1000;

/// Renames `temp` to `dest`, or to `dest` with the first free suffix, never over a file.
fn persist_new(mut temp: NamedTempFile, dest: &Path) -> Result<PathBuf> {
    for n in 1..=MAX_SUFFIX {
        let candidate = if n == 1 {
            dest.to_path_buf()
        } else {
            with_suffix(dest, n)
        };
        match temp.persist_noclobber(&candidate) {
            Ok(_) => return Ok(candidate),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => temp = e.file,
            // A filesystem that can neither rename without replacing nor hard-link: a name
            // that is free now is the best that can be done.
            Err(e) if !candidate.exists() => {
                let temp = e.file;
                return temp
                    .persist(&candidate)
                    .map(|_| candidate.clone())
                    .map_err(|e| {
                        Error::io(format_args!("cannot save {}", candidate.display()), e.error)
                    });
            }
            Err(e) => temp = e.file,
        }
    }
    Err(Error::new(
        crate::error::ErrorKind::Io,
        format!(
            "cannot save {}: it and {MAX_SUFFIX} numbered names beside it are taken",
            dest.display()
        ),
    ))
}

/// `clip-2.mp4` for `clip.mp4` and 2; `clip.mp4-2.json` style names keep the last extension.
pub fn with_suffix(path: &Path, n: u32) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    path.with_file_name(name)
}

/// Writes `bytes` to `dest` atomically.
pub fn write_atomically(dest: &Path, bytes: &[u8]) -> Result<PathBuf> {
    use std::io::Write;
    let mut file = AtomicFile::new(dest)?;
    file.file()
        .write_all(bytes)
        .map_err(|e| Error::io(format_args!("cannot write {}", dest.display()), e))?;
    file.commit()
}

fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        // Best effort: some filesystems refuse to fsync a directory.
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_file_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("clip.mp4");
        {
            let f = AtomicFile::new(&dest).unwrap();
            std::fs::write(f.path(), b"partial").unwrap();
        }
        assert!(!dest.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_file_that_appears_while_writing_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("clip.mp4");
        let ours = AtomicFile::new(&dest).unwrap();
        std::fs::write(ours.path(), b"ours").unwrap();
        // Another job publishes the same name first.
        std::fs::write(&dest, b"theirs").unwrap();
        let saved = ours.commit().unwrap();
        assert_eq!(saved, dir.path().join("clip-2.mp4"));
        assert_eq!(std::fs::read(&dest).unwrap(), b"theirs");
        assert_eq!(std::fs::read(&saved).unwrap(), b"ours");
    }

    #[test]
    fn committed_file_replaces_destination() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/clip.json");
        write_atomically(&dest, b"one").unwrap();
        write_atomically(&dest, b"two").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            1
        );
    }
}
