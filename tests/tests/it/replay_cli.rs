//! `riskdeck replay` as a user runs it: the real binary, real files, exit codes.

use std::process::Command;

fn replay(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_riskdeck-bin"))
        .arg("replay")
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run riskdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ftmo_worked_example_fails_on_max_loss_with_evidence() {
    let (code, stdout, stderr) = replay(&[
        "--preset",
        "ftmo-2step",
        "--initial-balance",
        "100000",
        "--events",
        "docs/examples/ftmo-max-loss-breach.jsonl",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON report");
    assert_eq!(report["status"], "failed");
    let breach = report["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "breach")
        .expect("a breach event");
    assert_eq!(breach["rule"], "max_loss");
    assert_eq!(breach["time"], "2026-03-04T10:05:00Z");
    assert_eq!(breach["evidence"]["measured"], "89999");
    assert_eq!(breach["evidence"]["limit"], "90000");
    assert_eq!(report["metrics"]["balance"], "92000");
    assert_eq!(report["metrics"]["realized_loss_mtd"], "8000");
}

#[test]
fn malformed_input_exits_2_naming_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.jsonl");
    std::fs::write(
        &file,
        "{\"time\":\"2026-03-02T08:00:00Z\",\"positions\":[]}\n\n{\"time\":\"2026-03-02T08:00:00Z\"}\n",
    )
    .expect("write");
    let (code, stdout, stderr) = replay(&[
        "--preset",
        "ftmo-2step",
        "--initial-balance",
        "100000",
        "--events",
        file.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("line 3"), "{stderr}");
}

#[test]
fn unknown_preset_and_missing_file_exit_2_with_the_reason() {
    let (code, _, stderr) = replay(&[
        "--preset",
        "no-such-firm",
        "--initial-balance",
        "100000",
        "--events",
        "docs/examples/ftmo-max-loss-breach.jsonl",
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("ftmo-2step"),
        "lists the known presets: {stderr}"
    );
    let (code, _, stderr) = replay(&[
        "--preset",
        "ftmo-2step",
        "--initial-balance",
        "100000",
        "--events",
        "no/such/file.jsonl",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read"), "{stderr}");
}

/// One firm's worked example replayed through the binary: its events and rule files in
/// `docs/examples/`, the challenge's final status, the first breach (rule, time, measured,
/// limit) and further JSON pointers into the breach's evidence and into the report.
struct Example<'a> {
    name: &'a str,
    initial_balance: &'a str,
    /// A rules file `docs/examples/rules/{name}.json`, or this preset.
    preset: Option<&'a str>,
    status: &'a str,
    breach: Option<(&'a str, &'a str, &'a str, &'a str)>,
    evidence: &'a [(&'a str, &'a str)],
    report: &'a [(&'a str, &'a str)],
}

#[track_caller]
fn check(example: Example<'_>) {
    let events = format!("docs/examples/{}.jsonl", example.name);
    let rules = format!("docs/examples/rules/{}.json", example.name);
    let mut args = vec![
        "--preset",
        example.preset.unwrap_or("ftmo-2step"),
        "--initial-balance",
        example.initial_balance,
        "--events",
        &events,
    ];
    if example.preset.is_none() {
        args.extend(["--rules", &rules]);
    }
    let (code, stdout, stderr) = replay(&args);
    assert_eq!(code, 0, "{}: {stderr}", example.name);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON report");
    assert_eq!(
        report["status"], example.status,
        "{}: {report:#}",
        example.name
    );
    let breach = report["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "breach");
    match (example.breach, breach) {
        (None, None) => {}
        (Some((rule, time, measured, limit)), Some(breach)) => {
            assert_eq!(breach["rule"], rule, "{}", example.name);
            assert_eq!(breach["time"], time, "{}", example.name);
            assert_eq!(breach["evidence"]["measured"], measured, "{}", example.name);
            assert_eq!(breach["evidence"]["limit"], limit, "{}", example.name);
            for (pointer, value) in example.evidence {
                assert_eq!(
                    breach["evidence"].pointer(pointer),
                    Some(&serde_json::Value::from(*value)),
                    "{}: evidence{pointer}",
                    example.name
                );
            }
        }
        (expected, found) => panic!("{}: breach {expected:?}, found {found:?}", example.name),
    }
    for (pointer, value) in example.report {
        assert_eq!(
            report.pointer(pointer),
            Some(&serde_json::Value::from(*value)),
            "{}: report{pointer}",
            example.name
        );
    }
}

#[test]
fn firms_worked_examples_replay_to_their_published_outcome() {
    // The Talented Trader: "equity drops to $45,000 or below" on a $50,000 account.
    check(Example {
        name: "max-loss-at-floor",
        initial_balance: "50000",
        preset: None,
        status: "failed",
        breach: Some(("max_loss", "2026-03-02T10:05:00Z", "45000", "45000")),
        evidence: &[],
        report: &[],
    });
    // T4T Capital: weekly start balance 101,000, 2% of 100,000: the level is 99,000.
    check(Example {
        name: "weekly-loss",
        initial_balance: "100000",
        preset: None,
        status: "failed",
        breach: Some(("weekly_loss", "2026-01-12T09:05:00Z", "98999.99", "99000")),
        evidence: &[("/anchors/start_of_week_balance", "101000")],
        report: &[("/rules/0/kind", "period_loss")],
    });
    // Funds.Pro: equity rises to 10,300, 5% of 10,000: the limit is 9,800.
    check(Example {
        name: "daily-loss-day-high",
        initial_balance: "10000",
        preset: None,
        status: "failed",
        breach: Some(("daily_loss", "2026-03-02T11:05:00Z", "9799.99", "9800")),
        evidence: &[("/anchors/highest_equity_of_day", "10300")],
        report: &[],
    });
    // Balance drawdown: a floating 15K loss does not breach; closing it at 85K does.
    check(Example {
        name: "max-loss-on-balance",
        initial_balance: "100000",
        preset: None,
        status: "failed",
        breach: Some(("max_loss", "2026-03-02T11:00:00Z", "85000", "90000")),
        evidence: &[],
        report: &[("/rules/0/measure", "balance")],
    });
    // Top Tier Trader: a 2,800 loss is within 3% of 100,000, a 3,500 loss breaches.
    check(Example {
        name: "trade-loss",
        initial_balance: "100000",
        preset: None,
        status: "failed",
        breach: Some(("trade_loss", "2026-03-03T10:00:00Z", "-3500", "-3000")),
        evidence: &[("/deal_id", "2"), ("/position_id", "p2")],
        report: &[("/rules/0/measured", "3500")],
    });
    // Holding time of 4 hours, checked on a bare clock tick.
    check(Example {
        name: "holding-time",
        initial_balance: "100000",
        preset: None,
        status: "paused",
        breach: Some(("holding_time", "2026-03-02T13:00:01Z", "240.02", "240")),
        evidence: &[("/position_id", "p1")],
        report: &[],
    });
    // Pro Trader Funding: flat by 15:45 New York on Friday (a soft breach).
    check(Example {
        name: "weekend-positions",
        initial_balance: "100000",
        preset: None,
        status: "paused",
        breach: Some(("weekend", "2026-01-16T20:45:00Z", "1", "0")),
        evidence: &[("/position_id", "p1")],
        report: &[],
    });
    // Prop Number One: three days of 0.5%, the third ends with an open loss of 150.
    check(Example {
        name: "profitable-days",
        initial_balance: "100000",
        preset: None,
        status: "active",
        breach: None,
        evidence: &[],
        report: &[
            ("/rules/0/measured", "3"),
            ("/rules/0/status", "passed"),
            ("/rules/1/measured", "2"),
            ("/rules/1/status", "pending"),
        ],
    });
    // MetaApi's quarter tracker: 10% under the balance at the quarter's start (104,000).
    check(Example {
        name: "quarterly-loss",
        initial_balance: "100000",
        preset: None,
        status: "failed",
        breach: Some(("quarterly_loss", "2026-04-01T09:05:00Z", "93599", "93600")),
        evidence: &[("/anchors/start_of_quarter_balance", "104000")],
        report: &[],
    });
    // FTMO's best-day example (5,000 and 5,000): met, but never a pass by itself.
    check(Example {
        name: "best-day-alone",
        initial_balance: "100000",
        preset: None,
        status: "active",
        breach: None,
        evidence: &[],
        report: &[("/rules/0/status", "passed")],
    });
    // Interest, dividend and tax deals: trading P/L by default, balance operations by choice.
    check(Example {
        name: "interest-dividend-tax",
        initial_balance: "100000",
        preset: Some("ftmo-2step"),
        status: "active",
        breach: None,
        evidence: &[],
        report: &[
            ("/metrics/today_closed_pl", "95"),
            ("/metrics/net_deposits", "0"),
        ],
    });
    check(Example {
        name: "interest-dividend-tax",
        initial_balance: "100000",
        preset: None,
        status: "active",
        breach: None,
        evidence: &[],
        report: &[
            ("/metrics/today_closed_pl", "0"),
            ("/metrics/net_deposits", "95"),
            ("/rules/0/limit", "95095"),
        ],
    });
}
