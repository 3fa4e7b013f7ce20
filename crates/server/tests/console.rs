//! The console's session and CSRF protection, without a browser.

mod common;

use common::{sqlite_db, Server, TEST_TOKEN};

#[tokio::test]
async fn console_sessions_are_httponly_samesite_and_actions_need_the_csrf_token() {
    let server = Server::start(sqlite_db());
    let id = server.client().authorized_hold(5000).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login =
        http.post(format!("{}/console/login", server.base)).form(&[("token", TEST_TOKEN)]).send().await.unwrap();
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
