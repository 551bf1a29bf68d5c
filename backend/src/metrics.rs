//! Prometheus metrics, served at `/metrics` in the text format.
//!
//! Counters and histograms are recorded as things happen (HTTP requests, stream resyncs); the
//! gauges are read from the hub and the stream slots when scraped, so they cannot drift. Nothing
//! here names a person or an account: the endpoint is public.

use crate::hub::{Hub, StreamSlots};
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use shared::api::FeedStatus;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Every metric of one server, in its own registry.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    http_latency: HistogramVec,
    /// Streams that fell behind and were resynchronised from a snapshot.
    pub stream_resyncs: IntCounter,
    accounts: IntGauge,
    feeds: IntGaugeVec,
    feed_lag_max: Gauge,
    events: IntCounterVec,
    sse_clients: IntGauge,
}

impl Metrics {
    /// A fresh registry with every metric at zero. Fails only if a metric's definition is
    /// invalid (a programming error the tests catch).
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let http_latency = HistogramVec::new(
            HistogramOpts::new(
                "riskdeck_http_request_duration_seconds",
                "Time to answer an HTTP request (to the response head), by route template, \
                 method and status.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route", "method", "status"],
        )?;
        let stream_resyncs = IntCounter::new(
            "riskdeck_sse_resyncs_total",
            "Streams that fell too far behind and were sent a new snapshot.",
        )?;
        let accounts = IntGauge::new("riskdeck_accounts_tracked", "Accounts tracked.")?;
        let feeds = IntGaugeVec::new(
            Opts::new("riskdeck_feeds", "Tracked accounts by feed health."),
            &["status"],
        )?;
        let feed_lag_max = Gauge::new(
            "riskdeck_feed_lag_max_seconds",
            "The largest age of an account's latest broker data (now minus its observation \
             time), over the accounts that have data.",
        )?;
        let events = IntCounterVec::new(
            Opts::new(
                "riskdeck_events_total",
                "Live events published to the stream, by kind.",
            ),
            &["kind"],
        )?;
        let sse_clients = IntGauge::new("riskdeck_sse_clients", "Open live streams.")?;
        registry.register(Box::new(http_latency.clone()))?;
        registry.register(Box::new(stream_resyncs.clone()))?;
        registry.register(Box::new(accounts.clone()))?;
        registry.register(Box::new(feeds.clone()))?;
        registry.register(Box::new(feed_lag_max.clone()))?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(sse_clients.clone()))?;
        Ok(Self {
            registry,
            http_latency,
            stream_resyncs,
            accounts,
            feeds,
            feed_lag_max,
            events,
            sse_clients,
        })
    }

    /// Records one answered request.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let status = status.to_string();
        self.http_latency
            .with_label_values(&[route, method, status.as_str()])
            .observe(took.as_secs_f64());
    }

    /// The metrics in Prometheus's text format, gauges read now from `hub` and `streams`.
    pub fn render(&self, hub: &Hub, streams: &StreamSlots) -> String {
        let summaries = hub.summaries();
        let now = chrono::Utc::now();
        self.accounts
            .set(i64::try_from(summaries.len()).unwrap_or(i64::MAX));
        for status in [
            FeedStatus::Connecting,
            FeedStatus::Backfilling,
            FeedStatus::Live,
            FeedStatus::Stale,
        ] {
            let count = summaries.iter().filter(|s| s.feed == status).count();
            self.feeds
                .with_label_values(&[feed_label(status)])
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        let lag = summaries
            .iter()
            .filter_map(|s| s.latest.as_ref())
            .map(|view| (now - view.time).num_milliseconds().max(0))
            .max()
            .unwrap_or(0);
        // Milliseconds fit an f64 exactly for any age this server will see.
        #[allow(clippy::cast_precision_loss)]
        self.feed_lag_max.set(lag as f64 / 1000.0);
        let counts = hub.event_counts();
        for (kind, count) in [
            ("account", counts.account.load(Ordering::Relaxed)),
            ("feed", counts.feed.load(Ordering::Relaxed)),
        ] {
            let counter = self.events.with_label_values(&[kind]);
            counter.inc_by(count.saturating_sub(counter.get()));
        }
        self.sse_clients
            .set(i64::try_from(streams.open()).unwrap_or(i64::MAX));
        let mut out = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(%error, "cannot encode the metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

fn feed_label(status: FeedStatus) -> &'static str {
    match status {
        FeedStatus::Connecting => "connecting",
        FeedStatus::Backfilling => "backfilling",
        FeedStatus::Live => "live",
        FeedStatus::Stale => "stale",
        FeedStatus::Archived => "archived",
    }
}
