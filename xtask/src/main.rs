//! `cargo xtask`: one command to run Riskdeck with demo data, one to run every test.
//!
//! Both set up what they need and can set up: the wasm32 target through rustup, Chromium and
//! ChromeDriver from apt when running as root (otherwise they say what to install).

// Lints run on xtask's test build (`cargo xtask test`); this keeps its real build as strict, where
// code only the tests use would be dead.
#![cfg_attr(not(test), deny(warnings))]

mod bundle;
mod compress;
mod conformance;
mod cycles;
mod map;

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

const USAGE: &str = "\
usage: cargo xtask <command>

  run [ARGS...]   build the browser app and the server, start with demo data
                  (ARGS go to `riskdeck serve`, e.g. --listen 127.0.0.1:9000)
  test            every check and test: fmt, clippy (native and wasm32), unit,
                  HTTP, SSE, database and headless-browser tests, conformance
  conformance     check against what the outside world publishes: schemathesis
                  on the OpenAPI document, MetaApi's and Spotware's SDKs, the
                  firms' worked examples
  dist            build only the browser app into target/dist
  cycles          check that no modules depend on each other in a cycle
  map             check that ARCHITECTURE.md names every crate and module
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("test") => test(),
        Some("conformance") => conformance::run(&root()),
        Some("dist") => bundle::build(&root()).map(|_| ()),
        Some("cycles") => cycles::check(&root()),
        Some("map") => map::check(&root()),
        _ => {
            eprint!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(error) = result {
        eprintln!("xtask: error: {error:#}");
        std::process::exit(1);
    }
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or(manifest.clone(), Path::to_path_buf)
}

/// Set by `cargo xtask test`: clippy-driver compiles the workspace's own crates (as
/// `RUSTC_WORKSPACE_WRAPPER`, which is how `cargo clippy` runs it), so the tests' build is also
/// the native lint pass, with every warning an error. `cargo clippy` would compile every
/// dependency a second time only to lint our code. (The browser bundles are built without it:
/// see `bundle::compile_frontend`.)
static LINT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn cargo_path() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from)
}

fn cargo() -> Command {
    let mut command = Command::new(cargo_path());
    command.current_dir(root());
    if let Some(driver) = LINT.get() {
        command.env("RUSTC_WORKSPACE_WRAPPER", driver).env(
            "CLIPPY_ARGS",
            "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
        );
    }
    command
}

/// clippy-driver of the toolchain that runs this cargo.
fn clippy_driver() -> anyhow::Result<PathBuf> {
    let beside_cargo = cargo_path().with_file_name("clippy-driver");
    if beside_cargo.is_file() {
        return Ok(beside_cargo);
    }
    let which = Command::new("rustup")
        .args(["which", "clippy-driver"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    match which {
        Some(path) if path.is_file() => Ok(path),
        _ => bail!("clippy is missing: install it with `rustup component add clippy`"),
    }
}

fn status(command: &mut Command) -> anyhow::Result<ExitStatus> {
    eprintln!("xtask: running {command:?}");
    command
        .status()
        .with_context(|| format!("cannot start {command:?}"))
}

fn check(command: &mut Command) -> anyhow::Result<()> {
    let status = status(command)?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

fn run(extra: &[String]) -> anyhow::Result<()> {
    let root = root();
    let dist = bundle::build(&root)?;
    let data = root.join("target/demo");
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let database = format!("sqlite://{}", data.join("riskdeck.db").display());
    check(
        cargo()
            .args([
                "run",
                "--release",
                "--package",
                "backend",
                "--bin",
                "riskdeck",
                "--",
            ])
            .args(["serve", "--demo", "--assets"])
            .arg(&dist)
            .args(["--database-url", &database])
            .arg("--journal-dir")
            .arg(data.join("journal"))
            .args(extra),
    )
}

fn test() -> anyhow::Result<()> {
    let root = root();
    let mut phases = Phases::default();
    phases.time("layout checks", || {
        cycles::check(&root)?;
        map::check(&root)?;
        ensure_browser()?;
        let driver = clippy_driver()?;
        LINT.get_or_init(|| driver);
        Ok(())
    })?;
    phases.time("fmt", || check(cargo().args(["fmt", "--all", "--check"])))?;
    // Both bundles, the trader's and the admin console's, build while the tests do: they are
    // wasm32 under their own profile (their own build directories, no lock shared with the
    // native build), and each ends in one long single-threaded step (one codegen unit, LTO)
    // during which the native build has the other core.
    let dist = phases.time("browser bundles and the tests' build (and lint)", || {
        std::thread::scope(|scope| {
            let bundles = scope.spawn(|| bundle::build(&root));
            let native = check(cargo().args(["test", "--workspace", "--no-run"]))
                // `cargo test` builds every target but the benches: build (and lint) those too.
                .and_then(|()| {
                    check(cargo().args(["test", "--workspace", "--benches", "--no-run"]))
                });
            let dist = bundles
                .join()
                .map_err(|_| anyhow::anyhow!("the bundle build panicked"))??;
            native.map(|()| dist)
        })
    })?;
    bundle::check_budget(&dist)?;
    // The wasm32 lints run while the tests do, once the test binaries run: cargo holds its
    // build lock only while it builds, and the integration tests mostly wait (on browsers,
    // servers, brokers). The lints' output is kept and printed after the tests', so no line of
    // either is cut by the other.
    phases.time("run the tests, and the wasm32 lints beside them", || {
        let mut tests = cargo()
            .args(["test", "--workspace"])
            .env("RISKDECK_DIST", &dist)
            .env("RUST_TEST_THREADS", test_threads())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("cannot start cargo test")?;
        let stderr = tests.stderr.take().context("no stderr of cargo test")?;
        let (running, started) = std::sync::mpsc::channel();
        // cargo's own lines (and the tests' stderr) pass through; the first `Running` line
        // says the build is done.
        let relay = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.trim_start().starts_with("Running ") {
                    let _ = running.send(());
                }
                eprintln!("{line}");
            }
        });
        let lints = match started.recv() {
            Ok(()) => lint_wasm(&root),
            // cargo test ended without running anything: its status says why.
            Err(_) => Ok(()),
        };
        let status = tests.wait().context("cargo test")?;
        let _ = relay.join();
        if !status.success() {
            bail!("cargo test --workspace failed ({status})");
        }
        lints
    })?;
    phases.time("conformance", || conformance::run(&root))?;
    eprintln!("xtask: every check passed ({phases})");
    Ok(())
}

