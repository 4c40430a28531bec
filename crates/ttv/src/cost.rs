//! Money: amounts, estimates and where a price came from.
//!
//! Amounts are integers of micro-units so that sums are exact. A provider that bills in
//! credits still reports a USD figure (at its published credit price) so that budgets and the
//! router can compare backends; the native amount is kept next to it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A currency or a provider's credit unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Currency {
    /// US dollars.
    Usd,
    /// A provider's own credits, named (`runway`).
    Credits(String),
}

/// An exact amount of money in millionths of a unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Millionths of one unit of `currency`.
    pub micros: i64,
    /// The unit.
    pub currency: Currency,
}

impl Money {
    /// Zero dollars.
    pub fn zero() -> Self {
        Self::usd_micros(0)
    }

    /// An amount of US dollars in millionths.
    pub fn usd_micros(micros: i64) -> Self {
        Self {
            micros,
            currency: Currency::Usd,
        }
    }

    /// An amount of US cents.
    pub fn usd_cents(cents: i64) -> Self {
        Self::usd_micros(cents.saturating_mul(10_000))
    }

    /// Whether the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.micros == 0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.currency {
            Currency::Usd => {
                let sign = if self.micros < 0 { "-" } else { "" };
                let abs = self.micros.unsigned_abs();
                let cents_exact = abs.is_multiple_of(10_000);
                if cents_exact {
                    write!(
                        f,
                        "{sign}${}.{:02}",
                        abs / 1_000_000,
                        (abs % 1_000_000) / 10_000
                    )
                } else {
                    write!(
                        f,
                        "{sign}${}.{:04}",
                        abs / 1_000_000,
                        (abs % 1_000_000) / 100
                    )
                }
            }
            Currency::Credits(unit) => {
                let whole = self.micros / 1_000_000;
                let frac = (self.micros % 1_000_000).abs();
                if frac == 0 {
                    write!(f, "{whole} {unit} credits")
                } else {
                    write!(f, "{}.{:02} {unit} credits", whole, frac / 10_000)
                }
            }
        }
    }
}

/// Where a price came from, so a stale table can be spotted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceSource {
    /// A page or document.
    pub url: String,
    /// The day it was read (YYYY-MM-DD).
    pub as_of: String,
}

/// What a request is expected to cost on one backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostEstimate {
    /// The amount in US dollars, used for budgets and comparison.
    pub usd: Money,
    /// The amount in the provider's own unit when that is not dollars.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native: Option<Money>,
    /// How the figure was reached (`8 s × $0.05/s`).
    pub basis: String,
    /// The price table's source; `None` for free local backends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<PriceSource>,
}

impl CostEstimate {
    /// A free generation (local backends).
    pub fn free(basis: impl Into<String>) -> Self {
        Self {
            usd: Money::zero(),
            native: None,
            basis: basis.into(),
            source: None,
        }
    }
}

impl fmt::Display for CostEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.usd)?;
        if let Some(native) = &self.native {
            write!(f, " ({native})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_prints_dollars_and_credits() {
        assert_eq!(Money::usd_cents(28).to_string(), "$0.28");
        assert_eq!(Money::usd_micros(56_000).to_string(), "$0.0560");
        assert_eq!(Money::usd_micros(1_500_000).to_string(), "$1.50");
        assert_eq!(Money::zero().to_string(), "$0.00");
        let credits = Money {
            micros: 25_000_000,
            currency: Currency::Credits("runway".into()),
        };
        assert_eq!(credits.to_string(), "25 runway credits");
    }
}
