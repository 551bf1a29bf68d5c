//! Admins manage users and who owns which account over the JSON API: create traders and
//! admins, reset passwords (the user's sessions end at once), assign and unassign accounts.
//! Every change is in the audit log with who made it and the thing before and after.

use serde_json::json;
use shared::api::{AccountOwnerResponse, ErrorBody, Role, UserSummary};
use store::AuditFilter;
use tests::{TestServer, demo_config};

async fn post(client: &reqwest::Client, url: String, body: serde_json::Value) -> (u16, String) {
    let response = client.post(url).json(&body).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[track_caller]
fn error(body: &str) -> ErrorBody {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not an error body ({e}): {body}"))
}

async fn audit_actions(server: &TestServer, subject: &str) -> Vec<(String, serde_json::Value)> {
    let mut entries = server
        .state
        .store
        .audit_log(&AuditFilter {
            subject: Some(subject.to_owned()),
            ..AuditFilter::default()
        })
        .await
        .expect("audit log");
    entries.reverse();
    entries
        .into_iter()
        .map(|record| {
            assert_eq!(record.entry.actor, "admin");
            let whole = json!({ "before": record.entry.before, "after": record.entry.after });
            (record.entry.action, whole)
        })
        .collect()
}

#[tokio::test]
async fn admins_create_users_and_reset_passwords_with_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.session_for("admin").await.expect("admin");
    let users = server.url("/api/users");

    let (status, body) = post(
        &admin.client,
        users.clone(),
        json!({"username": "Jane", "password": "correct horse battery", "role": "trader"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let jane: UserSummary = serde_json::from_str(&body).expect("user");
    assert_eq!((jane.username.as_str(), jane.role), ("Jane", Role::Trader));
    assert!(!jane.disabled);
    let session = server
        .login_with_password("jane", "correct horse battery")
        .await
        .expect("the new trader signs in");
    assert_eq!(session.user.id, jane.id);

    // What is wrong is said in words, with 409 for a taken name and 422 for the rest.
    for (body, want_status, want_code, want_text) in [
        (
            json!({"username": "JANE", "password": "correct horse battery", "role": "admin"}),
            409,
            "conflict",
            "is taken",
        ),
        (
            json!({"username": "ann", "password": "short", "role": "trader"}),
            422,
            "invalid",
            "at least 12 characters",
        ),
        (
            json!({"username": "ann lee", "password": "correct horse battery", "role": "trader"}),
            422,
            "invalid",
            "may only contain",
        ),
        (
            json!({"username": "ann", "password": "correct horse battery", "role": "root"}),
            422,
            "invalid",
            "unknown variant",
        ),
        (
            json!({"username": "ann", "password": "correct horse battery"}),
            422,
            "invalid",
            "missing field `role`",
        ),
        (
            json!({"username": "ann", "password": "correct horse battery", "role": "trader",
                   "admin": true}),
            422,
            "invalid",
            "unknown field",
        ),
    ] {
        let (status, text) = post(&admin.client, users.clone(), body.clone()).await;
        let answer = error(&text);
        assert_eq!(
            (status, answer.error.as_str()),
            (want_status, want_code),
            "{body}: {text}"
        );
        assert!(answer.message.contains(want_text), "{body}: {text}");
    }
    // A trader may not; nor may an admin's page without the anti-forgery token.
    let trader = server.session_for("trader").await.expect("trader");
    let valid = json!({"username": "ann", "password": "correct horse battery", "role": "admin"});
    assert_eq!(
        post(&trader.client, users.clone(), valid.clone()).await.0,
        403
    );
    assert_eq!(post(&admin.without_csrf, users.clone(), valid).await.0, 403);

    // A new password ends Jane's sessions at once; the old password no longer works.
    let reset = server.url(&format!("/api/users/{}/password", jane.id));
    let (status, text) = post(&admin.client, reset.clone(), json!({"password": "tiny"})).await;
    assert_eq!((status, error(&text).error.as_str()), (422, "invalid"));
    let me = server.url("/api/auth/me");
    assert_eq!(
        session.client.get(&me).send().await.expect("me").status(),
        200
    );
    let (status, text) = post(
        &admin.client,
        reset,
        json!({"password": "a much better passphrase"}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        session.client.get(&me).send().await.expect("me").status(),
        401
    );
    assert!(
        server
            .login_with_password("jane", "correct horse battery")
            .await
            .is_err()
    );
    server
        .login_with_password("jane", "a much better passphrase")
        .await
        .expect("the new password works");
    let (status, text) = post(
        &admin.client,
        server.url("/api/users/999999/password"),
        json!({"password": "a much better passphrase"}),
    )
    .await;
    assert_eq!((status, error(&text).error.as_str()), (404, "not_found"));

    // Both changes are audited, with the user before and after and no password anywhere.
    let entries = audit_actions(&server, &format!("user:{}", jane.id)).await;
    let actions: Vec<&str> = entries.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["user.create", "user.reset_password"]);
    assert_eq!(entries[0].1["before"], serde_json::Value::Null);
    assert_eq!(entries[0].1["after"]["username"], "Jane");
    let text = serde_json::to_string(&entries).expect("json");
    assert!(
        !text.contains("horse") && !text.contains("passphrase") && !text.contains("argon"),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn disabling_and_enabling_are_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.session_for("admin").await.expect("admin");
    let trader2 = server.session_for("trader2").await.expect("trader2");
    let id = trader2.user.id;
    for action in ["disable", "enable"] {
        let (status, text) = post(
            &admin.client,
            server.url(&format!("/api/users/{id}/{action}")),
            json!({}),
        )
        .await;
        assert_eq!(status, 200, "{text}");
    }
    let entries = audit_actions(&server, &format!("user:{id}")).await;
    let actions: Vec<&str> = entries.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["user.disable", "user.enable"]);
    assert_eq!(entries[0].1["before"]["disabled"], false);
    assert_eq!(entries[0].1["after"]["disabled"], true);
    assert_eq!(entries[1].1["after"]["disabled"], false);
    server.stop().await;
}

#[tokio::test]
async fn admins_assign_and_unassign_accounts_and_traders_see_it_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.session_for("admin").await.expect("admin");
    let trader = server.session_for("trader").await.expect("trader");
    let trader2 = server.session_for("trader2").await.expect("trader2");
    // trader2 owns demo-no-stop; trader does not.
    let account = server.url("/api/accounts/demo-no-stop");
    let status_for = |session: &tests::Session| {
        let request = session.client.get(&account);
        async move { request.send().await.expect("request").status().as_u16() }
    };
    assert_eq!(
        (status_for(&trader).await, status_for(&trader2).await),
        (404, 200)
    );

    let assign = server.url("/api/accounts/demo-no-stop/assign");
    let (status, text) = post(
        &admin.client,
        assign.clone(),
        json!({"user": trader.user.id}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let owner: AccountOwnerResponse = serde_json::from_str(&text).expect("owner");
    assert_eq!(owner.account.as_str(), "demo-no-stop");
    assert_eq!(owner.owner.map(|u| u.username).as_deref(), Some("trader"));
    assert_eq!(
        (status_for(&trader).await, status_for(&trader2).await),
        (200, 404)
    );

    let (status, text) = post(
        &admin.client,
        server.url("/api/accounts/demo-no-stop/unassign"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let owner: AccountOwnerResponse = serde_json::from_str(&text).expect("owner");
    assert_eq!(owner.owner, None);
    assert_eq!(
        (status_for(&trader).await, status_for(&trader2).await),
        (404, 404)
    );

    // Only traders own accounts; the user and the account must exist.
    for (url, body, want_status, want_text) in [
        (
            assign.clone(),
            json!({"user": admin.user.id}),
            422,
            "only a trader can own one",
        ),
        (
            assign.clone(),
            json!({"user": 999_999}),
            422,
            "no user with id",
        ),
        (
            assign.clone(),
            json!({"user": "trader"}),
            422,
            "invalid type",
        ),
        (
            server.url("/api/accounts/no-such-account/assign"),
            json!({"user": trader.user.id}),
            404,
            "No account",
        ),
    ] {
        let (status, text) = post(&admin.client, url, body.clone()).await;
        assert_eq!(status, want_status, "{body}: {text}");
        assert!(error(&text).message.contains(want_text), "{body}: {text}");
    }

    let entries = audit_actions(&server, "account:demo-no-stop").await;
    let actions: Vec<&str> = entries.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["account.assign", "account.unassign"]);
    assert_eq!(entries[0].1["before"]["owner"]["username"], "trader2");
    assert_eq!(entries[0].1["after"]["owner"]["username"], "trader");
    assert_eq!(entries[1].1["after"]["owner"], serde_json::Value::Null);
    server.stop().await;
}
