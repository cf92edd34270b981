//! Clock-driven sessions on the replay feed: a paper session at high speed makes a
//! backtest's fills on a paced clock, a collect session stores exactly the bars the feed
//! sent, and a real-time paper session stops when asked.

use std::time::Duration;

use chrono::NaiveDate;
use openbell_data::BarStore;
use openbell_model::{Interval, Symbol, Timestamp};

use crate::runner::{SHORT, app, app_collecting, bars, direct_fills, ended, get, stop, wait};
use crate::*;

async fn create_kind(app: &Router, token: &str, kind: &str, config: &str) -> (StatusCode, Value) {
    let body = json!({"kind": kind, "name": kind, "config": config}).to_string();
    call(
        app,
        Method::POST,
        "/api/v1/sessions",
        Some(token),
        Some(body),
    )
    .await
}

fn elapsed(row: &Value) -> Duration {
    let t = |f: &str| chrono::DateTime::parse_from_rfc3339(row[f].as_str().unwrap()).unwrap();
    (t("ended_at") - t("started_at")).to_std().unwrap()
}

#[tokio::test]
async fn a_paper_session_on_the_replay_feed_makes_the_backtests_fills_on_a_paced_clock() {
    let want = direct_fills(SHORT);
    // 2024-01-02 09:30 to 2024-01-31 16:00 New York is about 2.5 million seconds: half a
    // second of wall time at five million times real time.
    let speed = 5e6;
    let config = format!("{SHORT}\n[feed]\nspeed = {speed:e}\n");
    for (name, store, _db, _dir) in backends("paper session").await {
        let (_, app) = app(&store, 2, 10);
        let (_, alice) = account(&app, "alice").await;
        let (status, body) = create_kind(&app, &alice, "paper", &config).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        assert_eq!(body["kind"], "paper", "{name}");
        let id = body["id"].as_str().unwrap().to_owned();
        let row = wait(&app, &alice, &id, ended).await;
        assert_eq!(row["status"], "completed", "{name}: {row}");
        let sid = SessionId::parse(&id).unwrap();
        assert_eq!(store.fills(sid).await.unwrap(), want, "{name}");
        let simulated = 29.3 * 86_400.0 / speed;
        assert!(
            elapsed(&row).as_secs_f64() >= simulated * 0.9,
            "{name}: ran in {:?}, the paced clock needs about {simulated:.2} s",
            elapsed(&row)
        );
        store.close().await;
    }
}

#[tokio::test]
async fn a_collect_session_stores_exactly_the_bars_the_feed_sent() {
    let config = "[session]\nname = \"collect\"\nstart = \"2024-01-02\"\nend = \"2024-01-12\"\n[universe]\nsymbols = [\"SIM001\", \"SIM005\", \"SIM009\"]\n[feed]\nspeed = 1e7\n";
    let source = BarStore::open(bars()).unwrap();
    let calendar = openbell_calendar::Calendar::builtin("XNYS").unwrap();
    let days = calendar
        .trading_days(
            NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
            NaiveDate::from_ymd_opt(2024, 1, 12).unwrap(),
        )
        .unwrap();
    let (first, last) = (days[0].open, days.last().unwrap().close);
    for (name, store, _db, _dir) in backends("collect session").await {
        let dest = tempfile::tempdir().unwrap();
        let (_, app) = app_collecting(&store, 2, 10, dest.path());
        let (_, alice) = account(&app, "alice").await;
        let (status, body) = create_kind(&app, &alice, "collect", config).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        let id = body["id"].as_str().unwrap().to_owned();
        let row = wait(&app, &alice, &id, ended).await;
        assert_eq!(row["status"], "completed", "{name}: {row}");
        let collected = BarStore::open(dest.path()).unwrap();
        let mut total = 0;
        for symbol in ["SIM001", "SIM005", "SIM009"] {
            let symbol = Symbol::parse(symbol).unwrap();
            let sent = source.read_vec(symbol, Interval::M1, first, last).unwrap();
            let kept = collected
                .read_vec(
                    symbol,
                    Interval::M1,
                    Timestamp::from_nanos(0),
                    Timestamp::from_nanos(i64::MAX),
                )
                .unwrap();
            assert!(!sent.is_empty(), "{name}");
            assert_eq!(kept, sent, "{name}: {symbol}");
            total += kept.len();
            // The store's own ledger agrees with the source's, day by day.
            let ledger = |s: &BarStore| {
                openbell_data::ledger(
                    s,
                    &calendar,
                    symbol,
                    Interval::M1,
                    Some(days[0].date),
                    Some(days.last().unwrap().date),
                )
                .unwrap()
                .iter()
                .map(|d| (d.date, d.expected, d.present))
                .collect::<Vec<_>>()
            };
            assert_eq!(ledger(&collected), ledger(&source), "{name}: {symbol}");
        }
        assert_eq!(row["summary"]["bars_collected"], total, "{name}: {row}");
        assert_eq!(row["kind"], "collect", "{name}");
        // The session's own record has its quality ledger, like every kind's.
        let sid = SessionId::parse(&id).unwrap();
        assert_eq!(
            store.quality(sid).await.unwrap().len(),
            3 * days.len(),
            "{name}"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn a_real_time_paper_session_runs_until_stopped_and_kinds_check_their_config() {
    for (name, store, _db, _dir) in backends("paper stop").await {
        let (_, app) = app(&store, 2, 10);
        let (_, alice) = account(&app, "alice").await;
        let live = format!("{SHORT}\n[feed]\nspeed = 1\n");
        let (status, body) = create_kind(&app, &alice, "paper", &live).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        let id = body["id"].as_str().unwrap().to_owned();
        wait(&app, &alice, &id, |s| s == "running").await;
        // At real speed the first day's bars take hours: it is still running.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(get(&app, &alice, &id).await["status"], "running", "{name}");
        let (status, _) = stop(&app, &alice, &id).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        let row = wait(&app, &alice, &id, ended).await;
        assert_eq!(row["status"], "stopped", "{name}: {row}");
        assert!(
            row["error"]
                .as_str()
                .unwrap()
                .starts_with("stopped on request after 1 of 21 trading days"),
            "{name}: {row}"
        );
        assert!(elapsed(&row) < Duration::from_secs(10), "{name}: {row}");

        let no_strategy = SHORT.replace(
            "[strategy]\nname = \"sma_cross\"\nfast = 5\nslow = 20\nqty = 10\n",
            "",
        );
        for (kind, config, mentions) in [
            ("paper", no_strategy.as_str(), "[strategy]"),
            ("collect", SHORT, "no strategy"),
            (
                "paper",
                &format!("{SHORT}\n[feed]\nspeed = 0\n"),
                "feed.speed",
            ),
            (
                "paper",
                &format!("{SHORT}\n[feed]\nkind = \"kafka\"\n"),
                "feed.kind",
            ),
        ] {
            let (status, body) = create_kind(&app, &alice, kind, config).await;
            assert_error(
                status,
                &body,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_config",
                name,
            );
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(mentions), "{name}: {kind}: {message}");
        }
        store.close().await;
    }
}
