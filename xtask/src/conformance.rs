//! `cargo xtask conformance`: Riskdeck checked against what the outside world publishes.
//!
//! A list of suites, each counting its own passes and failures: schemathesis on our OpenAPI
//! document against `riskdeck serve --demo` (as admin and as trader), MetaApi's official Python
//! SDK synchronizing with the demo broker's streaming API, the same SDK's risk management client
//! (`RiskManagement`) driving Riskdeck's own risk management API with an API token, Spotware's
//! official Python SDK reading the cTrader simulator over protobuf and TLS, and the firms' worked
//! examples replayed through `riskdeck replay`. The Python tools come from PyPI into virtual
//! environments cached under the target directory, each keyed by a hash of its pinned
//! requirements file (`conformance/requirements*.txt`). The run ends with exactly one line,
//! `conformance: N passed, M failed`, and fails when M is not zero.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Examples schemathesis draws per operation and phase: enough to find what it finds in a
/// couple of minutes on two cores.
const MAX_EXAMPLES: &str = "30";
/// A fixed seed, so a failure found once is found again.
const SEED: &str = "20261204";

/// What one suite counted.
#[derive(Default, Clone, Copy)]
struct Tally {
    passed: usize,
    failed: usize,
}

/// What the suites share: where the workspace and its build outputs are, and the Python tools.
struct Setup {
    root: PathBuf,
    target: PathBuf,
    venv: PathBuf,
}

struct Suite {
    name: &'static str,
    run: fn(&Setup) -> anyhow::Result<Tally>,
}

/// Every conformance suite.
const SUITES: &[Suite] = &[
    Suite {
        name: "schemathesis",
        run: schemathesis,
    },
    Suite {
        name: "MetaApi's SDK",
        run: metaapi_sdk,
    },
    Suite {
        name: "MetaApi's risk management SDK",
        run: metaapi_risk,
    },
    Suite {
        name: "Spotware's SDK",
        run: ctrader_sdk,
    },
    Suite {
        name: "worked examples",
        run: worked_examples,
    },
];

pub fn run(root: &Path) -> anyhow::Result<()> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let venv = python_tools(root, &venv_cache(&target), "conformance/requirements.txt")?;
    let setup = Setup {
        root: root.to_owned(),
        target,
        venv,
    };
    let mut total = Tally::default();
    for suite in SUITES {
        eprintln!("xtask: conformance suite `{}`", suite.name);
        let start = std::time::Instant::now();
        let tally = (suite.run)(&setup).unwrap_or_else(|error| {
            eprintln!(
                "xtask: conformance suite `{}` could not run: {error:#}",
                suite.name
            );
            Tally {
                passed: 0,
                failed: 1,
            }
        });
        eprintln!(
            "xtask: conformance suite `{}`: {} passed, {} failed ({} s)",
            suite.name,
            tally.passed,
            tally.failed,
            start.elapsed().as_secs()
        );
        total.passed += tally.passed;
        total.failed += tally.failed;
    }
    println!(
        "conformance: {} passed, {} failed",
        total.passed, total.failed
    );
    if total.failed > 0 {
        bail!("{} conformance checks failed", total.failed);
    }
    Ok(())
}

/// Where the Python environments are kept: outside the checkout (`$XDG_CACHE_HOME` or
/// `~/.cache`, under `riskdeck/conformance`), so a fresh clone on the same machine does not
/// install the same pinned packages again; `target/conformance` without a home. Each is named by
/// the hash of its requirements, so a new pin makes a new one.
fn venv_cache(target: &Path) -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .map_or_else(
            || target.join("conformance"),
            |cache| cache.join("riskdeck").join("conformance"),
        )
}

