//! The live stream: the only `EventSource` code in the app. A page holds one subscription, so a
//! tab holds one connection, which carries all of the page's accounts.
//!
//! The browser reconnects an `EventSource` by itself after a dropped connection, sending the
//! last event id, and the server resumes right after it. When the browser gives up instead (the
//! server answered with an error status while restarting, say), this module opens a new one
//! after a growing delay, passing the last event id in the URL, so a page left open always
//! comes back to live numbers.
//!
//! The server starts every stream with a snapshot; another one later means updates were lost
//! (the server could not resume, or this tab fell too far behind): the page is told to
//! resynchronise, and refetches what the stream does not carry.

use gloo_timers::callback::Timeout;
use shared::api::StreamEvent;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Event, EventSource, MessageEvent};

/// The state of the stream connection, for the "live" indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// The first connection is being made.
    Connecting,
    /// Events are flowing.
    Open,
    /// The connection dropped; a new one is being attempted.
    Reconnecting,
}

/// A live subscription. Dropping it closes the connection and stops any reconnect attempt.
pub struct Subscription {
    inner: Rc<Inner>,
}

struct Inner {
    url: String,
    on_event: Box<dyn Fn(StreamEvent)>,
    on_connection: Box<dyn Fn(Connection)>,
    on_resync: Box<dyn Fn()>,
    /// The id of the last event received, for resuming.
    last_event_id: RefCell<Option<String>>,
    /// Whether a snapshot has arrived (the first one is expected; later ones mean a resync).
    synced: Cell<bool>,
    source: RefCell<Option<Source>>,
    retry: RefCell<Option<Timeout>>,
    retry_delay_ms: Cell<u32>,
}

/// One `EventSource` and the callbacks it holds; closed when dropped.
struct Source {
    es: EventSource,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

impl Drop for Source {
    fn drop(&mut self) {
        self.es.set_onopen(None);
        self.es.set_onmessage(None);
        self.es.set_onerror(None);
        self.es.close();
    }
}

const FIRST_RETRY_MS: u32 = 1_000;
const MAX_RETRY_MS: u32 = 30_000;

/// Opens the stream at `url` (from `api::stream_url`). `on_event` receives every decoded event
/// as a delta (a snapshot arrives as one delta per account), `on_connection` every change of
/// connection state, and `on_resync` is called when updates were lost and the page should
/// refetch.
pub fn subscribe(
    url: String,
    on_event: impl Fn(StreamEvent) + 'static,
    on_connection: impl Fn(Connection) + 'static,
    on_resync: impl Fn() + 'static,
) -> Subscription {
    let inner = Rc::new(Inner {
        url,
        on_event: Box::new(on_event),
        on_connection: Box::new(on_connection),
        on_resync: Box::new(on_resync),
        last_event_id: RefCell::new(None),
        synced: Cell::new(false),
        source: RefCell::new(None),
        retry: RefCell::new(None),
        retry_delay_ms: Cell::new(FIRST_RETRY_MS),
    });
    (inner.on_connection)(Connection::Connecting);
    connect(&inner);
    Subscription { inner }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.inner.retry.borrow_mut().take();
        self.inner.source.borrow_mut().take();
    }
}

fn connect(inner: &Rc<Inner>) {
    let url = match inner.last_event_id.borrow().as_deref() {
        Some(id) => crate::api::stream_resume_url(&inner.url, id),
        None => inner.url.clone(),
    };
    let es = match EventSource::new(&url) {
        Ok(es) => es,
        Err(error) => {
            leptos::logging::warn!("cannot open the live stream: {error:?}");
            schedule_retry(inner);
            return;
        }
    };

    let weak = Rc::downgrade(inner);
    let on_open = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
        if let Some(inner) = weak.upgrade() {
            inner.retry_delay_ms.set(FIRST_RETRY_MS);
            (inner.on_connection)(Connection::Open);
        }
    });

    let weak = Rc::downgrade(inner);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
        let Some(inner) = weak.upgrade() else { return };
        let Some(data) = message.data().as_string() else {
            return;
        };
        let id = message.last_event_id();
        if !id.is_empty() {
            *inner.last_event_id.borrow_mut() = Some(id);
        }
        match StreamEvent::from_json(&data) {
            Ok(event) => {
                let resync =
                    matches!(event, StreamEvent::Snapshot { .. }) && inner.synced.replace(true);
                for delta in event.into_deltas() {
                    (inner.on_event)(delta);
                }
                if resync {
                    (inner.on_resync)();
                }
            }
            // An event kind added to the server after this page was loaded: skip it.
            Err(error) => leptos::logging::warn!("ignoring a stream event: {error}"),
        }
    });

    let weak = Rc::downgrade(inner);
    let on_error = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
        let Some(inner) = weak.upgrade() else { return };
        (inner.on_connection)(Connection::Reconnecting);
        let closed = event
            .current_target()
            .and_then(|target| target.dyn_into::<EventSource>().ok())
            .is_none_or(|es| es.ready_state() == EventSource::CLOSED);
        if closed {
            // The browser gave up on this connection; open a new one later. The old source is
            // replaced (and closed) then, not here inside its own callback.
            schedule_retry(&inner);
        }
    });

    es.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    es.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    *inner.source.borrow_mut() = Some(Source {
        es,
        _on_open: on_open,
        _on_message: on_message,
        _on_error: on_error,
    });
}

