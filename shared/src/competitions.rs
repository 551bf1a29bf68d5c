//! Competitions: many accounts on the same rules over the same window, ranked live.
//!
//! A competition is a window (start and end as wall-clock times in the firm's time zone), the
//! rules that disqualify (a rule set in the rule editor's format: an entrant whose challenge
//! breaks one is disqualified, with the breach's evidence), and the ranking (return on the
//! equity an entrant had at the start by default, or profit; ties broken in the stated order,
//! then by entry order, so the order is total). Each entrant is a tracked account whose
//! challenge runs the competition's rules from the start.
//!
//! Everything here is pure: the server ranks with it and the browser shows what it sent.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

use crate::domain::{AccountId, Money};
use crate::engine::edit::{self, RuleSetDraft};
use crate::engine::rules::RuleKind;

/// The longest competition name.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
/// The longest window, in days.
pub const MAX_DAYS: i64 = 366;
/// The most entrants one competition may have.
pub const MAX_ENTRANTS: usize = 100_000;
/// Rows on a leaderboard page by default, and at most.
pub const DEFAULT_PER_PAGE: u32 = 50;
pub const MAX_PER_PAGE: u32 = 100;
/// The longest display name a trader may choose.
pub const MAX_DISPLAY_NAME_CHARS: usize = 32;
/// The balance a competition's rules are checked at when saved (each entrant is checked again
/// at its own initial balance).
pub fn reference_balance() -> Money {
    Decimal::from(100_000)
}

/// What entrants are ranked by, best first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    /// Equity now less equity at the start, over equity at the start (highest first).
    #[default]
    Return,
    /// Equity now less equity at the start, in the account's currency (highest first).
    Profit,
}

/// A tie-break, applied in the stated order when the ranking measure is equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TieBreak {
    /// The smaller deepest drawdown from peak equity during the competition, in percent.
    LowerDrawdown,
    /// The higher return.
    HigherReturn,
    /// The higher profit.
    HigherProfit,
    /// More closed trades.
    MoreTrades,
    /// Fewer closed trades.
    FewerTrades,
    /// The entrant who entered first.
    EarlierEntry,
}

impl TieBreak {
    /// Every tie-break, in the order the console offers them.
    pub const ALL: [TieBreak; 6] = [
        TieBreak::LowerDrawdown,
        TieBreak::HigherReturn,
        TieBreak::HigherProfit,
        TieBreak::MoreTrades,
        TieBreak::FewerTrades,
        TieBreak::EarlierEntry,
    ];

    /// The tie-break in words.
    pub fn label(self) -> &'static str {
        match self {
            TieBreak::LowerDrawdown => "lower drawdown",
            TieBreak::HigherReturn => "higher return",
            TieBreak::HigherProfit => "higher profit",
            TieBreak::MoreTrades => "more trades",
            TieBreak::FewerTrades => "fewer trades",
            TieBreak::EarlierEntry => "earlier entry",
        }
    }
}

/// How entrants are ranked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Ranking {
    /// The measure, best first.
    #[serde(default)]
    pub by: RankBy,
    /// Applied in order when the measure is equal; entry order settles what is still tied.
    #[serde(default = "default_tie_breaks")]
    pub tie_breaks: Vec<TieBreak>,
}

fn default_tie_breaks() -> Vec<TieBreak> {
    vec![TieBreak::LowerDrawdown, TieBreak::EarlierEntry]
}

impl Default for Ranking {
    fn default() -> Self {
        Ranking {
            by: RankBy::Return,
            tie_breaks: default_tie_breaks(),
        }
    }
}

impl Ranking {
    /// The ranking in words, e.g. `return, then lower drawdown, then earlier entry`.
    pub fn describe(&self) -> String {
        let mut words = vec![match self.by {
            RankBy::Return => "return".to_owned(),
            RankBy::Profit => "profit".to_owned(),
        }];
        words.extend(self.tie_breaks.iter().map(|t| t.label().to_owned()));
        if !self.tie_breaks.contains(&TieBreak::EarlierEntry) {
            words.push(TieBreak::EarlierEntry.label().to_owned());
        }
        words.join(", then ")
    }
}

