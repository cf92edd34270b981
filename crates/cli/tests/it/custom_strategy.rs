//! The custom-strategy example in `examples/` runs: registered by name, chosen by config,
//! and it trades.

#[allow(dead_code, unreachable_pub)]
#[path = "../../../../examples/custom_strategy.rs"]
mod example;

#[test]
fn the_custom_strategy_example_registers_runs_and_trades() {
    let dir = tempfile::tempdir().unwrap();
    let (filled, total_return) = example::run(dir.path()).unwrap();
    assert!(filled > 0, "no orders filled");
    assert!(total_return.is_finite());
    // Unknown parameters are refused with the known ones named.
    let mut params = openbell_engine::Params::new();
    params.insert("upp".into(), openbell_engine::Param::Number(3.0));
    let err = example::build(&params, openbell_model::Interval::M1)
        .err()
        .unwrap();
    assert!(err.contains("unknown parameter \"upp\""), "{err}");
}
