//! A session's record over HTTP: every table paged by cursor reads back exactly what the
//! store holds, in order; bad limits and cursors get a 400 and unknown tables a 404.

use crate::runner::{app, created, ended, wait};
use crate::*;

/// A month of three symbols with a pre-session scan, so every table has rows.
const SCANNED: &str = r#"
[session]
name = "scanned"
start = "2024-01-02"
end = "2024-01-31"
[universe]
all = true
[[scanner]]
name = "liquid"
kind = "top_volume"
pre_session_minutes = 30
top = 3
[strategy]
name = "sma_cross"
fast = 5
slow = 20
qty = 10
"#;

/// Every row of `table`, read `limit` at a time by following the cursor.
async fn paged(app: &Router, token: &str, id: &str, table: &str, limit: u32) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut uri = format!("/api/v1/sessions/{id}/{table}?limit={limit}");
    loop {
        let (status, page) = call(app, Method::GET, &uri, Some(token), None).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {page}");
        let got = page["rows"].as_array().unwrap();
        assert!(got.len() <= limit as usize, "{uri}");
        rows.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(got.len(), limit as usize, "{uri}: a short page is the last");
                uri = format!(
                    "/api/v1/sessions/{id}/{table}?limit={limit}&cursor={}",
                    c.replace('+', "%2B").replace('/', "%2F")
                );
            }
            None => break,
        }
    }
    rows
}

#[tokio::test]
async fn every_record_table_pages_back_exactly_what_the_store_holds() {
    for (name, store, _db, _dir) in backends("record pages").await {
        let (_, app) = app(&store, 1, 10);
        let (_, alice) = account(&app, "alice").await;
        let (_, bob) = account(&app, "bob").await;
        let id = created(&app, &alice, SCANNED).await;
        let row = wait(&app, &alice, &id, ended).await;
        assert_eq!(row["status"], "completed", "{name}: {row}");
        let sid = SessionId::parse(&id).unwrap();
        let days: Vec<Value> = store
            .session_days(sid)
            .await
            .unwrap()
            .into_iter()
            .map(|(date, bars, equity)| json!({"date": date, "bars": bars, "equity": equity}))
            .collect();
        let want = [
            ("signals", values(&store.signals(sid).await.unwrap())),
            ("orders", values(&store.orders(sid).await.unwrap())),
            ("fills", values(&store.fills(sid).await.unwrap())),
            ("trades", values(&store.trades(sid).await.unwrap())),
            ("positions", values(&store.positions(sid).await.unwrap())),
            ("equity", values(&store.equity(sid).await.unwrap())),
            ("days", days),
            ("quality", values(&store.quality(sid).await.unwrap())),
            ("scans", values(&store.scans(sid).await.unwrap())),
        ];
        for (table, rows) in &want {
            assert!(rows.len() > 2, "{name}: {table} has {} rows", rows.len());
            // A page size that divides the rows evenly, and one that does not.
            for limit in [1, 7, 500] {
                let got = paged(&app, &alice, &id, table, limit).await;
                assert_eq!(&got, rows, "{name}: {table} by {limit}");
            }
            // Someone else's session does not exist for them.
            let (status, body) = call(
                &app,
                Method::GET,
                &format!("/api/v1/sessions/{id}/{table}"),
                Some(&bob),
                None,
            )
            .await;
            assert_error(status, &body, StatusCode::NOT_FOUND, "not_found", name);
        }
        let bad = [
            ("fills?limit=0", StatusCode::BAD_REQUEST),
            ("fills?limit=501", StatusCode::BAD_REQUEST),
            ("fills?cursor=-1", StatusCode::BAD_REQUEST),
            ("fills?cursor=x%27%20OR%201%3D1", StatusCode::BAD_REQUEST),
            ("equity?cursor=yesterday", StatusCode::BAD_REQUEST),
            ("days?cursor=2024-13-01", StatusCode::BAD_REQUEST),
            ("quality?cursor=2024-01-02", StatusCode::BAD_REQUEST),
            ("users", StatusCode::NOT_FOUND),
            ("..%2F..%2Fetc%2Fpasswd", StatusCode::NOT_FOUND),
        ];
        for (tail, want) in bad {
            let uri = format!("/api/v1/sessions/{id}/{tail}");
            let (status, body) = call(&app, Method::GET, &uri, Some(&alice), None).await;
            assert_eq!(status, want, "{name}: {uri}: {body}");
            assert!(body["error"]["message"].is_string(), "{name}: {uri}");
        }
        store.close().await;
    }
}