/// The cached virtual environment for a pinned requirements file (relative to the workspace),
/// made when missing.
fn python_tools(root: &Path, cache: &Path, requirements: &str) -> anyhow::Result<PathBuf> {
    let requirements = root.join(requirements);
    let pinned = std::fs::read(&requirements)
        .with_context(|| format!("cannot read {}", requirements.display()))?;
    let venv = cache.join(format!("venv-{:016x}", fnv1a(&pinned)));
    // Written last, so an interrupted install is never taken for a finished one.
    let done = venv.join("installed");
    if done.exists() {
        return Ok(venv);
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv)
            .with_context(|| format!("cannot remove {}", venv.display()))?;
    }
    std::fs::create_dir_all(cache).with_context(|| format!("cannot create {}", cache.display()))?;
    eprintln!("xtask: making the Python environment {}", venv.display());
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .context("cannot start python3: install Python 3 (e.g. `apt-get install python3`)")?;
    if !made.status.success() {
        bail!(
            "`python3 -m venv` failed (on Debian or Ubuntu: `apt-get install python3-venv`): {}",
            String::from_utf8_lossy(&made.stderr).trim()
        );
    }
    let installed = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "-q",
            "-r",
        ])
        .arg(&requirements)
        .stdin(Stdio::null())
        .output()
        .context("cannot start pip in the new environment")?;
    if !installed.status.success() {
        let stderr = String::from_utf8_lossy(&installed.stderr);
        let reasons: Vec<&str> = stderr
            .lines()
            .filter(|line| line.contains("ERROR") || line.contains("No matching distribution"))
            .collect();
        let reasons = if reasons.is_empty() {
            stderr.trim().to_owned()
        } else {
            reasons.join("\n")
        };
        bail!(
            "pip could not install {} (is PyPI reachable from this machine?):\n{reasons}",
            requirements.display(),
        );
    }
    std::fs::write(&done, "").with_context(|| format!("cannot write {}", done.display()))?;
    Ok(venv)
}

/// FNV-1a: a hash that stays the same across Rust releases, for naming the cache.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// schemathesis on docs/openapi.json against `riskdeck serve --demo`, as trader then as admin:
/// no server errors, and every status, content type and body as the document states. One pass
/// or failure per operation and role.
fn schemathesis(setup: &Setup) -> anyhow::Result<Tally> {
    let binary = riskdeck(setup)?;
    let work = scratch(setup, "schemathesis")?;
    let server = DemoServer::start(&binary, &work)?;
    let mut tally = Tally::default();
    // The trader first: the admin's run may change or disable other users.
    for role in ["trader", "admin"] {
        let session = sign_in(server.port, role, &server.password(role)?)?;
        let report = work.join(format!("junit-{role}.xml"));
        let status = Command::new(setup.venv.join("bin/schemathesis"))
            .arg("run")
            .arg(setup.root.join("docs/openapi.json"))
            .args(["--url", &format!("http://127.0.0.1:{}", server.port)])
            .args(["--header", &format!("Cookie: {}", session.cookie)])
            .args(["--header", &format!("x-csrf-token: {}", session.csrf)])
            .args([
                "--checks",
                "not_a_server_error,response_schema_conformance,\
                 status_code_conformance,content_type_conformance",
            ])
            .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED])
            // One worker: CPython 3.11's parser is not safe across hypothesis's threads.
            .args(["--workers", "1", "--request-timeout", "10"])
            // Signing out ends the session the rest of the run uses; the stream never ends
            // (the SSE tests in tests/ cover it).
            .args(["--exclude-path", "/api/auth/logout"])
            .args(["--exclude-path", "/api/stream"])
            .args(["--report", "junit", "--report-junit-path"])
            .arg(&report)
            .arg("--no-color")
            .current_dir(&work)
            .status()
            .context("cannot start schemathesis")?;
        let counted = junit_tally(&report)
            .with_context(|| format!("schemathesis as {role} ended {status} with no report"))?;
        eprintln!(
            "xtask: schemathesis as {role}: {} operations passed, {} failed",
            counted.passed, counted.failed
        );
        tally.passed += counted.passed;
        tally.failed += counted.failed;
    }
    Ok(tally)
}

/// The `riskdeck` command line, built as the integration tests build it.
fn riskdeck(setup: &Setup) -> anyhow::Result<PathBuf> {
    // The `riskdeck` command line as the integration tests build it (`tests/src/bin/riskdeck-bin.rs`
    // calls the same `backend::cli::main`): after `cargo test` this builds nothing, where
    // `cargo build --bin riskdeck` would compile the dependencies again without the tests'
    // features.
    crate::check(crate::cargo().args(["test", "--workspace", "--no-run"]))?;
    Ok(setup.target.join("debug/riskdeck-bin"))
}

