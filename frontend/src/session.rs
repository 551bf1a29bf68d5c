//! Who is signed in: one app-wide signal, the check at start, and the guard around pages that
//! need a signed-in person. A 401 from any API call turns the state to signed out; the shell
//! then sends the person to the sign-in page, which brings them back where they were.

use crate::api::{self, ApiError};
mod menu;

pub use menu::UserMenu;

use crate::components::{ErrorPanel, Loading};
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::UserInfo;

/// What the app knows about the person using it.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionState {
    /// Asking the server.
    Checking,
    /// Signed in.
    SignedIn(UserInfo),
    /// No one is signed in (or the session ended).
    SignedOut,
    /// The server could not say.
    Failed(ApiError),
}

/// The app-wide session signal (a context).
#[derive(Clone, Copy)]
pub struct Session(pub RwSignal<SessionState>);

impl Session {
    /// The session from the context the shell provides.
    pub fn get() -> Self {
        use_context::<Self>().unwrap_or_else(|| Self(RwSignal::new(SessionState::Checking)))
    }

    /// The signed-in user, if any.
    pub fn user(self) -> Option<UserInfo> {
        self.0.with(|state| match state {
            SessionState::SignedIn(user) => Some(user.clone()),
            _ => None,
        })
    }

    /// Asks the server who is signed in.
    pub fn check(self) {
        let state = self.0;
        if !matches!(state.get_untracked(), SessionState::SignedIn(_)) {
            state.set(SessionState::Checking);
        }
        spawn_local(async move {
            let next = match api::me().await {
                Ok(session) => SessionState::SignedIn(session.user),
                Err(ApiError::Unauthorized { .. }) => SessionState::SignedOut,
                Err(error) => SessionState::Failed(error),
            };
            state.try_set(next);
        });
    }
}

/// Which of the states a guarded page shows; changes of the user alone do not rebuild it.
#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Waiting,
    Ready,
    Failed(ApiError),
}

/// Shows `children` only to a signed-in person; others see a spinner while the shell takes
/// them to the sign-in page.
#[component]
pub fn SignedIn(children: ChildrenFn) -> impl IntoView {
    let session = Session::get();
    let phase = Memo::new(move |_| {
        session.0.with(|state| match state {
            SessionState::SignedIn(_) => Phase::Ready,
            SessionState::Failed(error) => Phase::Failed(error.clone()),
            SessionState::Checking | SessionState::SignedOut => Phase::Waiting,
        })
    });
    let retry = Callback::new(move |()| session.check());
    move || match phase.get() {
        Phase::Ready => children().into_any(),
        Phase::Failed(error) => view! {
            <ErrorPanel
                title="Riskdeck could not check who you are"
                message=error.to_string()
                on_retry=retry
            />
        }
        .into_any(),
        Phase::Waiting => view! { <Loading label="Checking your session…" /> }.into_any(),
    }
}
