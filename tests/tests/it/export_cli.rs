//! `riskdeck export` as an operator runs it: the real binary against a real database.

use chrono::{DateTime, Utc};
use rust_decimal_macros::dec;
use shared::api::EquityPoint;
use shared::domain::AccountId;
use shared::peaks::Peaks;
use std::path::Path;
use std::process::Command;
use store::StoredEvent;

fn riskdeck(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_riskdeck-bin"))
        .args(args)
        .env_remove("RISKDECK_DATABASE_URL")
        .env_remove("RISKDECK_CONFIG")
        .output()
        .expect("run riskdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("time")
}

/// A database holding one account's challenge: peaks, state, two events, two rule set
/// versions and a minute of equity samples (one whole minute bucket) with one dip.
async fn seed(url: &str) {
    let store = store::open(url).await.expect("open");
    let account = AccountId::from("ftmo-100k");
    store
        .save_peaks(
            &account,
            &Peaks {
                starting_capital: Some(dec!(100000)),
                peak_balance: Some(dec!(100250.50)),
                peak_equity: Some(dec!(100300.25)),
            },
        )
        .await
        .expect("peaks");
    let event = |ms: i64, kind: &str| StoredEvent {
        time: at(ms),
        kind: kind.to_owned(),
        rule: Some("daily_loss".to_owned()),
        body: format!(r#"{{"kind":"{kind}","evidence":{{"measured":"94999"}}}}"#),
    };
    store
        .save_challenge(
            &account,
            r#"{"challenge":{"status":"failed"}}"#,
            &[
                event(1_700_000_030_000, "breach"),
                event(1_700_000_030_000, "failed"),
            ],
        )
        .await
        .expect("challenge");
    for (from, limit) in [(1_699_999_000_000, "5000"), (1_700_000_000_000, "4000")] {
        store
            .save_rule_set(
                &account,
                at(from),
                &serde_json::json!({ "daily_loss": limit }),
                "admin",
            )
            .await
            .expect("rule set");
    }
    assert!(
        store
            .link_challenge_rule_set(&account, 2)
            .await
            .expect("link")
    );
    let points: Vec<EquityPoint> = (0..60)
        .map(|s| EquityPoint {
            time: at(1_699_999_980_000 + s * 1_000),
            balance: dec!(100000),
            equity: if s == 30 { dec!(94999) } else { dec!(100000.5) },
        })
        .collect();
    store
        .append_samples(&account, &points)
        .await
        .expect("samples");
}

#[tokio::test]
async fn an_account_is_exported_whole_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    seed(&url).await;
    let out = dir.path().join("export.json");
    let (code, stdout, stderr) = riskdeck(&[
        "export",
        "--account",
        "ftmo-100k",
        "--database-url",
        &url,
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("written")).expect("json");
    assert_eq!(json["format"], "riskdeck-export/1");
    assert_eq!(json["account_id"], "ftmo-100k");
    assert_eq!(json["peaks"]["peak_equity"], "100300.25");
    assert_eq!(json["challenge"]["challenge"]["status"], "failed");
    assert_eq!(json["challenge_rule_set_version"], 2);
    let events = json["events"].as_array().expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["kind"], "breach");
    assert_eq!(events[0]["event"]["evidence"]["measured"], "94999");
    assert!(events[0]["id"].as_i64() < events[1]["id"].as_i64());
    let rule_sets = json["rule_sets"].as_array().expect("rule sets");
    assert_eq!(rule_sets.len(), 2);
    assert_eq!(rule_sets[1]["version"], 2);
    assert_eq!(rule_sets[1]["rules"]["daily_loss"], "4000");
    let tiers = json["equity"].as_array().expect("equity");
    let names: Vec<_> = tiers
        .iter()
        .map(|t| t["tier"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["10s", "1m", "15m", "4h", "1d"]);
    assert_eq!(tiers[0]["buckets"].as_array().expect("10 s").len(), 6);
    let minute = &tiers[1]["buckets"][0];
    assert_eq!(minute["samples"], 60);
    assert_eq!(minute["equity"]["min"], "94999", "the dip is in the export");
    assert_eq!(minute["equity"]["max"], "100000.5");

    // To standard output, the same document.
    let (code, stdout, stderr) =
        riskdeck(&["export", "--account", "ftmo-100k", "--database-url", &url]);
    assert_eq!(code, 0, "{stderr}");
    let again: serde_json::Value = serde_json::from_str(&stdout).expect("json on stdout");
    assert_eq!(again["events"], json["events"]);
}

#[tokio::test]
async fn unknown_accounts_and_missing_databases_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    seed(&url).await;
    let (code, stdout, stderr) =
        riskdeck(&["export", "--account", "nobody", "--database-url", &url]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("nothing is stored for account \"nobody\""),
        "{stderr}"
    );

    let missing = dir.path().join("typo.db");
    let (code, _, stderr) = riskdeck(&[
        "export",
        "--account",
        "ftmo-100k",
        "--database-url",
        &format!("sqlite://{}", missing.display()),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("there is no database at"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        !Path::new(&missing).exists(),
        "no empty database was created"
    );
}
