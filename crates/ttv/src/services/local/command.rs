//! A command line as data: what a local backend wants run, built without running anything,
//! so tests can compare it with the exact argv a model repository expects.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One process to start: program, arguments, extra environment and working folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// The program (`python3`, `torchrun`, or a path).
    pub program: PathBuf,
    /// Arguments, one per element, never shell-quoted.
    pub args: Vec<String>,
    /// Variables added to the inherited environment, in order.
    pub env: Vec<(String, String)>,
    /// The working folder, when it matters (the model repositories import from their root).
    pub cwd: Option<PathBuf>,
}

impl CommandSpec {
    /// A command running `program` with no arguments yet.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
        }
    }

    /// Appends one argument.
    pub fn arg(&mut self, arg: impl Into<String>) -> &mut Self {
        self.args.push(arg.into());
        self
    }

    /// Appends a flag and its value as two arguments, or as one `--flag=value` when the
    /// value begins with `-`: argparse would otherwise read a prompt such as `-close-up of a
    /// fox` as an unknown option.
    pub fn flag(&mut self, flag: &str, value: impl fmt::Display) -> &mut Self {
        let value = value.to_string();
        if value.starts_with('-') {
            self.args.push(format!("{flag}={value}"));
        } else {
            self.args.push(flag.to_owned());
            self.args.push(value);
        }
        self
    }

    /// Adds an environment variable.
    pub fn env(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The value of `flag` (`--flag value` or `--flag=value`), if the flag is present.
    pub fn value_of(&self, flag: &str) -> Option<&str> {
        self.args.iter().enumerate().find_map(|(at, a)| {
            if a == flag {
                self.args.get(at + 1).map(String::as_str)
            } else {
                a.strip_prefix(flag)?.strip_prefix('=')
            }
        })
    }

    /// Whether the bare `flag` is present.
    pub fn has(&self, flag: &str) -> bool {
        self.args.iter().any(|a| a == flag)
    }

    /// A `tokio` command ready to spawn (the caller adds pipes and the process group).
    pub(crate) fn to_tokio(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(cwd) = &self.cwd {
            cmd.current_dir(cwd);
        }
        cmd
    }
}

/// Renders the command as a line a person could paste into a POSIX shell.
impl fmt::Display for CommandSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(cwd) = &self.cwd {
            write!(f, "cd {} && ", quote(&cwd.to_string_lossy()))?;
        }
        for (k, v) in &self.env {
            write!(f, "{k}={} ", quote(v))?;
        }
        f.write_str(&quote(&self.program.to_string_lossy()))?;
        for a in &self.args {
            write!(f, " {}", quote(a))?;
        }
        Ok(())
    }
}

fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+*@%".contains(&b));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Finds `program` the way a shell would: a path with a slash is taken as it is (if it
/// exists), a bare name is looked up in `PATH`. Nothing is run.
pub fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_what_a_shell_would_split() {
        let mut c = CommandSpec::new("python3");
        c.arg("generate.py")
            .flag("--size", "1280*720")
            .flag("--prompt", "a fox's den")
            .env("PYTHONUNBUFFERED", "1");
        c.cwd = Some(PathBuf::from("/opt/Wan2.1"));
        assert_eq!(
            c.to_string(),
            r"cd /opt/Wan2.1 && PYTHONUNBUFFERED=1 python3 generate.py --size 1280*720 --prompt 'a fox'\''s den'"
        );
        assert_eq!(c.value_of("--size"), Some("1280*720"));
        assert!(!c.has("--t5_cpu"));
    }

    #[test]
    fn a_value_that_looks_like_an_option_is_joined_to_its_flag() {
        let mut c = CommandSpec::new("python3");
        c.flag("--prompt", "-close-up of a fox")
            .flag("--neg-prompt", "blur")
            .flag("--seed", -1);
        assert_eq!(
            c.args,
            [
                "--prompt=-close-up of a fox",
                "--neg-prompt",
                "blur",
                "--seed=-1"
            ]
        );
        assert_eq!(c.value_of("--prompt"), Some("-close-up of a fox"));
        assert_eq!(c.value_of("--neg-prompt"), Some("blur"));
        assert_eq!(c.value_of("--seed"), Some("-1"));
        assert_eq!(c.value_of("--prompt-extend"), None);
    }

    #[test]
    fn programs_are_found_on_path_without_running_them() {
        assert!(find_program(Path::new("sh")).is_some());
        assert!(find_program(Path::new("surely-not-a-program-ttv")).is_none());
        assert!(find_program(Path::new("/nonexistent/python3")).is_none());
    }
}
