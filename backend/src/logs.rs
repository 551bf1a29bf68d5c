//! Logging: the subscriber `main` installs (human-readable text, or one JSON object per line
//! with `RISKDECK_LOG_FORMAT=json`), and the per-request span that puts the request id on every
//! line written while a request is served.
//!
//! Nothing here decides what is logged; passwords and tokens are never passed to a log macro.

use axum::extract::Request;
use axum::http::HeaderValue;
use tracing::Span;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The header that carries a request's id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The longest request id a client may choose; a longer one is replaced by a new id.
pub const MAX_REQUEST_ID_CHARS: usize = 128;
/// What is logged when `RUST_LOG` does not say.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=warn";

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, with the fields of the current span (the request id).
    Json,
}

impl LogFormat {
    /// The format `RISKDECK_LOG_FORMAT` names (`text` when unset).
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("RISKDECK_LOG_FORMAT") {
            Err(std::env::VarError::NotPresent) => Ok(Self::Text),
            Ok(value) => Self::parse(&value),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err("RISKDECK_LOG_FORMAT must be text or json".to_owned())
            }
        }
    }

    /// `text` or `json`, in any case.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(format!(
                "RISKDECK_LOG_FORMAT must be text or json, not {name:?}"
            )),
        }
    }
}

/// The subscriber for `format`, writing to `writer`, keeping what `filter` allows.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
    }
}

/// `RUST_LOG`, or [`DEFAULT_FILTER`].
pub fn filter_from_env() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}

/// The span around one request: its id, method and path (never the query string, which a
/// person may not expect in a log).
pub fn request_span<B>(request: &axum::http::Request<B>) -> Span {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// Removes a client's request id that is too long or not plain printable ASCII, so that a new
/// one is made for the request: logs stay readable whatever a client sends.
pub async fn drop_unusable_request_id(mut request: Request) -> Request {
    if request
        .headers()
        .get(REQUEST_ID_HEADER)
        .is_some_and(|value| !usable(value))
    {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    request
}

fn usable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_CHARS
        && bytes.iter().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_named_text_or_json() {
        assert_eq!(LogFormat::parse("json"), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse("JSON"), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse("text"), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(""), Ok(LogFormat::Text));
        let error = LogFormat::parse("xml").expect_err("unknown");
        assert!(error.contains("text or json"), "{error}");
    }

    #[test]
    fn only_short_printable_request_ids_are_kept() {
        for (id, kept) in [
            ("abc-123", true),
            ("", false),
            ("has space", false),
            ("ünïcode", false),
        ] {
            let value = HeaderValue::from_bytes(id.as_bytes()).expect("header value");
            assert_eq!(usable(&value), kept, "{id:?}");
        }
        let long = "a".repeat(MAX_REQUEST_ID_CHARS + 1);
        assert!(!usable(
            &HeaderValue::from_str(&long).expect("header value")
        ));
    }
}
