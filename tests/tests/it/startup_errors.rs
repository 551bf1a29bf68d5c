//! Start-up failures of `riskdeck serve`, through the real binary: each is one line on standard
//! error that says what is wrong and what to do, and a failing exit code.

use std::process::Command;

/// Runs `riskdeck serve` against `database_url`; returns the exit code and standard error.
fn serve(database_url: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_riskdeck-bin"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--assets",
            "/nonexistent",
        ])
        .args(["--database-url", database_url])
        .env("RUST_LOG", "off")
        .env_remove("RISKDECK_CONFIG")
        .env_remove("RISKDECK_DATABASE_URL")
        .env_remove("RISKDECK_LISTEN")
        .output()
        .expect("run riskdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn check(database_url: &str, says: &[&str]) {
    let (code, stderr) = serve(database_url);
    assert_ne!(code, 0, "{database_url}: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{database_url}: one line, not {stderr:?}");
    assert!(lines[0].starts_with("riskdeck: "), "{}", lines[0]);
    for phrase in says {
        assert!(
            lines[0].contains(phrase),
            "{database_url}: {:?} lacks {phrase:?}",
            lines[0]
        );
    }
}

#[test]
fn an_unsupported_database_url_names_the_supported_forms() {
    check(
        "mysql://localhost/riskdeck",
        &[
            "unsupported database URL",
            "use sqlite://PATH or postgres://",
        ],
    );
}

#[test]
fn an_unreachable_database_says_to_check_the_server_and_hides_the_password() {
    let (_, stderr) = serve("postgres://postgres:hunter2@127.0.0.1:1/riskdeck");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    check(
        "postgres://postgres@127.0.0.1:1/riskdeck",
        &[
            "cannot reach the database at postgres://postgres@127.0.0.1:1/riskdeck",
            "check that the database server is running",
        ],
    );
}

#[test]
fn a_file_that_is_not_a_database_is_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("notes.db");
    std::fs::write(&file, "these are my notes, not a database\n".repeat(200)).expect("write");
    check(
        &format!("sqlite://{}", file.display()),
        &["is not a SQLite database", "point database_url at"],
    );
}

#[test]
fn a_missing_directory_says_to_create_it() {
    check(
        "sqlite:///nonexistent-riskdeck-dir/sub/riskdeck.db",
        &[
            "cannot open the database",
            "check that its directory exists",
        ],
    );
}

#[tokio::test]
async fn a_database_from_a_newer_version_says_which_version_to_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    drop(store::open(&url).await.expect("a current database"));
    let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', TRUE, x'00', 0)",
    )
    .execute(&pool)
    .await
    .expect("a migration this version does not know");
    pool.close().await;
    check(
        &url,
        &[
            "migrated by a newer version of Riskdeck",
            "migration 9999",
            "restore a backup",
        ],
    );
}

#[tokio::test]
async fn a_postgres_database_that_does_not_exist_says_to_create_it() {
    let Some(fresh) = store::testing::FreshPostgres::create().await else {
        return;
    };
    let mut url = url::Url::parse(fresh.url()).expect("url");
    url.set_path("riskdeck_no_such_database");
    check(url.as_str(), &["does not exist: create it first"]);
}