/// A competition as the admin writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompetitionDraft {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The firm's IANA time zone, in which `start` and `end` are read (and days for the
    /// leaderboard's movement end), e.g. `Europe/London`.
    pub time_zone: String,
    /// When it starts, local time in `time_zone` (`2027-01-04T00:00:00`).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub start: NaiveDateTime,
    /// When it ends, local time in `time_zone`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub end: NaiveDateTime,
    /// The rules that disqualify, in the rule editor's format (no profit target).
    pub rules: RuleSetDraft,
    #[serde(default)]
    pub ranking: Ranking,
    /// Whether the leaderboard has a public read-only link (display names and numbers only).
    #[serde(default)]
    pub public: bool,
}

/// Every problem with a competition, one sentence each.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("; "))]
pub struct CompetitionError {
    pub problems: Vec<String>,
}

/// A competition's window in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Where a competition stands at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Not started: editable, entrants may be added and removed.
    Upcoming,
    /// Running: ranked live; the definition and the entrants are fixed.
    Running,
    /// Ended: the final standings are frozen.
    Ended,
}

impl Window {
    /// Where the competition stands at `now`.
    pub fn stage(&self, now: DateTime<Utc>) -> Stage {
        if now < self.start {
            Stage::Upcoming
        } else if now < self.end {
            Stage::Running
        } else {
            Stage::Ended
        }
    }
}

/// `local` in `zone` as an instant: the earlier of two at a fall-back hour; a time skipped by a
/// spring-forward is a problem (named with `field`).
fn instant(zone: Tz, local: NaiveDateTime, field: &str) -> Result<DateTime<Utc>, String> {
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(at) => Ok(at.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(first, _) => Ok(first.with_timezone(&Utc)),
        chrono::LocalResult::None => Err(format!(
            "{field}: {local} does not exist in {zone} (the clocks skip it for daylight saving); \
             choose another time"
        )),
    }
}

impl CompetitionDraft {
    /// Checks the competition: its name, window (in its time zone, daylight saving included)
    /// and rules (checked at [`reference_balance`]). Every problem is named with its field.
    pub fn validate(&self) -> Result<Window, CompetitionError> {
        self.validate_at(reference_balance())
    }

    /// [`Self::validate`] for an entrant starting with `initial_balance`.
    pub fn validate_at(&self, initial_balance: Money) -> Result<Window, CompetitionError> {
        let mut problems = Vec::new();
        let name = self.name.trim();
        if name.is_empty() {
            problems.push("name: the competition needs a name".to_owned());
        } else if name.chars().count() > MAX_NAME_CHARS {
            problems.push(format!("name: longer than {MAX_NAME_CHARS} characters"));
        }
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            problems.push(format!(
                "description: longer than {MAX_DESCRIPTION_CHARS} characters"
            ));
        }
        let window = match self.time_zone.trim().parse::<Tz>() {
            Err(_) => {
                problems.push(format!(
                    "time_zone: unknown time zone {:?}: use an IANA name such as Europe/London, \
                     America/New_York or UTC",
                    self.time_zone
                ));
                None
            }
            Ok(zone) => {
                let start = instant(zone, self.start, "start");
                let end = instant(zone, self.end, "end");
                match (start, end) {
                    (Ok(start), Ok(end)) => Some(Window { start, end }),
                    (start, end) => {
                        problems.extend(start.err());
                        problems.extend(end.err());
                        None
                    }
                }
            }
        };
        if let Some(window) = window {
            if window.end <= window.start {
                problems.push("end: the competition must end after it starts".to_owned());
            } else if window.end - window.start > chrono::Duration::days(MAX_DAYS) {
                problems.push(format!("end: a competition lasts at most {MAX_DAYS} days"));
            }
        }
        if let Some(rule) = self
            .rules
            .rules
            .iter()
            .find(|rule| matches!(rule.kind, RuleKind::ProfitTarget { .. }))
        {
            problems.push(format!(
                "rules: {:?} is a profit target: a competition ranks by {} and has no target \
                 (remove the rule)",
                rule.id,
                match self.ranking.by {
                    RankBy::Return => "return",
                    RankBy::Profit => "profit",
                }
            ));
        }
        if let Err(error) = edit::validate(&self.rules, initial_balance) {
            problems.extend(error.problems.into_iter().map(|p| format!("rules: {p}")));
        }
        for (i, tie) in self.ranking.tie_breaks.iter().enumerate() {
            if self.ranking.tie_breaks[..i].contains(tie) {
                problems.push(format!(
                    "ranking.tie_breaks: {:?} is given twice",
                    tie.label()
                ));
            }
        }
        match window {
            Some(window) if problems.is_empty() => Ok(window),
            _ => Err(CompetitionError { problems }),
        }
    }
}

