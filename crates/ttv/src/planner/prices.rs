//! What planning calls cost: US dollars per million tokens, by model.
//!
//! Source: OpenAI's API pricing page (openai.com/api/pricing), standard tier, as published
//! on 2025-08-07. Prices change; an unknown model (a local server's, say) costs nothing here
//! and the usage says so with a zero cost.

/// Date the table was read.
pub const PRICES_AS_OF: &str = "2025-08-07";

/// (model prefix, input $/1M tokens, output $/1M tokens). Longest matching prefix wins, so
/// dated snapshots (`gpt-4o-mini-2024-07-18`) take their family's price.
const TABLE: &[(&str, f64, f64)] = &[
    ("gpt-5", 1.25, 10.00),
    ("gpt-5-mini", 0.25, 2.00),
    ("gpt-5-nano", 0.05, 0.40),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4o-mini", 0.15, 0.60),
    ("o3", 2.00, 8.00),
    ("o4-mini", 1.10, 4.40),
];

/// Input and output price per million tokens for `model`, when known.
pub fn per_million(model: &str) -> Option<(f64, f64)> {
    TABLE
        .iter()
        .filter(|(prefix, _, _)| model.starts_with(prefix))
        .max_by_key(|(prefix, _, _)| prefix.len())
        .map(|&(_, input, output)| (input, output))
}

/// The cost of one call in US dollars; 0 for a model not in the table.
pub fn cost_usd(model: &str, prompt_tokens: u64, completion_tokens: u64) -> f64 {
    per_million(model).map_or(0.0, |(input, output)| {
        (prompt_tokens as f64 * input + completion_tokens as f64 * output) / 1e6
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_snapshots_take_their_familys_price() {
        assert_eq!(per_million("gpt-4o-mini-2024-07-18"), Some((0.15, 0.60)));
        assert_eq!(per_million("gpt-4o-2024-08-06"), Some((2.50, 10.00)));
        assert_eq!(per_million("llama3.1:8b"), None);
        assert!((cost_usd("gpt-4o-mini", 1_000_000, 1_000_000) - 0.75).abs() < 1e-12);
    }
}