/// An empty scratch directory for one suite under `target/conformance`.
fn scratch(setup: &Setup, name: &str) -> anyhow::Result<PathBuf> {
    let work = setup.target.join("conformance").join(name);
    if work.exists() {
        std::fs::remove_dir_all(&work)
            .with_context(|| format!("cannot remove {}", work.display()))?;
    }
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    Ok(work)
}

/// MetaApi's official Python SDK (`metaapi-cloud-sdk`, pinned in
/// `conformance/requirements-metaapi.txt`) subscribes to every account of
/// `riskdeck demo-broker` over its streaming API and must synchronize, its terminal state equal
/// to the broker's REST answers and to what `riskdeck serve`, following the same accounts over
/// its own streaming connector, shows (`conformance/metaapi_sdk.py`: one pass or failure per
/// check).
fn metaapi_sdk(setup: &Setup) -> anyhow::Result<Tally> {
    let venv = python_tools(
        &setup.root,
        &venv_cache(&setup.target),
        "conformance/requirements-metaapi.txt",
    )?;
    let binary = riskdeck(setup)?;
    let work = scratch(setup, "metaapi-sdk")?;
    let port = free_port()?;
    let address = format!("127.0.0.1:{port}");
    let broker = Broker(
        Command::new(&binary)
            .args(["demo-broker", "--listen", &address])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?,
    );
    await_listening(port, "the demo broker")?;
    let tally = python_check(
        "MetaApi's SDK",
        &venv,
        &work,
        Command::new(venv.join("bin/python"))
            .arg(setup.root.join("conformance/metaapi_sdk.py"))
            .arg(&address)
            .arg("--riskdeck")
            .arg(&binary),
    );
    drop(broker);
    tally
}

/// MetaApi's official Python SDK's risk management client (`RiskManagement`, pinned in
/// `conformance/requirements-metaapi.txt`) against the risk management API of
/// `riskdeck serve --demo` (docs/METAAPI-RISK-API.md), authenticated by an API token the admin
/// makes for the first demo account only: trackers, validation and access errors, statistics,
/// the equity chart and a threshold event through the SDK's listener, with the second account as
/// the one the token may not see; and the SDK's streaming listeners (period statistics, equity
/// chart, equity and balance), whose `MetaApi` streams the account from the demo broker the
/// server embeds while they call Riskdeck for the tracker, statistics and chart
/// (`conformance/metaapi_risk.py`: one pass or failure per check).
fn metaapi_risk(setup: &Setup) -> anyhow::Result<Tally> {
    let venv = python_tools(
        &setup.root,
        &venv_cache(&setup.target),
        "conformance/requirements-metaapi.txt",
    )?;
    let binary = riskdeck(setup)?;
    let work = scratch(setup, "metaapi-risk")?;
    let server = DemoServer::start(&binary, &work)?;
    let session = sign_in(server.port, "admin", &server.password("admin")?)?;
    let (status, listed) = http_json(server.port, "GET", "/api/accounts", Some(&session), None)?;
    if status != 200 {
        bail!("GET /api/accounts answered {status}: {listed}");
    }
    // A JSON array of accounts, or an object holding it under `accounts`.
    let ids: Vec<&str> = listed
        .get("accounts")
        .unwrap_or(&listed)
        .as_array()
        .with_context(|| format!("GET /api/accounts answered no list: {listed}"))?
        .iter()
        .filter_map(|account| account["id"].as_str())
        .collect();
    let [account, foreign, ..] = ids[..] else {
        bail!("the demo has fewer than two accounts: {listed}");
    };
    let request = serde_json::json!({ "name": "conformance", "accounts": [account] });
    let (status, made) = http_json(
        server.port,
        "POST",
        "/api/api-tokens",
        Some(&session),
        Some(&request),
    )?;
    if status != 201 {
        bail!("POST /api/api-tokens answered {status}: {made}");
    }
    let token = made["token"]
        .as_str()
        .with_context(|| format!("POST /api/api-tokens answered no token: {made}"))?;
    let mut command = Command::new(venv.join("bin/python"));
    command
        .arg(setup.root.join("conformance/metaapi_risk.py"))
        .args(["--url", &format!("http://127.0.0.1:{}", server.port)])
        .args(["--token", token])
        .args(["--account", account])
        .args(["--foreign-account", foreign]);
    // Without it the script fails its streaming listener checks, saying why.
    match &server.demo_broker {
        Some((broker, token)) => {
            command
                .args(["--demo-broker", broker])
                .args(["--demo-token", token]);
        }
        None => eprintln!("xtask: the demo server printed no demo broker address"),
    }
    let tally = python_check("MetaApi's risk management SDK", &venv, &work, &mut command);
    drop(server);
    tally
}

