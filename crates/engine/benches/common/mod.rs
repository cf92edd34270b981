//! The engine bench's `sma_cross` run, shared by the bench and the `sma_cross_timing` example.

use openbell_engine::{
    BrokerConfig, Engine, EngineConfig, MemorySource, NullSink, Param, RiskConfig, SimulatedClock,
    StrategyRegistry, Summary,
};
use openbell_model::{Interval, Symbol, Timestamp};

/// The end-to-end backtest's bars over its 250-day run (2022-01-03 to 2022-12-30):
/// `openbell data generate --symbols 10 --days 251 --start 2022-01-03 --seed 1`, generated into
/// a scratch store and read back.
pub(crate) fn generated(symbols: &[Symbol]) -> MemorySource {
    let dir = tempfile::tempdir().unwrap();
    let store = openbell_data::BarStore::open(dir.path()).unwrap();
    let opts = openbell_data::GenerateOptions {
        symbols: 10,
        days: 251,
        start: "2022-01-03".parse().unwrap(),
        seed: 1,
        interval: Interval::M1,
    };
    openbell_data::generate(&store, &opts).unwrap();
    let mut source = MemorySource::new();
    for symbol in symbols {
        let (from, to) = (Timestamp::from_nanos(0), Timestamp::from_nanos(i64::MAX));
        source.add(store.read_vec(*symbol, Interval::M1, from, to).unwrap());
    }
    source
}

/// One run of `sma_cross` 10/30, qty 100, on a 10M account over `config` without derived
/// bars, indicators or history, events dropped. With `kept`, the engine keeps every order,
/// round trip and equity record for its report; without, it keeps none, as `openbell
/// backtest` runs it (each reaches the sink as it happens).
pub(crate) fn sma_cross_run(
    config: &EngineConfig,
    source: &mut MemorySource,
    kept: bool,
) -> Summary {
    let mut cfg = config.clone();
    cfg.derived.clear();
    cfg.indicators.clear();
    cfg.history_days = 0;
    let params = [
        ("fast".to_owned(), Param::Number(10.0)),
        ("slow".to_owned(), Param::Number(30.0)),
        ("qty".to_owned(), Param::Number(100.0)),
    ]
    .into_iter()
    .collect();
    let mut strategy = StrategyRegistry::default()
        .create("sma_cross", &params, Interval::M1)
        .unwrap();
    let broker = BrokerConfig {
        initial_cash: "10000000".parse().unwrap(),
        ..BrokerConfig::default()
    };
    let (mut clock, mut sink) = (SimulatedClock::default(), NullSink);
    let mut engine = Engine::new(cfg, source, &mut clock, &mut sink)
        .unwrap()
        .with_strategy(strategy.as_mut(), broker, RiskConfig::default());
    if !kept {
        engine = engine.without_records();
    }
    engine.run().unwrap()
}
