//! The console's session and CSRF protection, without a browser.

use crate::common::{sqlite_db, Server, TEST_TOKEN};

/// The sign-in page's pre-session cookie and form field.
async fn login_form(http: &reqwest::Client, base: &str) -> (String, String) {
    let page = http.get(format!("{base}/console")).send().await.unwrap();
    let cookie = page.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
    let html = page.text().await.unwrap();
    let field = html.split("name=\"login_csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    (cookie, field)
}

pub(crate) async fn sign_in(http: &reqwest::Client, base: &str, token: &str) -> reqwest::Response {
    let (cookie, field) = login_form(http, base).await;
    http.post(format!("{base}/console/login"))
        .header("cookie", cookie)
        .form(&[("token", token), ("login_csrf", field.as_str())])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn console_sessions_are_httponly_samesite_and_actions_need_the_csrf_token() {
    let server = Server::start(sqlite_db());
    let id = server.client().authorized_hold(5000).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = sign_in(&http, &server.base, TEST_TOKEN).await;
    assert_eq!(login.status(), 303);
    let cookie = login.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_string();

    // A forged form (no or wrong CSRF token) is refused and changes nothing.
    for csrf in ["", "forged"] {
        let r = http
            .post(format!("{}/console/holds/{id}/release", server.base))
            .header("cookie", &session)
            .form(&[("csrf", csrf), ("reason", "forged")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "csrf {csrf:?}");
    }
    assert_eq!(server.client().get(&format!("/api/holds/{id}")).await.body["status"], "requires_capture");

    // The page's own token works.
    let page = http
        .get(format!("{}/console/holds/{id}", server.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let r = http
        .post(format!("{}/console/holds/{id}/release", server.base))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str()), ("reason", "checked out clean")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(server.client().get(&format!("/api/holds/{id}")).await.body["status"], "canceled");

    // Without a session, console pages redirect to sign-in.
    let r = http.get(format!("{}/console/holds", server.base)).send().await.unwrap();
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn a_cross_site_sign_in_form_cannot_replace_the_session() {
    let server = Server::start(sqlite_db());
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // No pre-session token: the attacker's page cannot read ours.
    let r = http.post(format!("{}/console/login", server.base)).form(&[("token", TEST_TOKEN)]).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().starts_with("cc_session=")));
    // Even with a matching pair, a post from another site is refused.
    let (cookie, field) = login_form(&http, &server.base).await;
    for (name, value) in [("origin", "https://evil.example"), ("origin", "null"), ("sec-fetch-site", "cross-site")] {
        let r = http
            .post(format!("{}/console/login", server.base))
            .header("cookie", &cookie)
            .header(name, value)
            .form(&[("token", TEST_TOKEN), ("login_csrf", field.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{name}: {value}");
    }
}

#[tokio::test]
async fn signing_out_ends_the_server_session_even_without_the_csrf_field() {
    let server = Server::start(sqlite_db());
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = sign_in(&http, &server.base, TEST_TOKEN).await;
    let session = login.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
    let ok = http.get(format!("{}/console/holds", server.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let out = http.post(format!("{}/console/logout", server.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(out.status(), 303);
    // The old cookie, replayed, no longer opens anything.
    let r = http.get(format!("{}/console/holds", server.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn console_sign_in_honours_the_lockout_and_pages_count_against_the_token_limit() {
    let server = Server::start_with(sqlite_db(), &[("CHITTYCHARGE_AUTH_FAILURES_PER_MINUTE", "3")]);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(sign_in(&http, &server.base, "cc_wrong_token_guess").await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    // The good token still signs in from the same address.
    assert_eq!(sign_in(&http, &server.base, TEST_TOKEN).await.status(), 303);

    // A token limited to 3 requests a minute gets 429 on its 4th console page.
    let out = std::process::Command::new(crate::common::BIN)
        .args(["token", "create", "--scope", "holds:read", "--rate-limit", "3"])
        .env_clear()
        .env("DATABASE_URL", server.db.url())
        .output()
        .unwrap();
    let limited = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let login = sign_in(&http, &server.base, &limited).await;
    let session = login.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
    let mut pages = Vec::new();
    for _ in 0..4 {
        let r = http.get(format!("{}/console/holds", server.base)).header("cookie", &session).send().await.unwrap();
        pages.push(r.status().as_u16());
    }
    assert_eq!(pages, [200, 200, 200, 429]);
    let page = http.get(format!("{}/console/holds", server.base)).header("cookie", &session).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(!html.contains("login_csrf"), "the 429 page offers no sign-in form that cannot work");
}

#[tokio::test]
async fn console_forms_refuse_control_and_bidi_characters_like_the_api() {
    let server = Server::start(sqlite_db());
    let id = server.client().authorized_hold(5000).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = sign_in(&http, &server.base, TEST_TOKEN).await;
    let session = login.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
    let page = http.get(format!("{}/console/holds/{id}", server.base)).header("cookie", &session).send().await.unwrap();
    let html = page.text().await.unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    for (path, form) in [
        ("release", vec![("reason", "esc\u{1b}[31mred")]),
        ("release", vec![("reason", "Unit \u{202e}B4")]),
        ("capture", vec![("description", "Lamp\u{202e}"), ("amount", "10.00")]),
        ("capture", vec![("description", "Lamp"), ("amount", "10.00"), ("evidence", "https://a.example/\u{202e}x")]),
    ] {
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend(form.iter().copied());
        let r = http
            .post(format!("{}/console/holds/{id}/{path}", server.base))
            .header("cookie", &session)
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{path} {form:?}");
    }
    let h = server.client().get(&format!("/api/holds/{id}")).await.body;
    assert_eq!((h["status"].as_str(), h["amount_captured"].as_i64()), (Some("requires_capture"), Some(0)));
}
