//! The built browser app: static files, with a page for every client-side route: `admin.html`
//! (the admin console's bundle) for `/admin` addresses when it was built, `index.html` (the
//! trader's bundle) for the rest. When the app has not been built, a page says how to build it
//! instead of a bare 404.

use axum::extract::Request;
use axum::handler::HandlerWithoutStateExt;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::{MethodRouter, get};
use std::path::Path;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

pub fn service(dir: &Path) -> MethodRouter {
    let index = dir.join("index.html");
    if index.is_file() {
        let admin = Some(dir.join("admin.html")).filter(|page| page.is_file());
        let page = move |request: Request| {
            let file = page_for(request.uri().path(), &index, admin.as_deref()).to_owned();
            async move { ServeFile::new(file).oneshot(request).await }
        };
        let files = ServeDir::new(dir).fallback(page.into_service());
        axum::routing::get_service(files)
    } else {
        tracing::warn!(dir = %dir.display(), "the browser app is not built; serving a notice");
        get(|| async { (StatusCode::SERVICE_UNAVAILABLE, Html(NOT_BUILT)).into_response() })
    }
}

/// The page that boots the app at `path`.
fn page_for<'a>(path: &str, index: &'a Path, admin: Option<&'a Path>) -> &'a Path {
    let console = path == "/admin" || path.starts_with("/admin/");
    match admin {
        Some(admin) if console => admin,
        _ => index,
    }
}

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">\
<title>Riskdeck</title><body style=\"font-family:system-ui;margin:3rem\">\
<h1>Riskdeck is running, but its browser app is not built</h1>\
<p>Start it with <code>cargo xtask run</code>, which builds the app and the server together, \
or point <code>--assets</code> at a built bundle. The JSON API is available under \
<code>/api/</code>.</p></body></html>";

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn admin_addresses_get_the_console_s_page_when_it_was_built() {
        let (index, admin) = (PathBuf::from("index.html"), PathBuf::from("admin.html"));
        for (path, built, expected) in [
            ("/", true, &index),
            ("/accounts/a", true, &index),
            ("/administrator", true, &index),
            ("/admin", true, &admin),
            ("/admin/users", true, &admin),
            ("/admin/accounts/x/rules", true, &admin),
            ("/admin/users", false, &index),
        ] {
            let got = page_for(path, &index, built.then_some(admin.as_path()));
            assert_eq!(got, expected.as_path(), "{path}");
        }
    }
}
