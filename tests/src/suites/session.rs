//! `POST /logout` and `GET /users/me`.

use serde_json::json;

use crate::Harness;

pub async fn me_returns_the_user(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("me@example.com").await;
    let r = app.me(pair["access_token"].as_str().unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["email"], "me@example.com");
    assert_eq!(r.json["id"], pair["user"]["id"]);
    assert_eq!(r.json["roles"], json!(["user"]));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    app.shutdown().await;
}

pub async fn me_without_valid_token_is_401(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("anon@example.com").await;
    let token = pair["access_token"].as_str().unwrap();
    app.send(app.client.get(app.url("/users/me")))
        .await
        .assert_problem(401, "unauthorized");
    for header in [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Basic dXNlcjpwYXNz".to_owned(),
        format!("Token {token}"),
        "Bearer not.a.jwt".to_owned(),
    ] {
        app.send(
            app.client
                .get(app.url("/users/me"))
                .header("authorization", header),
        )
        .await
        .assert_problem(401, "unauthorized");
    }
    // Tokens in the query string are ignored.
    app.send(
        app.client
            .get(app.url(&format!("/users/me?access_token={token}"))),
    )
    .await
    .assert_problem(401, "unauthorized");
    // The scheme is case-insensitive.
    let r = app
        .send(
            app.client
                .get(app.url("/users/me"))
                .header("authorization", format!("bearer {token}")),
        )
        .await;
    assert_eq!(r.status, 200);
    app.shutdown().await;
}

pub async fn logout_revokes_session_and_tokens(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("out@example.com").await;
    let other = app.login("out@example.com").await;
    let access = pair["access_token"].as_str().unwrap();
    let r = app.post_auth("/logout", access, &json!({})).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    let cleared = r.set_cookies();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("authkit_refresh=;") && c.contains("Max-Age=0"))
    );
    // Both the access token and the refresh token of that session are dead at once.
    app.me(access).await.assert_problem(401, "unauthorized");
    app.post(
        "/refresh",
        &json!({ "refresh_token": pair["refresh_token"] }),
    )
    .await
    .assert_problem(400, "invalid_token");
    app.post_auth("/logout", access, &json!({}))
        .await
        .assert_problem(401, "unauthorized");
    // The other session lives on.
    assert_eq!(
        app.me(other["access_token"].as_str().unwrap()).await.status,
        200
    );
    // A body is optional.
    let r = app
        .send(
            app.client
                .post(app.url("/logout"))
                .bearer_auth(other["access_token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.shutdown().await;
}

pub async fn logout_without_token_is_401(h: Harness) {
    let app = h.spawn().await;
    app.post("/logout", &json!({}))
        .await
        .assert_problem(401, "unauthorized");
    app.shutdown().await;
}

pub async fn logout_and_refresh_race_leaves_no_usable_token(h: Harness) {
    let app = h.spawn().await;
    app.register("race-out@example.com").await;
    for _ in 0..10 {
        let pair = app.login("race-out@example.com").await;
        let access = pair["access_token"].as_str().unwrap();
        let body = json!({ "refresh_token": pair["refresh_token"] });
        let (out, refreshed) = tokio::join!(
            app.post_auth("/logout", access, &json!({})),
            app.post("/refresh", &body)
        );
        assert_eq!(out.status, 204);
        if refreshed.status == 200 {
            let new_access = refreshed.json["access_token"].as_str().unwrap();
            app.me(new_access).await.assert_problem(401, "unauthorized");
            app.post(
                "/refresh",
                &json!({ "refresh_token": refreshed.json["refresh_token"] }),
            )
            .await
            .assert_problem(400, "invalid_token");
        }
    }
    app.shutdown().await;
}