/// A display name as a trader chose it: trimmed, 2 to [`MAX_DISPLAY_NAME_CHARS`] characters,
/// letters, digits, spaces and `-_.'` only.
pub fn check_display_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let count = name.chars().count();
    if !(2..=MAX_DISPLAY_NAME_CHARS).contains(&count) {
        return Err(format!(
            "display_name: 2 to {MAX_DISPLAY_NAME_CHARS} characters ({count} given)"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '\'')))
    {
        return Err(format!(
            "display_name: {bad:?} is not allowed (letters, digits, spaces and - _ . ' only)"
        ));
    }
    Ok(name.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The name an entrant who chose none is shown under: `Entrant 17`.
pub fn anonymous_name(entry: u32) -> String {
    format!("Entrant {entry}")
}

/// Why an entrant was disqualified: the rule its challenge broke, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Disqualification {
    /// The rule's id, e.g. `daily_loss`.
    pub rule: String,
    /// The rule in words, e.g. `Maximum daily loss`.
    pub label: String,
    /// When it was broken.
    pub at: DateTime<Utc>,
}

/// An entrant's numbers as the ranking reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entrant {
    /// Entry number in the competition (1, 2, ...): entry order.
    pub entry: u32,
    /// Equity at the start (`None` before the first numbers at or after it).
    pub baseline: Option<Money>,
    /// Equity now (or at the disqualification, or at the end).
    pub equity: Option<Money>,
    /// Closed trades since the start.
    pub trades: u32,
    /// Deepest drawdown from peak equity since the start, in percent.
    pub max_drawdown_percent: Decimal,
    pub disqualified: Option<Disqualification>,
}

impl Entrant {
    /// Equity less equity at the start (0 before both are known).
    pub fn profit(&self) -> Money {
        match (self.baseline, self.equity) {
            (Some(baseline), Some(equity)) => equity - baseline,
            _ => Decimal::ZERO,
        }
    }

    /// [`Self::profit`] over equity at the start, in percent (0 before both are known).
    pub fn return_percent(&self) -> Decimal {
        match self.baseline {
            Some(baseline) if baseline > Decimal::ZERO => {
                self.profit() * Decimal::ONE_HUNDRED / baseline
            }
            _ => Decimal::ZERO,
        }
    }
}

/// How `a` and `b` compare, best first: active before disqualified, then the measure, then
/// the tie-breaks in order, then entry order.
pub fn compare(a: &Entrant, b: &Entrant, ranking: &Ranking) -> Ordering {
    let disqualified = a.disqualified.is_some().cmp(&b.disqualified.is_some());
    let measure = match ranking.by {
        RankBy::Return => b.return_percent().cmp(&a.return_percent()),
        RankBy::Profit => b.profit().cmp(&a.profit()),
    };
    let mut order = disqualified.then(measure);
    for tie in &ranking.tie_breaks {
        order = order.then_with(|| match tie {
            TieBreak::LowerDrawdown => a.max_drawdown_percent.cmp(&b.max_drawdown_percent),
            TieBreak::HigherReturn => b.return_percent().cmp(&a.return_percent()),
            TieBreak::HigherProfit => b.profit().cmp(&a.profit()),
            TieBreak::MoreTrades => b.trades.cmp(&a.trades),
            TieBreak::FewerTrades => a.trades.cmp(&b.trades),
            TieBreak::EarlierEntry => a.entry.cmp(&b.entry),
        });
    }
    order.then(a.entry.cmp(&b.entry))
}

/// The entrants' indices, best first: the order of [`compare`], with each entrant's profit and
/// return worked out once (a board of 10,000 entrants is ranked many times a second).
pub fn rank(entrants: &[Entrant], ranking: &Ranking) -> Vec<usize> {
    let keys: Vec<Keyed<'_>> = entrants
        .iter()
        .map(|entrant| Keyed {
            entrant,
            profit: entrant.profit(),
            return_percent: entrant.return_percent(),
        })
        .collect();
    let mut order: Vec<usize> = (0..entrants.len()).collect();
    order.sort_by(|&a, &b| keys[a].compare(&keys[b], ranking));
    order
}

