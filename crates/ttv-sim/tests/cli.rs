//! The flags `ttv sim` and `ttv-sim` share.

use clap::Parser;

/// The flags of `ttv sim` and `ttv-sim`.
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    sim: ttv_sim::cli::SimArgs,
}

#[test]
fn the_api_key_flag_sets_the_only_accepted_key_and_refuses_an_empty_one() {
    let flags = Flags::try_parse_from(["ttv-sim", "--api-key", "k-123"]).unwrap();
    assert_eq!(
        flags.sim.config().unwrap().api_key.as_deref(),
        Some("k-123")
    );
    let open = Flags::try_parse_from(["ttv-sim"]).unwrap();
    assert_eq!(open.sim.config().unwrap().api_key, None);
    let empty = Flags::try_parse_from(["ttv-sim", "--api-key", " "]).unwrap();
    let err = empty.sim.config().unwrap_err().to_string();
    assert!(err.contains("--api-key") && err.contains("empty"), "{err}");
}
