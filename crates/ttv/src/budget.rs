//! Budgets and the ledger of what was spent.
//!
//! The ledger is read from the job store: a job counts with what the provider said it charged
//! (a charge in credits converted to dollars at the rate of the price table its estimate came
//! from), else its estimate once a paid request may have been sent. Each entry says which. A [`Budget`] is
//! checked against it before every submit; a request that would go over is refused with the
//! numbers. This module only counts; it sends nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::cost::Money;
use crate::error::{Error, ErrorKind, Result};

/// Spending limits in US dollars; absent limits do not apply. Deserialisable so the
/// configuration's `budget` section can fill it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Budget {
    /// The most one job may cost (its estimate).
    pub per_job_usd: Option<f64>,
    /// The most all jobs may cost per calendar day (UTC).
    pub per_day_usd: Option<f64>,
    /// The most all jobs may cost per calendar month (UTC).
    pub per_month_usd: Option<f64>,
    /// The most each named backend may cost per calendar month (UTC), by canonical name.
    pub per_backend_month_usd: BTreeMap<String, f64>,
}

/// One job's spend, as the ledger sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LedgerEntry {
    /// The job.
    pub job_id: String,
    /// Canonical backend name.
    pub backend: String,
    /// The model, when the backend has several.
    pub model: Option<String>,
    /// When the job was made.
    pub at: DateTime<Utc>,
    /// What it cost, in US dollar micros.
    pub usd_micros: i64,
    /// Whether the figure is what the provider charged (else the estimate).
    pub charged: bool,
    /// Where the figure comes from.
    pub basis: LedgerBasis,
}

/// Where a ledger figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerBasis {
    /// The provider's charge, in dollars.
    Charged,
    /// The provider's charge in its credits, converted at the price table's credit rate.
    ChargedInCredits,
    /// The estimate made before submitting (the provider reported no charge).
    Estimate,
}

/// One line of a spend summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpendLine {
    /// The day (UTC).
    pub day: NaiveDate,
    /// Canonical backend name.
    pub backend: String,
    /// The model, or empty.
    pub model: String,
    /// Jobs counted.
    pub jobs: u32,
    /// Their cost.
    pub usd: Money,
    /// How many of them count at their estimate (the rest at the provider's charge).
    pub estimated: u32,
}

fn micros(usd: f64) -> i64 {
    (usd * 1_000_000.0).round() as i64
}

impl Budget {
    /// Whether any limit is set.
    pub fn is_limited(&self) -> bool {
        self.per_job_usd.is_some()
            || self.per_day_usd.is_some()
            || self.per_month_usd.is_some()
            || !self.per_backend_month_usd.is_empty()
    }

    /// Refuses a job estimated at `estimate_usd_micros` on `backend` when it would take any
    /// limit over, given what `ledger` already holds. `QuotaExceeded`, naming the limit, what
    /// was spent and what the job would add.
    pub fn check(
        &self,
        backend: &str,
        estimate_usd_micros: i64,
        ledger: &[LedgerEntry],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let usd = Money::usd_micros;
        let over = |what: String, limit: f64, spent: i64| -> Result<()> {
            let limit = micros(limit);
            if spent.saturating_add(estimate_usd_micros) > limit {
                return Err(Error::new(
                    ErrorKind::QuotaExceeded,
                    format!(
                        "over budget: {what} is {}, {} is spent already and this job is estimated at {} (total {}); nothing was submitted",
                        usd(limit),
                        usd(spent),
                        usd(estimate_usd_micros),
                        usd(spent.saturating_add(estimate_usd_micros)),
                    ),
                ));
            }
            Ok(())
        };
        if let Some(limit) = self.per_job_usd
            && estimate_usd_micros > micros(limit)
        {
            return Err(Error::new(
                ErrorKind::QuotaExceeded,
                format!(
                    "over budget: this job is estimated at {}, more than the per-job budget of {}; nothing was submitted",
                    usd(estimate_usd_micros),
                    usd(micros(limit))
                ),
            ));
        }
        let today = now.date_naive();
        let same_month = |at: &DateTime<Utc>| at.year() == now.year() && at.month() == now.month();
        let sum = |keep: &dyn Fn(&LedgerEntry) -> bool| -> i64 {
            ledger
                .iter()
                .filter(|e| keep(e))
                .map(|e| e.usd_micros)
                .sum()
        };
        if let Some(limit) = self.per_day_usd {
            over(
                format!("the per-day budget for {today}"),
                limit,
                sum(&|e| e.at.date_naive() == today),
            )?;
        }
        if let Some(limit) = self.per_month_usd {
            over(
                format!("the per-month budget for {}", now.format("%Y-%m")),
                limit,
                sum(&|e| same_month(&e.at)),
            )?;
        }
        if let Some(limit) = self.per_backend_month_usd.get(backend) {
            over(
                format!("the {backend} budget for {}", now.format("%Y-%m")),
                *limit,
                sum(&|e| e.backend == backend && same_month(&e.at)),
            )?;
        }
        Ok(())
    }
}