/// Runs a check script of `conformance/` in `work` and counts its `PASS` and `FAIL` lines; a
/// script that fails with no failed check is an error showing its output.
fn python_check(
    label: &str,
    venv: &Path,
    work: &Path,
    command: &mut Command,
) -> anyhow::Result<Tally> {
    let output = command
        .current_dir(work)
        .env("VIRTUAL_ENV", venv)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start the {label} check"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines().filter(|line| line.starts_with("FAIL")) {
        eprintln!("xtask: {label}: {line}");
    }
    let tally = Tally {
        passed: stdout.lines().filter(|l| l.starts_with("PASS")).count(),
        failed: stdout.lines().filter(|l| l.starts_with("FAIL")).count(),
    };
    if !output.status.success() && tally.failed == 0 {
        bail!(
            "the {label} check ended {} with no failed check:\n{stdout}",
            output.status
        );
    }
    Ok(tally)
}

/// A free port on 127.0.0.1.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .context("cannot find a free port")?
        .port())
}

/// `N` different free ports on 127.0.0.1 (held together while they are chosen, so no two are
/// the same).
fn free_ports<const N: usize>() -> anyhow::Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").context("cannot find a free port"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener
            .local_addr()
            .context("cannot find a free port")?
            .port();
    }
    Ok(ports)
}

