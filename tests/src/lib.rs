//! Helpers for Riskdeck's cross-crate tests: a real server on a loopback port, a headless
//! browser, and small HTTP and SSE clients. Everything cleans up after itself.

pub mod broker;
pub mod load;
pub mod sinks;

use backend::config::Config;
use shared::api::{SessionResponse, UserInfo};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or(manifest.clone(), Path::to_path_buf)
}

/// The built browser bundle: `RISKDECK_DIST` (relative to the workspace root), else
/// `target/dist`.
pub fn dist_dir() -> PathBuf {
    let dir = std::env::var_os("RISKDECK_DIST").map_or_else(|| "target/dist".into(), PathBuf::from);
    workspace_root().join(dir)
}

/// A demo-mode configuration on a SQLite file in `dir`, polling fast.
pub fn demo_config(db_file: &Path) -> Config {
    Config {
        demo: true,
        database_url: format!("sqlite://{}", db_file.display()),
        journal_dir: db_file.parent().map(|dir| dir.join("journal")),
        assets: dist_dir(),
        poll_interval: Duration::from_millis(200),
        stale_after: Duration::from_secs(5),
        // The demo accounts polled, as the tests of REST faults and timings expect; the
        // streaming tests ask for streaming.
        demo_transport: shared::api::Transport::Rest,
        ..Config::default()
    }
}

/// A Riskdeck server running in this process on `127.0.0.1:<free port>`.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The demo broker's address, in demo mode.
    pub demo_broker: Option<SocketAddr>,
    /// The passwords the server generated at start-up (the demo's users, or the first admin).
    pub logins: Vec<backend::auth::Login>,
    /// What the handlers share (the store, the hub, sessions).
    pub state: backend::AppState,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts the whole server (store, demo broker, trackers, HTTP) from `config`.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let started = backend::start(&config, shutdown.clone()).await?;
        let demo_broker = started.demo_broker;
        let logins = started.logins.clone();
        let state = started.state.clone();
        let app = backend::app(started.state.clone(), &config.assets);
        let stop = shutdown.clone();
        let handle = tokio::spawn(async move {
            if let Err(error) = backend::serve(listener, app, stop, config.serve_limits()).await {
                eprintln!("test server stopped with an error: {error}");
            }
            started.join().await;
        });
        Ok(Self {
            base: format!("http://{addr}"),
            demo_broker,
            logins,
            state,
            shutdown,
            handle: Some(handle),
        })
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The ids of the tracked accounts, as the API lists them to an admin.
    pub async fn account_ids(&self) -> anyhow::Result<Vec<shared::domain::AccountId>> {
        let admin = self.login("admin").await?;
        let list: shared::api::AccountsResponse = admin
            .get(self.url("/api/accounts"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(list.accounts.into_iter().map(|a| a.id).collect())
    }

    /// The password the server generated for `username` at start-up.
    pub fn password(&self, username: &str) -> anyhow::Result<String> {
        self.logins
            .iter()
            .find(|login| login.username == username)
            .map(|login| login.password.clone())
            .ok_or_else(|| anyhow::anyhow!("the server generated no password for {username:?}"))
    }

    /// Signs in over HTTP as a user seeded at start-up: a client that keeps the session cookie
    /// and sends the anti-forgery token with every request.
    pub async fn login(&self, username: &str) -> anyhow::Result<reqwest::Client> {
        Ok(self.login_session(username).await?.client)
    }

    /// Signs in over HTTP as a user seeded at start-up, with everything the session gave.
    pub async fn login_session(&self, username: &str) -> anyhow::Result<Session> {
        self.login_with_password(username, &self.password(username)?)
            .await
    }

    /// Signs in over HTTP with a username and password.
    pub async fn login_with_password(
        &self,
        username: &str,
        password: &str,
    ) -> anyhow::Result<Session> {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let bare = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .build()?;
        let response: SessionResponse = bare
            .post(self.url("/api/auth/login"))
            .json(&shared::api::LoginRequest {
                username: username.to_owned(),
                password: password.to_owned(),
            })
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Session::new(jar, bare, response)
    }

    /// A new session for `username` opened the way signing in opens one, without the password
    /// check and its throttle: for tests that need many fresh sessions.
    pub async fn session_for(&self, username: &str) -> anyhow::Result<Session> {
        let store = self.state.store.as_ref();
        let user = store
            .user_credentials(username)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no user {username:?}"))?
            .user;
        let opened = self
            .state
            .auth
            .open_session(store, &user)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open a session: {e}"))?;
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        jar.add_cookie_str(opened.cookie.to_str()?, &self.base.parse()?);
        let bare = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .build()?;
        Session::new(jar, bare, opened.response)
    }

    /// Shuts down gracefully and waits until every task has stopped.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), handle).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A signed-in HTTP client.
pub struct Session {
    /// Sends the session cookie and the anti-forgery token.
    pub client: reqwest::Client,
    /// Sends the session cookie only.
    pub without_csrf: reqwest::Client,
    /// The session's anti-forgery token.
    pub csrf_token: String,
    /// Who is signed in.
    pub user: UserInfo,
}

impl Session {
    fn new(
        jar: std::sync::Arc<reqwest::cookie::Jar>,
        bare: reqwest::Client,
        response: SessionResponse,
    ) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            backend::auth::CSRF_HEADER,
            reqwest::header::HeaderValue::from_str(&response.csrf_token)?,
        );
        let client = reqwest::Client::builder()
            .cookie_provider(jar)
            .default_headers(headers)
            .build()?;
        Ok(Self {
            client,
            without_csrf: bare,
            csrf_token: response.csrf_token,
            user: response.user,
        })
    }
}

