//! `/api/v1/openapi.json`: generated from the handlers, it lists every endpoint of the
//! external contract, and every operation it lists is routed (none answers "no such route").

use crate::*;

/// The HTTP contract (ARCHITECTURE.md, "External contract"), as (method, path).
const CONTRACT: [(&str, &str); 17] = [
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/me"),
    ("post", "/api/v1/sessions"),
    ("get", "/api/v1/sessions"),
    ("get", "/api/v1/sessions/{id}"),
    ("post", "/api/v1/sessions/{id}/stop"),
    ("delete", "/api/v1/sessions/{id}"),
    ("get", "/api/v1/sessions/{id}/{table}"),
    ("get", "/api/v1/sessions/{id}/events"),
    ("get", "/api/v1/data/symbols"),
    ("get", "/api/v1/data/bars"),
    ("get", "/api/v1/calendar/days"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

#[tokio::test]
async fn the_openapi_document_covers_the_contract_and_matches_the_router() {
    for (name, store, _db, _dir) in backends("openapi").await {
        let app = router(AppState::new(store.clone(), ServerConfig::default()));
        let (status, doc) = call(&app, Method::GET, "/api/v1/openapi.json", None, None).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{name}");
        assert_eq!(doc["info"]["title"], "openbell", "{name}");
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer",
            "{name}"
        );
        for schema in [
            "SessionJson",
            "SessionPage",
            "CreateBody",
            "ErrorBody",
            "RowPage",
        ] {
            assert!(
                doc["components"]["schemas"][schema].is_object(),
                "{name}: no schema {schema}"
            );
        }
        let paths = doc["paths"].as_object().unwrap();
        for (method, path) in CONTRACT {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{name}: {method} {path} is not documented"
            );
        }
        // A token that expired an hour ago.
        let (alice_id, _) = account(&app, "alice").await;
        store
            .insert_token(
                alice_id,
                &token_hash("obt_expired"),
                Utc::now() - chrono::Duration::hours(1),
            )
            .await
            .unwrap();
        // Every documented operation exists: called without a token and with placeholder
        // parameters, it answers anything but "no such route" or "method not allowed"; one
        // that needs a token refuses a missing, an expired and a made-up one alike.
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                let uri = path
                    .replace("{id}", "01a1ff69-fad0-7476-9f1c-fdb718a57fea")
                    .replace("{table}", "fills");
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let req = Request::builder()
                    .method(m)
                    .uri(&uri)
                    .body(Body::empty())
                    .unwrap();
                let res = app.clone().oneshot(req).await.unwrap();
                let status = res.status();
                let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
                    .await
                    .unwrap();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                assert_ne!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{name}: {method} {uri}"
                );
                assert!(
                    !(status == StatusCode::NOT_FOUND
                        && body["error"]["message"] == "route not found"),
                    "{name}: {method} {uri} is documented but not routed"
                );
                let secured = item[method]["security"].is_array();
                if secured {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {method} {uri}");
                    for token in ["obt_expired", "obt_made_up"] {
                        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                        let req = Request::builder()
                            .method(m)
                            .uri(&uri)
                            .header("authorization", format!("Bearer {token}"))
                            .body(Body::empty())
                            .unwrap();
                        let res = app.clone().oneshot(req).await.unwrap();
                        assert_eq!(
                            res.status(),
                            StatusCode::UNAUTHORIZED,
                            "{name}: {method} {uri} with {token}"
                        );
                    }
                }
            }
        }
        store.close().await;
    }
}
