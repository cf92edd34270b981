//! The bar store and calendars over HTTP: the catalog, paged bars and the quality ledger read
//! back what the store holds; calendar days follow the exchange's holidays and early closes.

use chrono::NaiveDate;
use openbell_data::BarStore;
use openbell_model::{Interval, Symbol, Timestamp};

use crate::runner::{app, bars};
use crate::*;

async fn get(app: &Router, token: &str, uri: &str) -> Value {
    let (status, body) = call(app, Method::GET, uri, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

#[tokio::test]
async fn the_catalog_bars_and_quality_read_back_the_store() {
    let local = BarStore::open(bars()).unwrap();
    let series = local.series().unwrap();
    let sim = Symbol::parse("SIM002").unwrap();
    let day = |d| NaiveDate::from_ymd_opt(2024, 1, d).unwrap();
    let at =
        |d: u32| Timestamp::from_datetime(&day(d).and_hms_opt(0, 0, 0).unwrap().and_utc()).unwrap();
    let stored = local.read_vec(sim, Interval::M1, at(3), at(6)).unwrap();
    let calendar = openbell_calendar::Calendar::builtin("XNYS").unwrap();
    let ledger = openbell_data::ledger(
        &local,
        &calendar,
        sim,
        Interval::M1,
        Some(day(2)),
        Some(day(31)),
    )
    .unwrap();
    for (name, store, _db, _dir) in backends("data endpoints").await {
        let (_, app) = app(&store, 1, 10);
        let (_, alice) = account(&app, "alice").await;

        let listed = get(&app, &alice, "/api/v1/data/symbols").await;
        let listed = listed["series"].as_array().unwrap();
        assert_eq!(listed.len(), series.len(), "{name}");
        for (got, want) in listed.iter().zip(&series) {
            assert_eq!(got["symbol"], want.symbol.to_string(), "{name}");
            assert_eq!(got["interval"], "1m", "{name}");
            assert_eq!(got["bars"], want.bars, "{name}");
            assert_eq!(got["first"], want.first.unwrap().to_string(), "{name}");
        }

        // Three days of bars, 500 at a time.
        let mut got = Vec::new();
        let mut uri =
            "/api/v1/data/bars?symbol=SIM002&interval=1m&from=2024-01-03&to=2024-01-05&limit=500"
                .to_owned();
        loop {
            let page = get(&app, &alice, &uri).await;
            got.extend(page["bars"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => {
                    uri = format!(
                        "/api/v1/data/bars?symbol=SIM002&from=2024-01-03&to=2024-01-05&limit=500&cursor={c}"
                    )
                }
                None => break,
            }
        }
        assert_eq!(got.len(), stored.len(), "{name}");
        for (g, b) in got.iter().zip(&stored) {
            assert_eq!(g["ts"], b.ts_event().to_string(), "{name}");
            assert_eq!(g["open"], b.open().to_string(), "{name}");
            assert_eq!(g["close"], b.close().to_string(), "{name}");
            assert_eq!(g["volume"], b.volume().to_string(), "{name}");
        }

        let quality = get(
            &app,
            &alice,
            "/api/v1/data/quality?symbol=SIM002&from=2024-01-02&to=2024-01-31",
        )
        .await;
        let days = quality["days"].as_array().unwrap();
        assert_eq!(days.len(), ledger.len(), "{name}");
        for (g, d) in days.iter().zip(&ledger) {
            assert_eq!(g["date"], d.date.to_string(), "{name}");
            assert_eq!(g["expected"], d.expected, "{name}");
            assert_eq!(g["present"], d.present, "{name}");
        }

        for (uri, want) in [
            ("/api/v1/data/bars?symbol=NOPE", StatusCode::NOT_FOUND),
            (
                "/api/v1/data/bars?symbol=%27%3B%20DROP%20TABLE%20users",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/data/bars?symbol=SIM002&interval=7q",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/data/bars?symbol=SIM002&from=2024-02-30",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/data/bars?symbol=SIM002&cursor=..%2F..",
                StatusCode::BAD_REQUEST,
            ),
            ("/api/v1/data/bars", StatusCode::BAD_REQUEST),
            (
                "/api/v1/data/quality?symbol=..%2F..%2Fetc",
                StatusCode::BAD_REQUEST,
            ),
            ("/api/v1/data/quality?symbol=NOPE", StatusCode::NOT_FOUND),
        ] {
            let (status, body) = call(&app, Method::GET, uri, Some(&alice), None).await;
            assert_eq!(status, want, "{name}: {uri}: {body}");
            assert!(body["error"]["message"].is_string(), "{name}: {uri}");
        }
        for uri in [
            "/api/v1/data/symbols",
            "/api/v1/data/bars?symbol=SIM002",
            "/api/v1/data/quality?symbol=SIM002",
            "/api/v1/calendar/days?from=2024-01-02&to=2024-01-05",
        ] {
            let (status, body) = call(&app, Method::GET, uri, None, None).await;
            assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized", uri);
        }
        store.close().await;
    }
}

#[tokio::test]
async fn calendar_days_skip_holidays_and_mark_early_closes() {
    for (name, store, _db, _dir) in backends("calendar endpoint").await {
        let (_, app) = app(&store, 1, 10);
        let (_, alice) = account(&app, "alice").await;
        // Independence Day week 2024: the 3rd closes at 13:00 New York (17:00 UTC), the 4th
        // is a holiday.
        let week = get(
            &app,
            &alice,
            "/api/v1/calendar/days?exchange=XNYS&from=2024-07-01&to=2024-07-08",
        )
        .await;
        let days = week["days"].as_array().unwrap();
        let dates: Vec<&str> = days.iter().map(|d| d["date"].as_str().unwrap()).collect();
        assert_eq!(
            dates,
            [
                "2024-07-01",
                "2024-07-02",
                "2024-07-03",
                "2024-07-05",
                "2024-07-08"
            ],
            "{name}"
        );
        let early: Vec<&str> = days
            .iter()
            .filter(|d| d["early_close"] == true)
            .map(|d| d["date"].as_str().unwrap())
            .collect();
        assert_eq!(early, ["2024-07-03"], "{name}");
        assert!(
            days[2]["close_utc"]
                .as_str()
                .unwrap()
                .starts_with("2024-07-03T17:00:00"),
            "{name}: {}",
            days[2]
        );
        for uri in [
            "/api/v1/calendar/days?exchange=%2Fetc%2Fpasswd&from=2024-07-01&to=2024-07-08",
            "/api/v1/calendar/days?exchange=..%2F..%2Fcalendars%2Fx&from=2024-07-01&to=2024-07-08",
            "/api/v1/calendar/days?from=2024-07-08&to=2024-07-01",
            "/api/v1/calendar/days?from=1900-01-01&to=2100-01-01",
            "/api/v1/calendar/days?from=2024-07-01",
        ] {
            let (status, body) = call(&app, Method::GET, uri, Some(&alice), None).await;
            assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request", uri);
        }
        store.close().await;
    }
}