/// Serves `app` (a scripted broker, say) on a free loopback port for the rest of the test;
/// returns its base URL, `http://127.0.0.1:PORT`.
///
/// # Panics
/// When no loopback port can be bound.
pub async fn serve_router(app: axum::Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// Polls `probe` every 100 ms until it returns `Some`, or fails after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `check` until it holds, like [`eventually`].
///
/// # Panics
/// When `check` still fails after `limit`.
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let held = eventually(limit, what, || {
        let check = check();
        async move { check.await.then_some(()) }
    })
    .await;
    if let Err(error) = held {
        panic!("{error}");
    }
}

/// Reads Server-Sent Events from a streaming response: `(id, data)` pairs.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    /// Opens `url` as an event stream with `client` (signed in, usually).
    pub async fn open(client: &reqwest::Client, url: &str) -> anyhow::Result<Self> {
        Self::open_after(client, url, None).await
    }

    /// Opens `url` as an event stream with `client`, sending `Last-Event-ID` when given, as a
    /// browser does when it reconnects.
    pub async fn open_after(
        client: &reqwest::Client,
        url: &str,
        last_event_id: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mut request = client.get(url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await?.error_for_status()?;
        Ok(Self {
            response,
            buffer: String::new(),
        })
    }

    /// The next event carrying data, within `limit`.
    pub async fn next(&mut self, limit: Duration) -> anyhow::Result<(Option<String>, String)> {
        tokio::time::timeout(limit, self.next_inner())
            .await
            .map_err(|_| anyhow::anyhow!("no event within {limit:?}"))?
    }

    async fn next_inner(&mut self) -> anyhow::Result<(Option<String>, String)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("id:") {
                        id = Some(value.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push(value.strip_prefix(' ').unwrap_or(value).to_owned());
                    }
                }
                if !data.is_empty() {
                    return Ok((id, data.join("\n")));
                }
                continue;
            }
            match self.response.chunk().await? {
                Some(chunk) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                None => anyhow::bail!("the event stream ended"),
            }
        }
    }
}

/// Headless Chromium driven through ChromeDriver (both from Debian's packages).
pub struct Browser {
    /// The WebDriver client.
    pub client: fantoccini::Client,
    driver: Child,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::OwnedSemaphorePermit,
}

/// Browsers open at once across the tests running in parallel. A Chromium rendering a live page
/// takes a core's share: more at once on a small machine only slows each one down, until a
/// page misses the moment a test waits for. The other tests go on meanwhile. At least three,
/// so the two tests that hold two browsers at once (a trader's and an admin's) cannot each hold
/// one and wait for the other's.
fn browser_turns() -> std::sync::Arc<tokio::sync::Semaphore> {
    static TURNS: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> =
        std::sync::OnceLock::new();
    TURNS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, usize::from);
            std::sync::Arc::new(tokio::sync::Semaphore::new((cores * 2).max(3)))
        })
        .clone()
}

