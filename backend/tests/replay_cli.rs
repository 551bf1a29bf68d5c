//! `riskdeck replay` as a user runs it: the real binary, real files, exit codes.

use std::process::Command;

fn replay(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_riskdeck"))
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
