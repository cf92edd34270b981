//! `/metrics`: the Prometheus text the server writes agrees with the registry and with the
//! requests it was sent.

use crate::runner::{app, created, ended, wait};
use crate::*;

/// The value of the sample named exactly `series` (name and labels).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

const CONFIG: &str = r#"
[session]
start = "2024-01-02"
end = "2024-01-12"
[universe]
symbols = ["SIM001", "SIM004"]
[strategy]
name = "buy_and_hold"
qty = 5
"#;

#[tokio::test]
async fn metrics_count_sessions_bars_and_requests() {
    for (name, store, _db, _dir) in backends("metrics").await {
        let (_, app) = app(&store, 2, 10);
        let (_, alice) = account(&app, "alice").await;
        let mut bars = 0;
        for _ in 0..2 {
            let id = created(&app, &alice, CONFIG).await;
            assert_eq!(wait(&app, &alice, &id, ended).await["status"], "completed");
            let days = store
                .session_days(SessionId::parse(&id).unwrap())
                .await
                .unwrap();
            bars += days.iter().map(|(_, b, _)| b).sum::<i64>();
        }
        for _ in 0..3 {
            call(&app, Method::GET, "/api/v1/sessions", Some(&alice), None).await;
        }
        call(&app, Method::GET, "/nope/../etc", None, None).await;
        let req = Request::builder()
            .uri("/metrics")
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4"),
            "{name}"
        );
        let text = String::from_utf8(
            axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        assert_eq!(
            sample(&text, "openbell_sessions{status=\"completed\"}"),
            2.0,
            "{name}"
        );
        assert_eq!(
            sample(&text, "openbell_sessions{status=\"running\"}"),
            0.0,
            "{name}"
        );
        #[allow(clippy::cast_precision_loss)]
        let want_bars = bars as f64;
        assert!(want_bars > 0.0, "{name}");
        assert_eq!(
            sample(&text, "openbell_bars_processed_total"),
            want_bars,
            "{name}"
        );
        assert_eq!(sample(&text, "openbell_writer_queue_depth"), 0.0, "{name}");
        assert_eq!(
            sample(&text, "openbell_runner_sessions{state=\"running\"}"),
            0.0,
            "{name}"
        );
        let route = "method=\"GET\",route=\"/api/v1/sessions\"";
        assert_eq!(
            sample(
                &text,
                &format!("openbell_http_request_duration_seconds_count{{{route}}}")
            ),
            3.0,
            "{name}"
        );
        // Cumulative buckets never decrease and end at the count.
        let buckets: Vec<f64> = text
            .lines()
            .filter(|l| {
                l.starts_with(&format!(
                    "openbell_http_request_duration_seconds_bucket{{{route},"
                ))
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(
            buckets.windows(2).all(|w| w[0] <= w[1]),
            "{name}: {buckets:?}"
        );
        assert_eq!(buckets.last(), Some(&3.0), "{name}");
        assert_eq!(
            sample(
                &text,
                "openbell_http_requests_total{method=\"GET\",route=\"/api/v1/sessions\",status=\"200\"}"
            ),
            3.0,
            "{name}"
        );
        assert_eq!(
            sample(
                &text,
                "openbell_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
            ),
            1.0,
            "{name}"
        );
        store.close().await;
    }
}
