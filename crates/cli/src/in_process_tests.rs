//! Two backtests running at once in one process, on each backend: each session keeps exactly
//! the rows it would have written alone, and nothing of the other's.

use openbell_data::{BarStore, GenerateOptions};
use openbell_model::{Interval, SessionId};
use openbell_store::{PoolConfig, SessionFilter, Store};

use crate::backtest_cmd::run_recorded;
use openbell_server::run::config::parse_config;

const SMA: &str = r#"
[session]
name = "sma"
start = "2024-01-02"
end = "2024-01-31"
[universe]
symbols = ["SIM001", "SIM002", "SIM003"]
[strategy]
name = "sma_cross"
fast = 5
slow = 20
qty = 10
"#;

const RSI: &str = r#"
[session]
name = "rsi"
start = "2024-01-02"
end = "2024-01-31"
[universe]
all = true
[strategy]
name = "rsi_reversion"
qty = 7
"#;

/// Everything a session wrote, without its id.
#[derive(Debug, PartialEq)]
struct Record {
    days: Vec<(String, i64, Option<String>)>,
    signals: Vec<openbell_store::SignalRow>,
    orders: Vec<openbell_store::OrderRow>,
    fills: Vec<openbell_store::FillRow>,
    trades: Vec<openbell_store::TradeRow>,
    positions: Vec<openbell_store::PositionRow>,
    equity: Vec<openbell_store::EquityRow>,
    quality: Vec<openbell_store::QualityRow>,
}

async fn record(store: &Store, id: SessionId) -> Record {
    Record {
        days: store.session_days(id).await.unwrap(),
        signals: store.signals(id).await.unwrap(),
        orders: store.orders(id).await.unwrap(),
        fills: store.fills(id).await.unwrap(),
        trades: store.trades(id).await.unwrap(),
        positions: store.positions(id).await.unwrap(),
        equity: store.equity(id).await.unwrap(),
        quality: store.quality(id).await.unwrap(),
    }
}

/// The newest session named `name`.
async fn newest(store: &Store, name: &str) -> SessionId {
    let all = store
        .sessions(&SessionFilter {
            kind: None,
            status: None,
            owner_id: None,
            before: None,
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    all.iter().find(|s| s.name == name).unwrap().id
}

fn run(bars: &BarStore, text: &str, url: &str) {
    let cfg = parse_config(text, "test.toml").unwrap();
    let name = cfg.name.clone().unwrap();
    let mut out = Vec::new();
    run_recorded(bars, &cfg, &name, url, None, &mut out).unwrap();
}

fn check(backend: &str, bars: &BarStore, url: &str, rt: &tokio::runtime::Runtime) {
    // Each alone first: what each session writes by itself.
    run(bars, SMA, url);
    run(bars, RSI, url);
    let store = rt
        .block_on(Store::connect(url, &PoolConfig::default()))
        .unwrap();
    let alone = rt.block_on(async {
        (
            record(&store, newest(&store, "sma").await).await,
            record(&store, newest(&store, "rsi").await).await,
        )
    });
    assert!(!alone.0.fills.is_empty() && !alone.1.fills.is_empty());
    assert_ne!(alone.0.fills, alone.1.fills, "{backend}");

    // Then both at once, on two threads of this process.
    std::thread::scope(|s| {
        let a = s.spawn(|| run(bars, SMA, url));
        let b = s.spawn(|| run(bars, RSI, url));
        a.join().unwrap();
        b.join().unwrap();
    });
    let together = rt.block_on(async {
        (
            record(&store, newest(&store, "sma").await).await,
            record(&store, newest(&store, "rsi").await).await,
        )
    });
    assert_eq!(together.0, alone.0, "{backend}: sma");
    assert_eq!(together.1, alone.1, "{backend}: rsi");
    rt.block_on(store.close());
}

#[test]
fn two_backtests_at_once_in_one_process_each_keep_only_their_own_rows() {
    let dir = tempfile::tempdir().unwrap();
    let bars = BarStore::open(dir.path().join("data")).unwrap();
    openbell_data::generate(
        &bars,
        &GenerateOptions {
            symbols: 6,
            days: 25,
            start: chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
            seed: 11,
            interval: Interval::M1,
        },
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let sqlite = format!("sqlite://{}", dir.path().join("registry.db").display());
    check("sqlite", &bars, &sqlite, &rt);

    if let Some(db) = openbell_testkit::PgDatabase::create("two backtests at once") {
        check("postgres", &bars, &db.url(), &rt);
    }
}
