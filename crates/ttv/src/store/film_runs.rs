//! Film runs (`ttv film`): one row per run with its plan, its settings and its state. The
//! segments are ordinary jobs (ids derived from the run's), so this table holds no money
//! and no tickets.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::sql::Val;
use super::{Store, StoreError, StoreResult, p, parse_time};

/// Where a film run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FilmState {
    /// Segments are being made (or were, when the process died: `ttv film resume`).
    Running,
    /// The film is joined and verified.
    Done,
    /// A segment or the join failed; `ttv film resume` carries it on.
    Failed,
    /// Cancelled by the user.
    Cancelled,
}

impl FilmState {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }
}

impl std::fmt::Display for FilmState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A new film run.
#[derive(Debug, Clone)]
pub struct NewFilmRun {
    /// The run id.
    pub id: String,
    /// The film's title.
    pub title: Option<String>,
    /// The storyboard (JSON).
    pub plan: serde_json::Value,
    /// The run's settings (JSON).
    pub settings: serde_json::Value,
    /// Where the film goes (absolute).
    pub out: PathBuf,
}

/// A recorded film run.
#[derive(Debug, Clone, Serialize)]
pub struct FilmRun {
    /// The run id.
    pub id: String,
    /// Where it is.
    pub state: FilmState,
    /// The film's title.
    pub title: Option<String>,
    /// The storyboard.
    pub plan: serde_json::Value,
    /// The run's settings.
    pub settings: serde_json::Value,
    /// Where the film goes.
    pub out: PathBuf,
    /// Why it failed.
    pub error: Option<String>,
    /// What was made (the film's record), once done.
    pub result: Option<serde_json::Value>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// The last change.
    pub updated_at: DateTime<Utc>,
}

impl Store {
    /// Records a new film run in state `running`. Fails if the id is taken.
    pub fn create_film(&self, run: &NewFilmRun) -> StoreResult<FilmRun> {
        let now = Utc::now().to_rfc3339();
        let inserted = self.with(|sql| {
            Ok(sql.exec(
                "INSERT INTO film_runs (id, state, title, plan, settings, out_path,
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                 ON CONFLICT (id) DO NOTHING",
                p![
                    &run.id,
                    FilmState::Running.as_str(),
                    run.title.as_deref(),
                    run.plan.to_string(),
                    run.settings.to_string(),
                    run.out.to_string_lossy().into_owned(),
                    now,
                ],
            )?)
        })?;
        if inserted == 0 {
            return Err(StoreError::Exists(run.id.clone()));
        }
        self.film(&run.id)
    }

    /// The film run `id`, if any.
    pub fn get_film(&self, id: &str) -> StoreResult<Option<FilmRun>> {
        let row = self.with(|sql| {
            Ok(sql.row(
                "SELECT id, state, title, plan, settings, out_path, error, result, created_at,
                     updated_at FROM film_runs WHERE id = $1",
                p![id],
            )?)
        })?;
        let Some(row) = row else {
            return Ok(None);
        };
        let corrupt = |field, message: String| StoreError::Corrupt {
            id: id.to_owned(),
            field,
            message,
        };
        let text = |i, field| row.text(i).map_err(|m| corrupt(field, m));
        let opt = |i, field| row.opt_text(i).map_err(|m| corrupt(field, m));
        let json = |field, text: &str| {
            serde_json::from_str(text).map_err(|e| corrupt(field, e.to_string()))
        };
        let state = text(1, "film state")?;
        Ok(Some(FilmRun {
            state: FilmState::parse(&state)
                .ok_or_else(|| corrupt("film state", format!("unknown state {state:?}")))?,
            title: opt(2, "film title")?,
            plan: json("film plan", &text(3, "film plan")?)?,
            settings: json("film settings", &text(4, "film settings")?)?,
            out: PathBuf::from(text(5, "film out_path")?),
            error: opt(6, "film error")?,
            result: opt(7, "film result")?
                .as_deref()
                .map(|r| json("film result", r))
                .transpose()?,
            created_at: parse_time(&text(8, "film created_at")?)
                .map_err(|m| corrupt("film created_at", m))?,
            updated_at: parse_time(&text(9, "film updated_at")?)
                .map_err(|m| corrupt("film updated_at", m))?,
            id: text(0, "film id")?,
        }))
    }

    /// The film run `id`, or [`StoreError::NotFound`].
    pub fn film(&self, id: &str) -> StoreResult<FilmRun> {
        self.get_film(id)?
            .ok_or_else(|| StoreError::NotFound(format!("film {id}")))
    }

    /// Every film run, newest first.
    pub fn films(&self) -> StoreResult<Vec<FilmRun>> {
        let rows = self.with(|sql| {
            Ok(sql.rows("SELECT id FROM film_runs ORDER BY created_at DESC, id", &[])?)
        })?;
        rows.iter()
            .map(|row| {
                let id = row.text(0).map_err(|message| StoreError::Corrupt {
                    id: "?".into(),
                    field: "film id",
                    message,
                })?;
                self.film(&id)
            })
            .collect()
    }

    /// Moves film run `id` to `state`, with the error (failed) or the result (done).
    pub fn set_film_state(
        &self,
        id: &str,
        state: FilmState,
        error: Option<&str>,
        result: Option<&serde_json::Value>,
    ) -> StoreResult<FilmRun> {
        let changed = self.with(|sql| {
            Ok(sql.exec(
                "UPDATE film_runs SET state = $2, error = $3, result = $4, updated_at = $5
                 WHERE id = $1",
                p![
                    id,
                    state.as_str(),
                    error,
                    result.map(|r| r.to_string()),
                    Utc::now().to_rfc3339()
                ],
            )?)
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("film {id}")));
        }
        self.film(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_film_run_is_recorded_listed_and_moved() {
        let store = Store::in_memory().unwrap();
        let run = NewFilmRun {
            id: "f-1".into(),
            title: Some("Boats".into()),
            plan: serde_json::json!({"segments": [{"prompt": "a"}]}),
            settings: serde_json::json!({"mode": "keyframe"}),
            out: PathBuf::from("/films/boats.mp4"),
        };
        let made = store.create_film(&run).unwrap();
        assert_eq!(made.state, FilmState::Running);
        assert!(matches!(
            store.create_film(&run),
            Err(StoreError::Exists(_))
        ));
        let done = store
            .set_film_state(
                "f-1",
                FilmState::Done,
                None,
                Some(&serde_json::json!({"frames": 3})),
            )
            .unwrap();
        assert_eq!(done.state, FilmState::Done);
        assert_eq!(done.result.unwrap()["frames"], 3);
        assert_eq!(store.films().unwrap().len(), 1);
        assert!(store.get_film("nope").unwrap().is_none());
    }
}
