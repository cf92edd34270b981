//! The web UI's security over HTTP: login cookies are HttpOnly and SameSite, every form needs
//! its CSRF value, pages need a login, `next` stays on this site, names are escaped, and
//! someone else's session is not found.

use axum::http::HeaderMap;

use crate::runner::{app, ended, wait};
use crate::*;

/// A raw request: (status, headers, body text).
async fn raw(
    app: &Router,
    method: Method,
    uri: &str,
    cookies: &str,
    form: Option<&str>,
) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if !cookies.is_empty() {
        req = req.header("cookie", cookies);
    }
    if form.is_some() {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    let req = req
        .body(form.map_or_else(Body::empty, |f| Body::from(f.to_owned())))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// The `name=value` of every cookie the answer sets, and their full header lines.
fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_value(lines: &[String], name: &str) -> Option<String> {
    lines.iter().find_map(|l| {
        l.split(';')
            .next()?
            .strip_prefix(&format!("{name}="))
            .map(str::to_owned)
    })
}

/// The value of the hidden `csrf` field of the first form on a page.
fn csrf_field(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..at + 32].to_owned()
}

/// Registers `user` through the forms; returns the cookie header a browser would send.
async fn browser_login(app: &Router, user: &str) -> String {
    let (_, headers, html) = raw(app, Method::GET, "/register", "", None).await;
    let pre = cookie_value(&set_cookies(&headers), "openbell_csrf").unwrap();
    let form = format!(
        "username={user}&password=correct+horse&csrf={}",
        csrf_field(&html)
    );
    let (status, headers, _) = raw(
        app,
        Method::POST,
        "/register",
        &format!("openbell_csrf={pre}"),
        Some(&form),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let token = cookie_value(&set_cookies(&headers), "openbell_token").unwrap();
    format!("openbell_token={token}")
}

#[tokio::test]
async fn the_web_ui_guards_its_forms_and_pages() {
    for (name, store, _db, _dir) in backends("web ui").await {
        let (_, app) = app(&store, 1, 10);

        // Pages need a login and come back to where they were asked for.
        let (status, headers, _) =
            raw(&app, Method::GET, "/sessions?kind=backtest", "", None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        assert_eq!(
            headers["location"], "/login?next=/sessions%3Fkind%3Dbacktest",
            "{name}"
        );

        // The login page sets a pre-login CSRF cookie; a form without it, or with another
        // value, is refused and nobody is registered.
        let (_, headers, html) = raw(&app, Method::GET, "/login", "", None).await;
        let lines = set_cookies(&headers);
        let pre = cookie_value(&lines, "openbell_csrf").unwrap();
        assert!(
            lines[0].contains("HttpOnly") && lines[0].contains("SameSite=Strict"),
            "{name}: {lines:?}"
        );
        assert_eq!(csrf_field(&html), pre, "{name}");
        for cookies in ["", "openbell_csrf=00000000000000000000000000000000"] {
            let form = format!("username=mallory&password=correct+horse&csrf={pre}");
            let (status, headers, html) =
                raw(&app, Method::POST, "/register", cookies, Some(&form)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {cookies}");
            assert!(html.contains("role=\"alert\""), "{name}");
            assert!(
                set_cookies(&headers)
                    .iter()
                    .all(|c| !c.starts_with("openbell_token"))
            );
        }
        assert!(
            store.user_by_name("mallory").await.unwrap().is_none(),
            "{name}"
        );

        // Register through the form: the token cookie is HttpOnly and SameSite=Strict, and a
        // `next` off this site is not followed.
        let (_, headers, html) = raw(&app, Method::GET, "/register", "", None).await;
        let pre = cookie_value(&set_cookies(&headers), "openbell_csrf").unwrap();
        let form = format!(
            "username=alice&password=correct+horse&csrf={}&next=%2F%2Fevil.example%2Fx",
            csrf_field(&html)
        );
        let (status, headers, _) = raw(
            &app,
            Method::POST,
            "/register",
            &format!("openbell_csrf={pre}"),
            Some(&form),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        assert_eq!(headers["location"], "/sessions", "{name}");
        let lines = set_cookies(&headers);
        let token_line = lines
            .iter()
            .find(|l| l.starts_with("openbell_token="))
            .unwrap();
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(token_line.contains(flag), "{name}: {token_line}");
        }
        let alice = format!(
            "openbell_token={}",
            cookie_value(&lines, "openbell_token").unwrap()
        );

        // A form with a wrong CSRF value changes nothing.
        let config = "[session]\nname = \"x\"\nstart = \"2024-01-02\"\nend = \"2024-01-05\"\n[universe]\nsymbols = [\"SIM001\"]\n[strategy]\nname = \"buy_and_hold\"\nqty = 1\n";
        let encoded: String = config
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => char::from(b).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let name_xss = "%3Cscript%3Ealert(1)%3C%2Fscript%3E";
        let form = format!(
            "csrf=ffffffffffffffffffffffffffffffff&name={name_xss}&example=demo&config={encoded}"
        );
        let (status, _, _) = raw(&app, Method::POST, "/sessions/new", &alice, Some(&form)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        let none = store
            .sessions(&openbell_store::SessionFilter {
                limit: 5,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(none.is_empty(), "{name}");

        // With the page's value it starts; the name is shown escaped.
        let (_, _, html) = raw(&app, Method::GET, "/sessions/new", &alice, None).await;
        let form = format!(
            "csrf={}&name={name_xss}&example=demo&config={encoded}",
            csrf_field(&html)
        );
        let (status, headers, _) =
            raw(&app, Method::POST, "/sessions/new", &alice, Some(&form)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        let detail = headers["location"].to_str().unwrap().to_owned();
        let id = detail.trim_start_matches("/sessions/").to_owned();
        let token = alice.trim_start_matches("openbell_token=");
        let (_, me) = call(&app, Method::GET, "/api/v1/me", Some(token), None).await;
        assert_eq!(me["username"], "alice", "{name}");
        wait(&app, token, &id, ended).await;
        let (status, _, html) = raw(&app, Method::GET, "/sessions", &alice, None).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{name}"
        );
        assert!(!html.contains("<script>alert(1)"), "{name}");

        // The login cookie reads the API, but cannot change anything through it.
        let (status, _, _) = raw(
            &app,
            Method::GET,
            &format!("/api/v1/sessions/{id}"),
            &alice,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}");
        let (status, _, _) = raw(
            &app,
            Method::DELETE,
            &format!("/api/v1/sessions/{id}"),
            &alice,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");

        // Someone else's session is not found, page or stop button.
        let bob = browser_login(&app, "bob").await;
        let (status, _, _) = raw(&app, Method::GET, &detail, &bob, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
        let (_, _, html) = raw(&app, Method::GET, "/sessions", &bob, None).await;
        let form = format!("csrf={}", csrf_field(&html));
        let (status, _, _) = raw(
            &app,
            Method::POST,
            &format!("{detail}/stop"),
            &bob,
            Some(&form),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");

        // Logging out revokes the token: the cookie no longer opens pages.
        let (_, _, html) = raw(&app, Method::GET, "/sessions", &alice, None).await;
        let form = format!("csrf={}", csrf_field(&html));
        let (status, _, _) = raw(&app, Method::POST, "/logout", &alice, Some(&form)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        let (status, headers, _) = raw(&app, Method::GET, "/sessions", &alice, None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        assert!(
            headers["location"].to_str().unwrap().starts_with("/login"),
            "{name}"
        );
        store.close().await;
    }
}
