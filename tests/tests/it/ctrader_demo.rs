//! Demo mode with `demo_platform = "ctrader"`: the whole server tracks the demo accounts through
//! the cTrader Open API simulator over real WebSockets, and they go live with the same numbers
//! the world shows.

use backend::config::DemoPlatform;
use shared::api::{AccountSummary, AccountsResponse, FeedStatus};
use std::time::Duration;
use tests::{TestServer, demo_config, eventually};

#[tokio::test]
async fn demo_accounts_tracked_through_the_ctrader_simulator_go_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("r.db"));
    config.demo_platform = DemoPlatform::Ctrader;
    let server = TestServer::start(config).await.expect("server");
    let admin = server.login("admin").await.expect("sign in");
    let list: AccountsResponse = admin
        .get(server.url("/api/accounts"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert!(list.accounts.len() >= 3, "{list:?}");
    for account in list.accounts.iter().take(3) {
        let id = account.id.clone();
        let live: AccountSummary = eventually(
            Duration::from_secs(60),
            "a live account through cTrader",
            || {
                let url = server.url(&format!("/api/accounts/{id}"));
                let admin = &admin;
                async move {
                    let summary: AccountSummary =
                        admin.get(url).send().await.ok()?.json().await.ok()?;
                    (summary.feed == FeedStatus::Live && summary.latest.is_some())
                        .then_some(summary)
                }
            },
        )
        .await
        .expect("account goes live");
        let view = live.latest.expect("latest");
        assert_eq!(view.floating_pl, view.equity - view.balance);
        assert_eq!(live.currency.as_deref(), Some("USD"));
    }
    server.stop().await;
}