/// clippy for wasm32 over the browser app, the trader's (no features) and the admin console's:
/// the bundles are built as shipped, not through clippy-driver, so they are linted apart. The
/// output is printed once both are done.
fn lint_wasm(root: &Path) -> anyhow::Result<()> {
    for features in [&[][..], &["--features", "frontend/admin"][..]] {
        let mut command = Command::new(cargo_path());
        command
            .current_dir(root)
            .args([
                "clippy",
                "--package",
                "shared",
                "--package",
                "frontend",
                "--target",
                "wasm32-unknown-unknown",
            ])
            .args(features)
            .args(["--", "-D", "warnings"]);
        let output = command
            .output()
            .with_context(|| format!("cannot run {command:?}"))?;
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        print!("{}", String::from_utf8_lossy(&output.stdout));
        if !output.status.success() {
            bail!("{command:?} failed ({})", output.status);
        }
    }
    Ok(())
}

/// Tests run at once: four per core, at most 16. The integration tests mostly wait (on a
/// browser, a broker's timeout, a restarted server), so two at a time on two cores would leave
/// the machine idle: 155 tests took 237 s with 2 threads and 107 s with 8 (docs/BENCHMARKS.md).
/// `RUST_TEST_THREADS`, when set, is kept.
fn test_threads() -> String {
    std::env::var("RUST_TEST_THREADS").unwrap_or_else(|_| {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        (cores * 4).min(16).to_string()
    })
}

/// How long each phase of `cargo xtask test` took, so a slow CI run says where its time went.
#[derive(Default)]
struct Phases(Vec<(&'static str, std::time::Duration)>);

impl Phases {
    fn time<T>(
        &mut self,
        name: &'static str,
        phase: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let start = std::time::Instant::now();
        let result = phase();
        let took = start.elapsed();
        eprintln!("xtask: {name} took {} s", took.as_secs());
        self.0.push((name, took));
        result
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total: std::time::Duration = self.0.iter().map(|(_, took)| *took).sum();
        write!(f, "{} s in all:", total.as_secs())?;
        for (i, (name, took)) in self.0.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{name} {} s", took.as_secs())?;
        }
        Ok(())
    }
}

/// Headless Chromium and ChromeDriver drive the browser tests.
fn ensure_browser() -> anyhow::Result<()> {
    let present = |path: &str| Path::new(path).exists();
    if present("/usr/bin/chromium") && present("/usr/bin/chromedriver") {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    if !is_root {
        bail!(
            "the browser tests need Chromium and ChromeDriver: install them with \
             `sudo apt-get install -y chromium chromium-driver` and run again"
        );
    }
    eprintln!("xtask: installing chromium and chromium-driver from apt");
    check(Command::new("apt-get").arg("update").arg("-q"))?;
    check(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "chromium", "chromium-driver"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}