fn schedule_retry(inner: &Rc<Inner>) {
    let delay = inner.retry_delay_ms.get();
    inner
        .retry_delay_ms
        .set(delay.saturating_mul(2).min(MAX_RETRY_MS));
    let weak: Weak<Inner> = Rc::downgrade(inner);
    let timeout = Timeout::new(delay, move || {
        if let Some(inner) = weak.upgrade() {
            connect(&inner);
        }
    });
    *inner.retry.borrow_mut() = Some(timeout);
}

/// A followed stream of one named event whose data is a whole value (a leaderboard page, say):
/// no ids, no snapshots, every event replaces the last. Dropping it closes the connection and
/// stops any reconnect attempt.
pub struct Follow {
    inner: Rc<FollowInner>,
}

struct FollowInner {
    url: String,
    event: &'static str,
    on_data: Box<dyn Fn(String)>,
    on_connection: Box<dyn Fn(Connection)>,
    source: RefCell<Option<NamedSource>>,
    retry: RefCell<Option<Timeout>>,
    retry_delay_ms: Cell<u32>,
}

/// One `EventSource` following a named event, and its callbacks; closed when dropped.
struct NamedSource {
    es: EventSource,
    event: &'static str,
    _on_open: Closure<dyn FnMut(Event)>,
    on_data: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

impl Drop for NamedSource {
    fn drop(&mut self) {
        self.es.set_onopen(None);
        self.es.set_onerror(None);
        let _ = self
            .es
            .remove_event_listener_with_callback(self.event, self.on_data.as_ref().unchecked_ref());
        self.es.close();
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        self.inner.retry.borrow_mut().take();
        self.inner.source.borrow_mut().take();
    }
}

/// Follows the events named `event` at `url` (from `api`): `on_data` receives each one's data
/// decoded as `T` (one that cannot be decoded is skipped), `on_connection` every change of
/// connection state. The server sends the current value on every (re)connection, so nothing
/// needs resuming.
pub fn follow<T: serde::de::DeserializeOwned + 'static>(
    url: String,
    event: &'static str,
    on_data: impl Fn(T) + 'static,
    on_connection: impl Fn(Connection) + 'static,
) -> Follow {
    let inner = Rc::new(FollowInner {
        url,
        event,
        on_data: Box::new(move |data: String| match serde_json::from_str::<T>(&data) {
            Ok(value) => on_data(value),
            Err(error) => leptos::logging::warn!("ignoring a {event} event: {error}"),
        }),
        on_connection: Box::new(on_connection),
        source: RefCell::new(None),
        retry: RefCell::new(None),
        retry_delay_ms: Cell::new(FIRST_RETRY_MS),
    });
    (inner.on_connection)(Connection::Connecting);
    connect_named(&inner);
    Follow { inner }
}

fn connect_named(inner: &Rc<FollowInner>) {
    let es = match EventSource::new(&inner.url) {
        Ok(es) => es,
        Err(error) => {
            leptos::logging::warn!("cannot open the live stream: {error:?}");
            retry_named(inner);
            return;
        }
    };
    let weak = Rc::downgrade(inner);
    let on_open = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
        if let Some(inner) = weak.upgrade() {
            inner.retry_delay_ms.set(FIRST_RETRY_MS);
            (inner.on_connection)(Connection::Open);
        }
    });
    let weak = Rc::downgrade(inner);
    let on_data = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
        let Some(inner) = weak.upgrade() else { return };
        if let Some(data) = message.data().as_string() {
            (inner.on_data)(data);
        }
    });
    let weak = Rc::downgrade(inner);
    let on_error = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
        let Some(inner) = weak.upgrade() else { return };
        (inner.on_connection)(Connection::Reconnecting);
        let closed = event
            .current_target()
            .and_then(|target| target.dyn_into::<EventSource>().ok())
            .is_none_or(|es| es.ready_state() == EventSource::CLOSED);
        if closed {
            retry_named(&inner);
        }
    });
    es.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    if let Err(error) =
        es.add_event_listener_with_callback(inner.event, on_data.as_ref().unchecked_ref())
    {
        leptos::logging::warn!("cannot follow the live stream: {error:?}");
    }
    *inner.source.borrow_mut() = Some(NamedSource {
        es,
        event: inner.event,
        _on_open: on_open,
        on_data,
        _on_error: on_error,
    });
}

fn retry_named(inner: &Rc<FollowInner>) {
    let delay = inner.retry_delay_ms.get();
    inner
        .retry_delay_ms
        .set(delay.saturating_mul(2).min(MAX_RETRY_MS));
    let weak: Weak<FollowInner> = Rc::downgrade(inner);
    let timeout = Timeout::new(delay, move || {
        if let Some(inner) = weak.upgrade() {
            connect_named(&inner);
        }
    });
    *inner.retry.borrow_mut() = Some(timeout);
}