/// An entrant with its measures worked out.
struct Keyed<'a> {
    entrant: &'a Entrant,
    profit: Money,
    return_percent: Decimal,
}

impl Keyed<'_> {
    /// [`compare`] on worked-out measures.
    fn compare(&self, other: &Keyed<'_>, ranking: &Ranking) -> Ordering {
        let (a, b) = (self.entrant, other.entrant);
        let disqualified = a.disqualified.is_some().cmp(&b.disqualified.is_some());
        let measure = match ranking.by {
            RankBy::Return => other.return_percent.cmp(&self.return_percent),
            RankBy::Profit => other.profit.cmp(&self.profit),
        };
        let mut order = disqualified.then(measure);
        for tie in &ranking.tie_breaks {
            order = order.then_with(|| match tie {
                TieBreak::LowerDrawdown => a.max_drawdown_percent.cmp(&b.max_drawdown_percent),
                TieBreak::HigherReturn => other.return_percent.cmp(&self.return_percent),
                TieBreak::HigherProfit => other.profit.cmp(&self.profit),
                TieBreak::MoreTrades => b.trades.cmp(&a.trades),
                TieBreak::FewerTrades => a.trades.cmp(&b.trades),
                TieBreak::EarlierEntry => a.entry.cmp(&b.entry),
            });
        }
        order.then(a.entry.cmp(&b.entry))
    }
}

// The wire contract.

/// An entrant's standing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EntrantStatus {
    Active,
    Disqualified {
        #[serde(flatten)]
        why: Disqualification,
    },
}

/// One row of a leaderboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaderboardRow {
    /// 1 for the best.
    pub rank: u32,
    /// Entry number (entry order).
    pub entry: u32,
    /// The name the trader chose, or `Entrant N`.
    pub display_name: String,
    /// Return since the start, percent (full precision; shown to 2 decimals).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub return_percent: Decimal,
    /// Profit since the start, in `currency`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub profit: Money,
    pub currency: Option<String>,
    /// Closed trades since the start.
    pub trades: u32,
    #[serde(flatten)]
    pub status: EntrantStatus,
    /// Places gained (positive) or lost since the end of the previous day in the
    /// competition's time zone; `None` on its first day.
    pub movement: Option<i32>,
    /// Whether the signed-in user owns the entrant (sent only when true: never in public
    /// views).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mine: bool,
    /// The account (only for admins and the entrant's owner; never in public views).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountId>,
}

/// A page of a leaderboard, as `GET .../leaderboard` answers and its stream sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaderboardPage {
    /// The competition's id.
    pub competition: String,
    pub name: String,
    pub stage: Stage,
    pub window: Window,
    pub time_zone: String,
    /// The ranking in words.
    pub ranking: String,
    /// Entrants in all.
    pub entrants: u32,
    /// Entrants matching the search (all without one).
    pub matching: u32,
    /// Page number, from 1.
    pub page: u32,
    pub per_page: u32,
    pub rows: Vec<LeaderboardRow>,
    /// The signed-in trader's own rows when they are not on this page (pinned above it).
    #[serde(default)]
    pub pinned: Vec<LeaderboardRow>,
    /// When the standings last changed.
    pub as_of: Option<DateTime<Utc>>,
    /// Whether these are the final standings.
    pub is_final: bool,
}

/// A competition as lists show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompetitionSummary {
    /// Its id: a slug of 3 to 64 lowercase letters, digits and `-`.
    pub id: String,
    pub name: String,
    pub stage: Stage,
    pub window: Window,
    pub time_zone: String,
    /// Entrants in all.
    pub entrants: u32,
    /// The signed-in user's entrants (a trader's own accounts in it).
    pub mine: u32,
    /// The public leaderboard's path (`/c/{slug}`) when the admin turned it on; admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_path: Option<String>,
}

/// `GET /api/competitions`: every competition for an admin; a trader's own (those with one of
/// their accounts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompetitionsResponse {
    /// Running first, then upcoming, then ended; by start within each.
    pub competitions: Vec<CompetitionSummary>,
}

