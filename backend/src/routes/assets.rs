//! The built browser app: static files, with `index.html` for every client-side route.
//! When the bundle has not been built, a page says how to build it instead of a bare 404.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::{MethodRouter, get};
use std::path::Path;
use tower_http::services::{ServeDir, ServeFile};

pub fn service(dir: &Path) -> MethodRouter {
    let index = dir.join("index.html");
    if index.is_file() {
        let files = ServeDir::new(dir).fallback(ServeFile::new(index));
        axum::routing::get_service(files)
    } else {
        tracing::warn!(dir = %dir.display(), "the browser app is not built; serving a notice");
        get(|| async { (StatusCode::SERVICE_UNAVAILABLE, Html(NOT_BUILT)).into_response() })
    }
}

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">\
<title>Riskdeck</title><body style=\"font-family:system-ui;margin:3rem\">\
<h1>Riskdeck is running, but its browser app is not built</h1>\
<p>Start it with <code>cargo xtask run</code>, which builds the app and the server together, \
or point <code>--assets</code> at a built bundle. The JSON API is available under \
<code>/api/</code>.</p></body></html>";
