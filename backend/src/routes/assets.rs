//! The built browser app: static files, with a page for every client-side route: `admin.html`
//! (the admin console's bundle) for `/admin` addresses when it was built, `index.html` (the
//! trader's bundle) for the rest. Files are sent Brotli- or gzip-encoded when the browser accepts
//! it, from the twins the build wrote. When the app has not been built, a page says how to build
//! it instead of a bare 404.

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
            async move {
                ServeFile::new(file)
                    .precompressed_br()
                    .precompressed_gzip()
                    .oneshot(request)
                    .await
            }
        };
        // `cargo xtask dist` writes a `.br` and a `.gz` twin of every file: a browser gets the
        // smallest encoding it accepts, compressed once at build time, never per request.
        let files = ServeDir::new(dir)
            .precompressed_br()
            .precompressed_gzip()
            .fallback(page.into_service());
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
    use axum::body::Body;
    use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
    use std::path::PathBuf;

    async fn fetch(
        service: &MethodRouter,
        path: &str,
        accept: Option<&str>,
    ) -> (Option<String>, Option<String>, Vec<u8>) {
        let mut request = Request::get(path);
        if let Some(accept) = accept {
            request = request.header(ACCEPT_ENCODING, accept);
        }
        let response = service
            .clone()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &axum::http::HeaderValue| v.to_str().expect("ascii").to_owned())
        };
        let (encoding, kind) = (header(CONTENT_ENCODING), header(CONTENT_TYPE));
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (encoding, kind, body.to_vec())
    }

    #[tokio::test]
    async fn files_and_pages_go_out_in_the_smallest_encoding_the_browser_accepts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pkg = dir.path().join("pkg");
        std::fs::create_dir_all(&pkg).expect("pkg");
        for (name, body) in [
            ("pkg/app_bg.wasm", "raw wasm"),
            ("pkg/app_bg.wasm.gz", "gzip wasm"),
            ("pkg/app_bg.wasm.br", "brotli wasm"),
            ("index.html", "raw page"),
            ("index.html.gz", "gzip page"),
        ] {
            std::fs::write(dir.path().join(name), body).expect("write");
        }
        let service = service(dir.path());
        let wasm = "/pkg/app_bg.wasm";
        for (accept, encoding, body) in [
            (None, None, "raw wasm"),
            (Some("gzip"), Some("gzip"), "gzip wasm"),
            (Some("gzip, deflate, br, zstd"), Some("br"), "brotli wasm"),
            (Some("identity"), None, "raw wasm"),
        ] {
            let (got, kind, bytes) = fetch(&service, wasm, accept).await;
            assert_eq!(got.as_deref(), encoding, "{accept:?}");
            assert_eq!(kind.as_deref(), Some("application/wasm"), "{accept:?}");
            assert_eq!(bytes, body.as_bytes(), "{accept:?}");
        }
        // A client-side route gets its page, compressed too; without a Brotli twin, gzip.
        let (got, kind, bytes) = fetch(&service, "/accounts/a1", Some("br, gzip")).await;
        assert_eq!(got.as_deref(), Some("gzip"));
        assert!(kind.is_some_and(|kind| kind.starts_with("text/html")));
        assert_eq!(bytes, b"gzip page");
    }

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