/// Waits until something listens on `port`.
fn await_listening(port: u16, what: &str) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("{what} did not listen on port {port} within a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Spotware's official Python SDK (`ctrader-open-api`, pinned in
/// `conformance/requirements-ctrader.txt`) speaks protobuf over TLS to the cTrader simulator of
/// `riskdeck demo-broker`, trusting its test authority: what it reads must equal the broker's
/// REST answers and what `riskdeck serve`, following the same accounts through the simulator's
/// JSON transport, shows (`conformance/ctrader_sdk.py`: one pass or failure per check).
fn ctrader_sdk(setup: &Setup) -> anyhow::Result<Tally> {
    let venv = python_tools(
        &setup.root,
        &venv_cache(&setup.target),
        "conformance/requirements-ctrader.txt",
    )?;
    let binary = riskdeck(setup)?;
    let work = scratch(setup, "ctrader-sdk")?;
    let [rest, json, protobuf] = free_ports::<3>()?;
    let ca = work.join("ca.pem");
    let broker = Broker(
        Command::new(&binary)
            .args(["demo-broker", "--listen", &format!("127.0.0.1:{rest}")])
            .args(["--ctrader-json", &format!("127.0.0.1:{json}")])
            .args(["--ctrader-protobuf", &format!("127.0.0.1:{protobuf}")])
            .arg("--ctrader-ca")
            .arg(&ca)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?,
    );
    for port in [rest, json, protobuf] {
        await_listening(port, "the demo broker")?;
    }
    let tally = python_check(
        "Spotware's SDK",
        &venv,
        &work,
        Command::new(venv.join("bin/python"))
            .arg(setup.root.join("conformance/ctrader_sdk.py"))
            .args([
                format!("127.0.0.1:{rest}"),
                format!("127.0.0.1:{json}"),
                protobuf.to_string(),
            ])
            .arg(&ca)
            .arg("--riskdeck")
            .arg(&binary),
    );
    drop(broker);
    tally
}

/// A child process killed when dropped.
struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Operations passed and failed in a schemathesis JUnit report.
fn junit_tally(report: &Path) -> anyhow::Result<Tally> {
    let xml = std::fs::read_to_string(report)
        .with_context(|| format!("cannot read {}", report.display()))?;
    parse_junit(&xml).with_context(|| format!("in {}", report.display()))
}

fn parse_junit(xml: &str) -> anyhow::Result<Tally> {
    let head = xml
        .split("<testsuites")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .context("no <testsuites> element")?;
    let attribute = |name: &str| -> anyhow::Result<usize> {
        let value = head
            .split(&format!(" {name}=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .with_context(|| format!("no {name} attribute"))?;
        value.parse().with_context(|| format!("{name}={value:?}"))
    };
    let tests = attribute("tests")?;
    let failed = attribute("failures")? + attribute("errors")?;
    let skipped = attribute("skipped")?;
    Ok(Tally {
        passed: tests.saturating_sub(failed + skipped),
        failed,
    })
}

/// `riskdeck serve --demo` on a free port with a fresh database, stopped when dropped.
struct DemoServer {
    child: Child,
    port: u16,
    /// (username, password) as printed at start.
    logins: Vec<(String, String)>,
    /// The embedded demo broker's MetaApi REST and streaming API (`http://127.0.0.1:PORT`) and
    /// its `auth-token`, as printed at start.
    demo_broker: Option<(String, String)>,
}

impl DemoServer {
    fn start(binary: &Path, work: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let database = format!("sqlite://{}", work.join("riskdeck.db").display());
        let mut child = Command::new(binary)
            .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", &database])
            .arg("--journal-dir")
            .arg(work.join("journal"))
            .arg("--assets")
            .arg(work.join("no-assets"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (lines, received) = mpsc::channel();
        // Reads (and so drains) the server's output for as long as it runs.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            port,
            logins: Vec::new(),
            demo_broker: None,
        };
        let mut running = false;
        loop {
            let line = received
                .recv_timeout(Duration::from_secs(120))
                .context("the demo server stopped or printed no logins within two minutes")?;
            running |= line.contains("Riskdeck is running at");
            if let Some(address) = demo_broker_address(&line) {
                server.demo_broker = Some(address);
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [name, _role, "password", password, ..] = words[..] {
                server.logins.push((name.to_owned(), password.to_owned()));
            } else if running && line.trim().is_empty() && !server.logins.is_empty() {
                break;
            }
        }
        // Keep draining in the background so the server never blocks on a full pipe.
        std::thread::spawn(move || while received.recv().is_ok() {});
        Ok(server)
    }

    /// The password printed for `username`.
    fn password(&self, username: &str) -> anyhow::Result<String> {
        self.logins
            .iter()
            .find(|(name, _)| name == username)
            .map(|(_, password)| password.clone())
            .with_context(|| format!("the demo printed no login `{username}`"))
    }
}

/// The address and token in the line `riskdeck serve --demo` prints for its demo broker right
/// after its own (`  Demo broker (MetaApi's REST and streaming API): http://127.0.0.1:PORT
/// auth-token TOKEN`).
fn demo_broker_address(line: &str) -> Option<(String, String)> {
    let words: Vec<&str> = line
        .trim_start()
        .strip_prefix("Demo broker")?
        .split_whitespace()
        .collect();
    let address = words.iter().find(|word| word.starts_with("http://"))?;
    let token = words
        .iter()
        .position(|word| *word == "auth-token")
        .and_then(|at| words.get(at + 1))?;
    Some((
        address.trim_end_matches('/').to_owned(),
        (*token).to_owned(),
    ))
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A signed-in session: the cookie to send and the anti-forgery token.
struct Session {
    cookie: String,
    csrf: String,
}

/// Signs in through the real login route (plain HTTP/1.1, so xtask needs no HTTP client).
fn sign_in(port: u16, username: &str, password: &str) -> anyhow::Result<Session> {
    let body = serde_json::json!({ "username": username, "password": password }).to_string();
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).context("cannot connect to the demo server")?;
    write!(
        stream,
        "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!(
            "signing in as {username}: {}",
            head.lines().next().unwrap_or("")
        );
    }
    let cookie = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .and_then(|(_, value)| value.trim().split(';').next())
        .context("no session cookie")?
        .to_owned();
    let json: serde_json::Value =
        serde_json::from_str(body).context("the login answer is not JSON")?;
    let csrf = json["csrf_token"]
        .as_str()
        .context("no csrf_token in the login answer")?
        .to_owned();
    Ok(Session { cookie, csrf })
}

/// One request to the demo server as `session` (if any), with a JSON `body` (if any), over
/// plain HTTP/1.1 with `Connection: close` as `sign_in`: the status and the body as JSON (`null`
/// when empty, a JSON string when not JSON, so that an error's text can be shown).
fn http_json(
    port: u16,
    method: &str,
    path: &str,
    session: Option<&Session>,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let body = body.map(serde_json::Value::to_string).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\
         Connection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    if let Some(session) = session {
        request.push_str(&format!(
            "Cookie: {}\r\nx-csrf-token: {}\r\n",
            session.cookie, session.csrf
        ));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).context("cannot connect to the demo server")?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .with_context(|| format!("reading the answer to {method} {path}"))?;
    let (status, payload) =
        parse_response(&response).with_context(|| format!("the answer to {method} {path}"))?;
    let json = if payload.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&payload).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&payload).into_owned())
        })
    };
    Ok((status, json))
}

