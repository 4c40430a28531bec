//! Atomic file publication: write beside the destination, fsync, rename.
//!
//! A reader of the destination path sees either nothing (or the previous file) or the whole
//! new file, never a partial one. If the writer fails or is dropped, the temporary file is
//! removed.

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

    /// Flushes the file to disk and renames it to the destination.
    pub fn commit(self) -> Result<PathBuf> {
        let Self { temp, dest } = self;
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
        temp.persist(&dest)
            .map_err(|e| Error::io(format_args!("cannot save {}", dest.display()), e.error))?;
        sync_parent(&dest);
        Ok(dest)
    }
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