impl Browser {
    /// Starts ChromeDriver on a free port and opens a headless Chromium session.
    pub async fn start(width: u32, height: u32) -> anyhow::Result<Self> {
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            if !Path::new(tool).exists() {
                anyhow::bail!(
                    "{tool} is missing: the browser tests need Debian's chromium and \
                     chromium-driver (`cargo xtask test` installs them when run as root)"
                );
            }
        }
        let turn = browser_turns().acquire_owned().await?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let profile = tempfile::tempdir()?;
        let capabilities = serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            anyhow::bail!("capabilities must be an object");
        };
        let webdriver = format!("http://127.0.0.1:{port}");
        let mut builder = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        );
        builder.capabilities(capabilities);
        // ChromeDriver needs a moment to listen.
        let mut last_error = None;
        for _ in 0..50 {
            match builder.connect(&webdriver).await {
                Ok(client) => {
                    return Ok(Self {
                        client,
                        driver,
                        _profile: profile,
                        _turn: turn,
                    });
                }
                Err(error) => last_error = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut driver = driver;
        let _ = driver.kill();
        anyhow::bail!("cannot start a Chromium session: {last_error:?}")
    }

    /// Ends the session and ChromeDriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// Fails the test with a clear message when the browser bundle has not been built.
pub fn require_bundle() {
    let index = dist_dir().join("index.html");
    assert!(
        index.is_file(),
        "{} is missing: build the browser app first (`cargo xtask test` does)",
        index.display()
    );
}

/// How long a browser test waits for the page to show something.
const BROWSER_WAIT: Duration = Duration::from_secs(60);

/// What the browser tests do on a page, by CSS selector.
impl Browser {
    /// Waits for an element and returns it.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        eventually(BROWSER_WAIT, css, || async {
            self.client.find(fantoccini::Locator::Css(css)).await.ok()
        })
        .await
        .expect("the element appears")
    }

    /// An element's text, trimmed, when it has some (a dash standing for "none" is none).
    pub async fn text_of(&self, css: &str) -> Option<String> {
        let element = self.client.find(fantoccini::Locator::Css(css)).await.ok()?;
        let text = element.text().await.ok()?;
        let text = text.trim().to_owned();
        (!text.is_empty() && text != "—" && text != "–").then_some(text)
    }

    /// An element's attribute, when the element and the attribute exist.
    pub async fn attr_of(&self, css: &str, name: &str) -> Option<String> {
        let element = self.client.find(fantoccini::Locator::Css(css)).await.ok()?;
        element.attr(name).await.ok().flatten()
    }

    /// Waits until the equity chart is drawn, with at least `points` points, for the window's
    /// current width and in the document's current theme: the page's drawn marker
    /// (`data-drawn-viewport`, `data-drawn-points` on `.chart-svg`), read before a picture.
    pub async fn wait_for_chart_drawn(&self, points: usize) {
        eventually(BROWSER_WAIT, "the equity chart to be drawn", || async {
            let chart = self
                .client
                .find(fantoccini::Locator::Css(".chart-svg"))
                .await
                .ok()?;
            let drawn: usize = chart.attr("data-drawn-points").await.ok()??.parse().ok()?;
            let viewport: f64 = chart
                .attr("data-drawn-viewport")
                .await
                .ok()??
                .parse()
                .ok()?;
            let width = self
                .client
                .execute("return window.innerWidth;", vec![])
                .await
                .ok()?
                .as_f64()?;
            (drawn >= points && (viewport - width).abs() < 0.5).then_some(())
        })
        .await
        .expect("the chart is drawn");
    }

    /// Waits until an element's text contains `want`, in any case: WebDriver reads the text as
    /// rendered, and the stylesheet upper-cases badges.
    pub async fn wait_for_text(&self, css: &str, want: &str) -> String {
        eventually(BROWSER_WAIT, &format!("{css} to say {want:?}"), || async {
            let text = self
                .client
                .find(fantoccini::Locator::Css(css))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.to_lowercase()
                .contains(&want.to_lowercase())
                .then_some(text)
        })
        .await
        .expect("the text appears")
    }

    /// Clicks an element once it appears.
    pub async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.expect("click");
    }

    /// Replaces a field's text.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Picks an option of a `<select>` by its value.
    pub async fn choose(&self, css: &str, value: &str) {
        self.wait_for(css)
            .await
            .select_by_value(value)
            .await
            .expect("choose");
    }

    /// Fills in and submits the sign-in form the app shows.
    pub async fn sign_in(&self, username: &str, password: &str) {
        self.type_into("[data-testid=login-username]", username)
            .await;
        self.type_into("[data-testid=login-password]", password)
            .await;
        self.click("[data-testid=login-submit]").await;
    }

    /// The path of the page shown.
    pub async fn current_path(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|url| url.path().to_owned())
            .unwrap_or_default()
    }
}
