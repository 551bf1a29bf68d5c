use super::{Session, SessionState};
use crate::api;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::Role;

/// The signed-in person in the top bar, with a way to sign out. Renders nothing when no one is
/// signed in.
#[component]
pub fn UserMenu() -> impl IntoView {
    let session = Session::get();
    let user = Memo::new(move |_| session.user());
    let busy = RwSignal::new(false);
    let sign_out = move |_| {
        busy.set(true);
        spawn_local(async move {
            if let Err(error) = api::logout().await {
                leptos::logging::warn!("signing out failed: {error}");
            }
            busy.try_set(false);
            session.0.try_set(SessionState::SignedOut);
        });
    };
    move || {
        user.get().map(|user| {
            let role = match user.role {
                Role::Admin => "Admin",
                Role::Trader => "Trader",
            };
            let is_admin = user.role == Role::Admin;
            view! {
                <div class="user-menu">
                    {is_admin.then(|| view! {
                        <a class="button button-quiet" href="/admin" rel="external" data-testid="admin-console-link">
                            "Admin console"
                        </a>
                    })}
                    <a class="button button-quiet" href="/settings/notifications" data-testid="notification-settings-link">
                        "Notifications"
                    </a>
                    <span class="user-name" data-testid="current-user" data-role=user.role.as_str()>
                        <span class="user-avatar" aria-hidden="true">
                            {user.username.chars().next().map(|c| c.to_uppercase().to_string())}
                        </span>
                        <span>{user.username.clone()}</span>
                    </span>
                    <span class="badge badge-role">{role}</span>
                    <button
                        class="button button-quiet"
                        type="button"
                        data-testid="logout"
                        on:click=sign_out
                        disabled=busy
                    >
                        "Sign out"
                    </button>
                </div>
            }
        })
    }
}
