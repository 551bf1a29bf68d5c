use leptos::prelude::*;

/// How a value should read at a glance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tone {
    #[default]
    Neutral,
    Positive,
    Negative,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Self::Neutral => "tile-value",
            Self::Positive => "tile-value positive",
            Self::Negative => "tile-value negative",
        }
    }
}

/// One number on the account page: a label, the value (carrying `data-testid`), an optional
/// unit and an optional note below.
#[component]
pub fn StatTile(
    label: &'static str,
    testid: &'static str,
    #[prop(into)] value: Signal<String>,
    #[prop(optional, into)] unit: MaybeProp<String>,
    #[prop(optional, into)] tone: MaybeProp<Tone>,
    #[prop(optional, into)] note: MaybeProp<String>,
    #[prop(optional)] note_testid: Option<&'static str>,
) -> impl IntoView {
    view! {
        <div class="tile">
            <div class="tile-label">{label}</div>
            <div class="tile-figure">
                <span
                    class=move || tone.get().unwrap_or_default().class()
                    data-testid=testid
                >
                    {value}
                </span>
                <span class="tile-unit">{move || unit.get()}</span>
            </div>
            <div class="tile-note" data-testid=note_testid>
                {move || note.get()}
            </div>
        </div>
    }
}