/// The status and body of a whole HTTP/1.1 response, its chunked transfer coding undone.
fn parse_response(response: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    let end = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .context("no HTTP response")?;
    let head = String::from_utf8_lossy(&response[..end]);
    let payload = &response[end + 4..];
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("no status in {:?}", head.lines().next().unwrap_or("")))?;
    let chunked = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .any(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
        });
    let body = if chunked {
        dechunk(payload)?
    } else {
        payload.to_vec()
    };
    Ok((status, body))
}

/// The body of a `transfer-encoding: chunked` message (chunk extensions and trailers skipped).
fn dechunk(mut raw: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let end = raw
            .windows(2)
            .position(|window| window == b"\r\n")
            .context("a chunk with no size line")?;
        let line = String::from_utf8_lossy(&raw[..end]);
        let size = line.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size, 16).with_context(|| format!("chunk size {size:?}"))?;
        raw = &raw[end + 2..];
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(raw.get(..size).context("a chunk cut short")?);
        raw = raw
            .get(size..)
            .and_then(|rest| rest.strip_prefix(b"\r\n"))
            .context("a chunk not ended by CRLF")?;
    }
}

/// The firms' published worked examples, replayed through `riskdeck replay` by the
/// integration tests' `replay_cli` module: one pass or failure per test.
fn worked_examples(_setup: &Setup) -> anyhow::Result<Tally> {
    // `--workspace`, as `cargo xtask test` builds the tests: nothing is compiled again.
    let output = crate::cargo()
        .args(["test", "--workspace", "--test", "it", "--", "replay_cli::"])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot start cargo test")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let count = |outcome: &str| {
        stdout
            .lines()
            .filter(|line| line.starts_with("test ") && line.ends_with(outcome))
            .count()
    };
    let tally = Tally {
        passed: count(" ... ok"),
        failed: count(" ... FAILED"),
    };
    if !output.status.success() && tally.failed == 0 {
        bail!("cargo test --test it -- replay_cli:: failed:\n{stdout}");
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_counts_failures_and_errors_per_operation() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites errors="1" failures="2" skipped="1" tests="10" time="1.0">
  <testsuite name="schemathesis" errors="1" failures="2" skipped="1" tests="10"></testsuite>
</testsuites>"#;
        let tally = parse_junit(xml).expect("a report");
        assert_eq!((tally.passed, tally.failed), (6, 3));
    }

    #[test]
    fn responses_are_read_plain_or_chunked() {
        let plain = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(
            parse_response(plain).expect("a response"),
            (201, b"{}".to_vec())
        );
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            4;ext=1\r\n[1,2\r\na\r\n,3,4,5,6,7\r\n1\r\n]\r\n0\r\nx-trailer: 1\r\n\r\n";
        assert_eq!(
            parse_response(chunked).expect("a response"),
            (200, b"[1,2,3,4,5,6,7]".to_vec())
        );
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab")
                .is_err()
        );
    }

    #[test]
    fn the_demo_broker_address_is_read_from_its_line() {
        assert_eq!(
            demo_broker_address(
                "  Demo broker (MetaApi's REST and streaming API): http://127.0.0.1:40123  \
                 auth-token aBc123"
            ),
            Some(("http://127.0.0.1:40123".to_owned(), "aBc123".to_owned()))
        );
        assert_eq!(
            demo_broker_address("  Riskdeck is running at http://127.0.0.1:8080/  (instance x)"),
            None
        );
        assert_eq!(demo_broker_address("  Demo broker: none"), None);
    }

    #[test]
    fn the_cache_name_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