/// `POST /api/competitions` (admins only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateCompetitionRequest {
    /// Its id: a slug of 3 to 64 lowercase letters, digits and `-`, unique.
    pub id: String,
    pub competition: CompetitionDraft,
}

/// `POST /api/competitions/{competition}` (admins only): the competition rewritten; only
/// before it starts (409 after).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateCompetitionRequest {
    pub competition: CompetitionDraft,
}

/// An entrant as the admin sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompetitionEntry {
    /// Entry number (entry order), from 1.
    pub entry: u32,
    pub account: AccountId,
    /// The account's display name.
    pub account_name: String,
    /// The owner's username, if the account has one.
    pub owner: Option<String>,
    /// As the leaderboard shows the entrant.
    pub display_name: String,
    pub entered_at: DateTime<Utc>,
}

/// A disqualification kept with the final standings: the rule, when, and the breach's evidence
/// as the challenge recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DisqualificationRecord {
    pub entry: u32,
    pub account: AccountId,
    #[serde(flatten)]
    pub why: Disqualification,
    /// The breach event's evidence (the values the engine decided on), in words.
    pub evidence: String,
}

/// `GET /api/competitions/{competition}`: the competition; the entrants and the
/// disqualifications' evidence for admins only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompetitionDetail {
    pub summary: CompetitionSummary,
    pub competition: CompetitionDraft,
    /// The ranking in words.
    pub ranking: String,
    /// Admins only (empty for traders).
    #[serde(default)]
    pub entries: Vec<CompetitionEntry>,
    /// Admins only (empty for traders).
    #[serde(default)]
    pub disqualifications: Vec<DisqualificationRecord>,
    /// Who last changed it, and when.
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/competitions/{competition}/entries` (admins only, before the start): accounts to
/// add and to remove. Nothing changes if any is refused (every refusal named, 422).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EntriesRequest {
    #[serde(default)]
    pub add: Vec<AccountId>,
    #[serde(default)]
    pub remove: Vec<AccountId>,
}

/// The answer to [`EntriesRequest`]: every entrant now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntriesResponse {
    pub entries: Vec<CompetitionEntry>,
}

/// `GET` and `POST /api/me/profile`: how the signed-in user appears on leaderboards.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The name leaderboards show (see [`check_display_name`]); `None`: `Entrant N`, never the
    /// username or the account.
    #[serde(default)]
    pub display_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::edit::RuleSet;
    use crate::engine::presets::preset;
    use crate::engine::rules::RuleKind;

    /// FTMO's 2-step rules without their profit target.
    fn rules() -> RuleSetDraft {
        let config = preset("ftmo-2step", reference_balance()).expect("preset");
        let mut set = RuleSet {
            clock: config.clock,
            rules: config.rules,
            estimated_equity_breaches: config.estimated_equity_breaches,
            interest_dividend_tax: config.interest_dividend_tax,
        };
        set.rules
            .retain(|r| !matches!(r.kind, RuleKind::ProfitTarget { .. }));
        set.draft()
    }

    fn draft(zone: &str, start: &str, end: &str) -> CompetitionDraft {
        CompetitionDraft {
            name: "Spring cup".into(),
            description: String::new(),
            time_zone: zone.into(),
            start: start.parse().expect("start"),
            end: end.parse().expect("end"),
            rules: rules(),
            ranking: Ranking::default(),
            public: false,
        }
    }

    #[track_caller]
    fn problems(draft: &CompetitionDraft, needles: &[&str]) {
        let error = draft.validate().expect_err("refused");
        for needle in needles {
            assert!(
                error.problems.iter().any(|p| p.contains(needle)),
                "{needle:?} not in {:?}",
                error.problems
            );
        }
    }

    #[test]
    fn a_good_competition_has_its_window_in_utc() {
        let window = draft(
            "Europe/London",
            "2027-07-01T00:00:00",
            "2027-07-31T23:00:00",
        )
        .validate()
        .expect("valid");
        assert_eq!(window.start.to_rfc3339(), "2027-06-30T23:00:00+00:00");
        assert_eq!(window.stage(window.start), Stage::Running);
        assert_eq!(window.stage(window.end), Stage::Ended);
    }

    #[test]
    fn a_start_in_the_daylight_saving_gap_is_named() {
        problems(
            &draft(
                "Europe/London",
                "2027-03-28T01:30:00",
                "2027-04-28T00:00:00",
            ),
            &["start: 2027-03-28 01:30:00 does not exist in Europe/London"],
        );
    }

    #[test]
    fn every_problem_is_named_at_once() {
        problems(
            &draft("Mars/Olympus", "2027-01-01T00:00:00", "2027-02-01T00:00:00"),
            &["time_zone: unknown time zone \"Mars/Olympus\""],
        );
        problems(
            &draft("UTC", "2027-02-01T00:00:00", "2027-01-01T00:00:00"),
            &["end: the competition must end after it starts"],
        );
        let mut bad = draft("UTC", "2027-01-01T00:00:00", "2028-06-01T00:00:00");
        bad.name = " ".into();
        bad.ranking.tie_breaks = vec![TieBreak::MoreTrades, TieBreak::MoreTrades];
        let target = preset("ftmo-2step", reference_balance())
            .expect("preset")
            .rules
            .into_iter()
            .find(|r| matches!(r.kind, RuleKind::ProfitTarget { .. }))
            .expect("a target");
        bad.rules.rules.push(target);
        problems(
            &bad,
            &[
                "name: the competition needs a name",
                "end: a competition lasts at most 366 days",
                "is a profit target: a competition ranks by return and has no target",
                "ranking.tie_breaks: \"more trades\" is given twice",
            ],
        );
    }

    fn entrant(entry: u32, equity: i64, drawdown: i64, dq: bool) -> Entrant {
        Entrant {
            entry,
            baseline: Some(Decimal::from(100_000)),
            equity: Some(Decimal::from(equity)),
            trades: entry,
            max_drawdown_percent: Decimal::from(drawdown),
            disqualified: dq.then(|| Disqualification {
                rule: "daily_loss".into(),
                label: "Maximum daily loss".into(),
                at: DateTime::<Utc>::UNIX_EPOCH,
            }),
        }
    }

    #[test]
    fn ranking_orders_by_the_measure_then_the_tie_breaks_then_entry() {
        let entrants = [
            entrant(1, 101_000, 3, false),
            entrant(2, 105_000, 1, true),
            entrant(3, 101_000, 2, false),
            entrant(4, 102_000, 9, false),
            entrant(5, 101_000, 2, false),
        ];
        let ranked = |ranking: &Ranking| {
            rank(&entrants, ranking)
                .into_iter()
                .map(|i| entrants[i].entry)
                .collect::<Vec<_>>()
        };
        // Return, then lower drawdown, then earlier entry; the disqualified last.
        assert_eq!(ranked(&Ranking::default()), [4, 3, 5, 1, 2]);
        let by_trades = Ranking {
            by: RankBy::Profit,
            tie_breaks: vec![TieBreak::MoreTrades],
        };
        assert_eq!(ranked(&by_trades), [4, 5, 3, 1, 2]);
        let mut sorted: Vec<&Entrant> = entrants.iter().collect();
        sorted.sort_by(|a, b| compare(a, b, &by_trades));
        assert_eq!(
            sorted.iter().map(|e| e.entry).collect::<Vec<_>>(),
            [4, 5, 3, 1, 2],
            "rank and compare agree"
        );
        assert_eq!(entrants[3].return_percent(), Decimal::from(2));
        assert_eq!(entrants[3].profit(), Decimal::from(2_000));
        assert_eq!(
            by_trades.describe(),
            "profit, then more trades, then earlier entry"
        );
    }

    #[test]
    fn numbers_are_zero_before_the_start_is_seen() {
        let mut early = entrant(1, 90_000, 0, false);
        early.baseline = None;
        assert_eq!(early.profit(), Decimal::ZERO);
        assert_eq!(early.return_percent(), Decimal::ZERO);
    }

    #[test]
    fn display_names_are_checked_and_tidied() {
        assert_eq!(check_display_name("  Jane   D. ").as_deref(), Ok("Jane D."));
        assert!(check_display_name("J").is_err());
        assert!(check_display_name("<script>").is_err());
        assert_eq!(anonymous_name(7), "Entrant 7");
    }
}