/// Sums the ledger by day, backend and model, oldest day first.
pub fn summarise(ledger: &[LedgerEntry]) -> Vec<SpendLine> {
    let mut lines: BTreeMap<(NaiveDate, String, String), (u32, i64, u32)> = BTreeMap::new();
    for e in ledger {
        let key = (
            e.at.date_naive(),
            e.backend.clone(),
            e.model.clone().unwrap_or_default(),
        );
        let line = lines.entry(key).or_default();
        line.0 += 1;
        line.1 += e.usd_micros;
        line.2 += u32::from(e.basis == LedgerBasis::Estimate);
    }
    lines
        .into_iter()
        .map(
            |((day, backend, model), (jobs, total, estimated))| SpendLine {
                day,
                backend,
                model,
                jobs,
                usd: Money::usd_micros(total),
                estimated,
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(backend: &str, at: &str, usd: f64) -> LedgerEntry {
        LedgerEntry {
            job_id: "j".into(),
            backend: backend.into(),
            model: None,
            at: at.parse().unwrap(),
            usd_micros: micros(usd),
            charged: false,
            basis: LedgerBasis::Estimate,
        }
    }

    #[test]
    fn a_job_over_the_daily_budget_is_refused_with_the_numbers() {
        let budget = Budget {
            per_day_usd: Some(1.0),
            ..Budget::default()
        };
        let now = "2026-03-10T12:00:00Z".parse().unwrap();
        let ledger = [
            entry("runway", "2026-03-10T08:00:00Z", 0.75),
            entry("runway", "2026-03-09T08:00:00Z", 5.0),
        ];
        budget.check("fal", micros(0.2), &ledger, now).unwrap();
        let err = budget.check("fal", micros(0.5), &ledger, now).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
        assert_eq!(
            err.to_string(),
            "over budget: the per-day budget for 2026-03-10 is $1.00, $0.75 is spent already and this job is estimated at $0.50 (total $1.25); nothing was submitted"
        );
    }

    #[test]
    fn per_job_month_and_backend_limits_apply() {
        let budget: Budget = serde_json::from_str(
            r#"{"per_job_usd": 2, "per_month_usd": 10, "per_backend_month_usd": {"runway": 3}}"#,
        )
        .unwrap();
        let now = "2026-03-20T00:00:00Z".parse().unwrap();
        let ledger = [entry("runway", "2026-03-01T00:00:00Z", 2.5)];
        assert!(budget.check("runway", micros(2.5), &[], now).is_err());
        assert!(budget.check("runway", micros(1.0), &ledger, now).is_err());
        budget.check("fal", micros(1.0), &ledger, now).unwrap();
        let full = [entry("fal", "2026-03-02T00:00:00Z", 9.5)];
        assert!(budget.check("fal", micros(1.0), &full, now).is_err());
    }

    #[test]
    fn spend_is_summed_by_day_backend_and_model() {
        let ledger = [
            entry("runway", "2026-03-10T08:00:00Z", 0.5),
            entry("runway", "2026-03-10T09:00:00Z", 0.25),
            entry("fal", "2026-03-10T09:00:00Z", 1.0),
        ];
        let lines = summarise(&ledger);
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[1].backend.as_str(), lines[1].jobs), ("runway", 2));
        assert_eq!(lines[1].usd, Money::usd_micros(750_000));
    }
}
