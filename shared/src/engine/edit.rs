//! Editing a running challenge's rules: the draft an admin sends, its validation (one function
//! for the browser's editor and the server, so both refuse the same things with the same
//! reasons), and the difference between two rule sets, parameter by parameter, in words.
//!
//! A validated [`RuleSet`] is applied with [`super::Challenge::change_rules`]: a breach stays
//! final, the new limits apply from then on.

use chrono::NaiveTime;
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::EngineError;
use super::clock::ResetClock;
use super::rules::RuleStatus;
use super::rules::{DayProfit, Limit, MAX_HOLDING_MINUTES, RuleDef, RuleKind};
use super::state::{Challenge, Check, PlCounting, RuleState, percent_of, refloor};
use crate::domain::Money;

/// The most rules one rule set may hold.
pub const MAX_RULES: usize = 32;
/// The longest rule id.
pub const MAX_ID_CHARS: usize = 64;

/// A rule set as the editor sends it: the reset clock as text (an IANA zone and `HH:MM`), so a
/// wrong zone or time gets a reason instead of a parse error, and every rule with its
/// parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleSetDraft {
    /// IANA time zone of the daily reset, e.g. `Europe/Prague`.
    pub time_zone: String,
    /// Local time of the daily reset, `HH:MM` (00:00 to 23:59).
    pub reset_time: String,
    /// The rules, in report order (the engine's rule format).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub rules: Vec<RuleDef>,
    /// Whether equity estimated from quotes may breach a loss rule (otherwise it only warns).
    #[serde(default)]
    pub estimated_equity_breaches: bool,
    /// Whether interest, dividend and tax deals count as trading P/L (the default) or as
    /// balance operations.
    #[serde(default)]
    pub interest_dividend_tax: PlCounting,
}

/// A validated rule set, ready for [`super::Challenge::change_rules`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSet {
    /// When trading days start.
    pub clock: ResetClock,
    /// The rules, in report order.
    pub rules: Vec<RuleDef>,
    /// See [`RuleSetDraft::estimated_equity_breaches`].
    pub estimated_equity_breaches: bool,
    /// See [`RuleSetDraft::interest_dividend_tax`].
    #[serde(default)]
    pub interest_dividend_tax: PlCounting,
}

impl RuleSet {
    /// The rules a challenge is measured against now.
    pub fn of(challenge: &Challenge) -> Self {
        Self {
            clock: challenge.clock(),
            rules: challenge.rules().cloned().collect(),
            estimated_equity_breaches: challenge.estimated_equity_breaches(),
            interest_dividend_tax: challenge.interest_dividend_tax(),
        }
    }

    /// The same rule set as the editor shows it.
    pub fn draft(&self) -> RuleSetDraft {
        RuleSetDraft {
            time_zone: self.clock.time_zone.name().to_owned(),
            reset_time: self.clock.local_time.format("%H:%M").to_string(),
            rules: self.rules.clone(),
            estimated_equity_breaches: self.estimated_equity_breaches,
            interest_dividend_tax: self.interest_dividend_tax,
        }
    }
}

/// Why a draft was refused: every problem found, each naming the rule and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("; "))]
pub struct RuleSetError {
    /// One sentence per problem.
    pub problems: Vec<String>,
}

/// Checks a draft against a challenge starting with `initial_balance`: impossible values
/// (negative or zero limits, percents above 100, warnings out of order, an unknown time zone, a
/// reset time out of range) and contradictions (a daily loss limit as large as the maximum loss,
/// a margin warning below its critical level). Returns the rule set or every problem found.
pub fn validate(draft: &RuleSetDraft, initial_balance: Money) -> Result<RuleSet, RuleSetError> {
    let mut problems = Vec::new();
    let time_zone = draft.time_zone.trim().parse::<Tz>().map_err(|_| {
        format!(
            "unknown time zone {:?}: use an IANA name such as Europe/Prague, \
             America/New_York or UTC",
            draft.time_zone
        )
    });
    let local_time = parse_reset_time(draft.reset_time.trim());
    if draft.rules.is_empty() {
        problems.push("a rule set needs at least one rule".to_owned());
    }
    if draft.rules.len() > MAX_RULES {
        problems.push(format!(
            "at most {MAX_RULES} rules, not {}",
            draft.rules.len()
        ));
    }
    for (i, rule) in draft.rules.iter().enumerate() {
        if draft.rules[..i].iter().any(|r| r.id == rule.id) {
            problems.push(format!(
                "the rule id {:?} is used twice: give each rule its own id",
                rule.id
            ));
        }
        rule_problems(rule, initial_balance, &mut problems);
    }
    contradictions(&draft.rules, initial_balance, &mut problems);
    let clock = match (time_zone, local_time) {
        (Ok(time_zone), Ok(local_time)) => Some(ResetClock {
            time_zone,
            local_time,
        }),
        (zone, time) => {
            problems.extend(zone.err());
            problems.extend(time.err());
            None
        }
    };
    match clock {
        Some(clock) if problems.is_empty() => Ok(RuleSet {
            clock,
            rules: draft.rules.clone(),
            estimated_equity_breaches: draft.estimated_equity_breaches,
            interest_dividend_tax: draft.interest_dividend_tax,
        }),
        _ => Err(RuleSetError { problems }),
    }
}

fn parse_reset_time(text: &str) -> Result<NaiveTime, String> {
    let out_of_range = || {
        format!("reset time {text:?} is out of range: use HH:MM from 00:00 to 23:59 (local time)")
    };
    let (hour, minute) = text.split_once(':').ok_or_else(out_of_range)?;
    let hour: u32 = hour.parse().map_err(|_| out_of_range())?;
    let minute: u32 = minute.parse().map_err(|_| out_of_range())?;
    if hour > 23 || minute > 59 {
        return Err(out_of_range());
    }
    NaiveTime::from_hms_opt(hour, minute, 0).ok_or_else(out_of_range)
}

/// The problems of one rule's own parameters, each prefixed with the rule's id.
fn rule_problems(rule: &RuleDef, initial_balance: Money, problems: &mut Vec<String>) {
    let id = &rule.id;
    let mut say = |what: String| problems.push(format!("{id}: {what}"));
    if id.is_empty() {
        say("the rule id is empty: name the rule, e.g. daily_loss".to_owned());
    } else if id.chars().count() > MAX_ID_CHARS
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        say(format!(
            "the id may use letters, digits, _ and - only (at most {MAX_ID_CHARS})"
        ));
    }
    let mut previous = Decimal::ZERO;
    for fraction in &rule.warnings {
        if *fraction <= previous || *fraction >= Decimal::ONE {
            say(
                "warning fractions must be above 0, below 1 and ascending (e.g. 0.5, 0.8, 0.95)"
                    .to_owned(),
            );
            break;
        }
        previous = *fraction;
    }
    if rule.warnings.len() > super::rules::MAX_WARNINGS {
        say(format!(
            "at most {} warning fractions",
            super::rules::MAX_WARNINGS
        ));
    }
    match &rule.kind {
        RuleKind::DailyLoss { limit: l, .. }
        | RuleKind::MaxLoss { limit: l, .. }
        | RuleKind::MonthlyLoss { limit: l, .. }
        | RuleKind::PeriodLoss { limit: l, .. } => {
            say_some(
                limit_problem("the limit", l, true, initial_balance),
                &mut say,
            );
        }
        RuleKind::MaxTradeLoss { limit } => {
            if matches!(limit, Limit::Money(_) | Limit::PercentOfInitial(_)) {
                let problem = limit_problem("the loss per trade", limit, true, initial_balance);
                say_some(problem, &mut say);
            } else {
                say("the loss per trade is money or a percent of the initial balance".to_owned());
            }
        }
        RuleKind::MaxHoldingTime { minutes } => {
            if *minutes == 0 || *minutes > MAX_HOLDING_MINUTES {
                say(format!(
                    "the holding time is {minutes} minutes: allow from 1 minute to 366 days \
                     ({MAX_HOLDING_MINUTES} minutes)"
                ));
            }
        }
        RuleKind::NoWeekendPositions {
            from_day,
            from_time,
            until_day,
            until_time,
        } => {
            if (from_day, from_time) == (until_day, until_time) {
                say(
                    "the weekend starts and ends at the same moment: end it on another day or \
                     at another time (e.g. from Friday 22:00 to Sunday 22:00)"
                        .to_owned(),
                );
            }
        }
        RuleKind::ProfitTarget { target, .. } => {
            if matches!(target, Limit::PercentOfAnchor(_)) {
                say(
                    "a profit target is money or a percent of the initial balance, not of an \
                     anchor"
                        .to_owned(),
                );
            } else {
                let problem = limit_problem("the profit target", target, false, initial_balance);
                say_some(problem, &mut say);
            }
        }
        RuleKind::MinTradingDays {
            days,
            min_day_profit,
            day_profit,
        } => {
            if *days == 0 {
                say("the days required must be at least 1".to_owned());
            }
            if min_day_profit.is_none() && *day_profit != DayProfit::Closed {
                say(
                    "how a day's profit is measured matters only with a minimum day profit: set \
                     the minimum day profit, or measure on closed P/L"
                        .to_owned(),
                );
            }
            if let Some(profit) = min_day_profit {
                if matches!(profit, Limit::PercentOfAnchor(_)) {
                    say(
                        "the minimum day profit is money or a percent of the initial balance"
                            .to_owned(),
                    );
                } else {
                    let problem =
                        limit_problem("the minimum day profit", profit, false, initial_balance);
                    say_some(problem, &mut say);
                }
            }
        }
        RuleKind::MaxDuration { days } => {
            if *days == 0 || *days > 36_500 {
                say(format!(
                    "the duration is {days} days: allow from 1 to 36500 days"
                ));
            }
        }
        RuleKind::BestDay { max_share_percent } => {
            percent("the best day's share", *max_share_percent, &mut say);
        }
        RuleKind::MaxLotsPerPosition { lots } => {
            if *lots <= Decimal::ZERO || *lots > super::rules::MAX_LIMIT {
                say(format!(
                    "the largest position ({lots} lots) must be above 0"
                ));
            }
        }
        RuleKind::MaxOpenPositions { count } => {
            if *count == 0 {
                say("at least 1 open position must be allowed".to_owned());
            }
        }
        RuleKind::StopLossRequired => {}
        RuleKind::MaxRiskPerPosition { percent: p } => {
            percent("the risk per position", *p, &mut say);
        }
        RuleKind::TotalOpenRisk { percent: p } => {
            percent("the total open risk", *p, &mut say);
        }
        RuleKind::ConsecutiveLosses { max, min_lots } => {
            if *max == 0 {
                say("the longest losing streak allowed must be at least 1".to_owned());
            }
            if min_lots.is_sign_negative() && !min_lots.is_zero() {
                say(format!(
                    "the ignored trade size is negative ({min_lots}): use 0 or more"
                ));
            }
        }
        RuleKind::MarginLevel { warning, critical } => {
            if *critical <= Decimal::ZERO {
                say(format!(
                    "the critical margin level ({critical}%) must be above 0"
                ));
            }
            if warning <= critical {
                say(format!(
                    "the margin warning level ({warning}%) must be above the critical level \
                     ({critical}%)"
                ));
            }
            if *warning > super::rules::MAX_LIMIT {
                say("the margin warning level is out of range".to_owned());
            }
        }
    }
    // The engine's own check, as a backstop for anything said above in other words.
    if let Err(error) = rule.validate()
        && problems.iter().all(|p| !p.starts_with(&format!("{id}:")))
    {
        problems.push(error.to_string());
    }
}

fn say_some(problem: Option<String>, say: &mut impl FnMut(String)) {
    if let Some(problem) = problem {
        say(problem);
    }
}

/// What is wrong with a limit, if anything: not positive, out of range, or (for a loss limit,
/// `loss`) more than 100% or more money than the initial balance.
fn limit_problem(name: &str, limit: &Limit, loss: bool, initial_balance: Money) -> Option<String> {
    let value = limit_value(limit);
    if value.is_sign_negative() && !value.is_zero() {
        Some(format!(
            "{name} is negative ({value}): enter an amount above 0"
        ))
    } else if value.is_zero() {
        Some(format!("{name} must be more than 0"))
    } else if value > super::rules::MAX_LIMIT {
        Some(format!("{name} is out of range (at most 10^15)"))
    } else if loss && !matches!(limit, Limit::Money(_)) && value > Decimal::ONE_HUNDRED {
        Some(format!(
            "{name} is {value}%: a loss limit cannot exceed 100% of what it is measured on"
        ))
    } else if loss && matches!(limit, Limit::Money(_)) && value > initial_balance {
        Some(format!(
            "{name} ({value}) is more than the initial balance ({initial_balance}): that much \
             can never be lost"
        ))
    } else {
        None
    }
}

fn percent(name: &str, value: Decimal, say: &mut impl FnMut(String)) {
    if value <= Decimal::ZERO || value > Decimal::ONE_HUNDRED {
        say(format!(
            "{name} is {value}%: use a percent above 0 and at most 100"
        ));
    }
}

fn limit_value(limit: &Limit) -> Decimal {
    match limit {
        Limit::Money(v)
        | Limit::PercentOfInitial(v)
        | Limit::PercentOfAnchor(v)
        | Limit::PercentOfMonthStartBalance(v) => *v,
    }
}

/// A loss budget in money at the start of the challenge (every anchor at the initial balance).
fn amount_at_start(limit: &Limit, initial_balance: Money) -> Money {
    match limit {
        Limit::Money(v) => *v,
        Limit::PercentOfInitial(p)
        | Limit::PercentOfAnchor(p)
        | Limit::PercentOfMonthStartBalance(p) => percent_of(initial_balance, *p),
    }
}

/// Picks one kind of loss limit out of a rule.
type Select = fn(&RuleKind) -> Option<&Limit>;

fn daily_limit(kind: &RuleKind) -> Option<&Limit> {
    match kind {
        RuleKind::DailyLoss { limit, .. } => Some(limit),
        _ => None,
    }
}

fn monthly_limit(kind: &RuleKind) -> Option<&Limit> {
    match kind {
        RuleKind::MonthlyLoss { limit, .. } => Some(limit),
        _ => None,
    }
}

fn period_limit(kind: &RuleKind) -> Option<&Limit> {
    match kind {
        RuleKind::PeriodLoss { limit, .. } => Some(limit),
        _ => None,
    }
}

fn max_limit(kind: &RuleKind) -> Option<&Limit> {
    match kind {
        RuleKind::MaxLoss { limit, .. } => Some(limit),
        _ => None,
    }
}

/// Rules that contradict each other: a daily loss allowance at least as large as the maximum
/// loss (or a monthly or period one larger than it) could never be used without failing the
/// whole challenge first. A monthly allowance may equal the maximum loss: seed 004's fund policy
/// has both at 10%, hung from different anchors (the start-of-month balance, the peak balance).
fn contradictions(rules: &[RuleDef], initial_balance: Money, problems: &mut Vec<String>) {
    let amounts = |select: Select| -> Vec<(String, Money)> {
        rules
            .iter()
            .filter_map(|r| {
                select(&r.kind).map(|l| (r.id.clone(), amount_at_start(l, initial_balance)))
            })
            .filter(|(_, amount)| *amount > Decimal::ZERO)
            .collect()
    };
    let maxima = amounts(max_limit);
    let smaller: [(&str, Select); 3] = [
        ("daily", daily_limit),
        ("monthly", monthly_limit),
        ("period", period_limit),
    ];
    for (what, select) in smaller {
        for (id, amount) in amounts(select) {
            for (max_id, max_amount) in &maxima {
                if amount > *max_amount || (what == "daily" && amount == *max_amount) {
                    let compared = if what == "daily" {
                        "is not smaller than"
                    } else {
                        "is larger than"
                    };
                    problems.push(format!(
                        "{id}: the {what} loss limit ({}) {compared} the maximum loss limit of \
                         {max_id} ({}) at the initial balance of {}: lower the {what} limit or \
                         raise the maximum one",
                        amount.normalize(),
                        max_amount.normalize(),
                        initial_balance.normalize()
                    ));
                }
            }
        }
    }
}

/// One parameter that differs between two rule sets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleChange {
    /// Which parameter: `reset clock`, `daily_loss`, `daily_loss.limit`, ...
    pub parameter: String,
    /// Its value before (`None`: the rule is new).
    pub old: Option<String>,
    /// Its value after (`None`: the rule is removed).
    pub new: Option<String>,
}

impl RuleChange {
    /// The change in words, e.g. `daily_loss.limit: 5% of the initial balance → 4% of the
    /// initial balance`.
    pub fn words(&self) -> String {
        match (&self.old, &self.new) {
            (None, Some(new)) => format!("{} added: {new}", self.parameter),
            (Some(old), None) => format!("{} removed (was {old})", self.parameter),
            (Some(old), Some(new)) => format!("{}: {old} → {new}", self.parameter),
            (None, None) => self.parameter.clone(),
        }
    }
}

/// What changes from `old` to `new`, parameter by parameter, in the new set's order (removed
/// rules last).
pub fn diff(old: &RuleSet, new: &RuleSet) -> Vec<RuleChange> {
    let mut changes = Vec::new();
    let mut change = |parameter: String, old: Option<String>, new: Option<String>| {
        if old != new {
            changes.push(RuleChange {
                parameter,
                old,
                new,
            });
        }
    };
    change(
        "reset clock".to_owned(),
        Some(clock_words(&old.clock)),
        Some(clock_words(&new.clock)),
    );
    change(
        "estimated equity breaches".to_owned(),
        Some(yes_no(old.estimated_equity_breaches)),
        Some(yes_no(new.estimated_equity_breaches)),
    );
    change(
        "interest, dividend and tax deals".to_owned(),
        Some(counting_words(old.interest_dividend_tax)),
        Some(counting_words(new.interest_dividend_tax)),
    );
    for rule in &new.rules {
        match old.rules.iter().find(|r| r.id == rule.id) {
            None => change(rule.id.clone(), None, Some(rule_words(rule))),
            Some(before) if before == rule => {}
            Some(before) => {
                let (a, b) = (parameters(before), parameters(rule));
                for (name, value) in &b {
                    let was = a.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
                    change(format!("{}.{name}", rule.id), was, Some(value.clone()));
                }
                for (name, value) in &a {
                    if !b.iter().any(|(n, _)| n == name) {
                        change(format!("{}.{name}", rule.id), Some(value.clone()), None);
                    }
                }
            }
        }
    }
    for rule in &old.rules {
        if !new.rules.iter().any(|r| r.id == rule.id) {
            change(rule.id.clone(), Some(rule_words(rule)), None);
        }
    }
    changes
}

fn counting_words(counting: PlCounting) -> String {
    match counting {
        PlCounting::TradingPl => "trading P/L",
        PlCounting::BalanceOperation => "balance operations (not P/L)",
    }
    .to_owned()
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

fn clock_words(clock: &ResetClock) -> String {
    format!(
        "{} {}",
        clock.time_zone.name(),
        clock.local_time.format("%H:%M")
    )
}

fn rule_words(rule: &RuleDef) -> String {
    // The first three are the kind, the severity and the warnings; options left at their
    // default (equity, no breach at the floor, closed P/L) go unsaid.
    let defaults = [
        ("measure", "equity"),
        ("breach_at_floor", "no"),
        ("day_profit", "closed"),
    ];
    let params = parameters(rule)
        .into_iter()
        .skip(3)
        .filter(|(name, value)| !defaults.contains(&(name.as_str(), value.as_str())))
        .map(|(name, value)| format!("{name} {value}"))
        .collect::<Vec<_>>()
        .join(", ");
    if params.is_empty() {
        rule.kind.name().to_owned()
    } else {
        format!("{} ({params})", rule.kind.name())
    }
}

/// A rule's parameters as (name, value in words): its kind, severity, warnings and every
/// parameter of its kind.
fn parameters(rule: &RuleDef) -> Vec<(String, String)> {
    let mut out = vec![
        ("kind".to_owned(), rule.kind.name().to_owned()),
        (
            "severity".to_owned(),
            format!("{:?}", rule.severity).to_lowercase(),
        ),
        (
            "warnings".to_owned(),
            if rule.warnings.is_empty() {
                "none".to_owned()
            } else {
                rule.warnings
                    .iter()
                    .map(|f| format!("{}%", (*f * Decimal::ONE_HUNDRED).normalize()))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
    ];
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(rule.kind) {
        for (name, value) in fields {
            if name != "type" {
                out.push((name, value_words(&value)));
            }
        }
    }
    out
}

fn value_words(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "none".to_owned(),
        Value::String(text) => decimal_words(text).unwrap_or_else(|| text.replace('_', " ")),
        Value::Number(n) => decimal_words(&n.to_string()).unwrap_or_else(|| n.to_string()),
        Value::Bool(b) => yes_no(*b),
        Value::Object(fields) => match (fields.get("type"), fields.get("value")) {
            (Some(Value::String(kind)), Some(v)) => {
                let v = value_words(v);
                match kind.as_str() {
                    "money" => v,
                    "percent_of_initial" => format!("{v}% of the initial balance"),
                    "percent_of_anchor" => format!("{v}% of its anchor"),
                    "percent_of_month_start_balance" => {
                        format!("{v}% of the start-of-month balance")
                    }
                    other => format!("{v} ({other})"),
                }
            }
            _ => value.to_string(),
        },
        Value::Array(_) => value.to_string(),
    }
}

fn decimal_words(text: &str) -> Option<String> {
    text.parse::<Decimal>()
        .ok()
        .map(|d| d.normalize().to_string())
}

// Rule changes by an admin, measured from the next record on.
impl Challenge {
    /// Whether estimated equity may breach a loss rule (see
    /// [`ChallengeConfig::estimated_equity_breaches`]).
    pub fn estimated_equity_breaches(&self) -> bool {
        self.estimated_equity_breaches
    }

    /// How interest, dividend and tax deals count (see
    /// [`ChallengeConfig::interest_dividend_tax`]).
    pub fn interest_dividend_tax(&self) -> PlCounting {
        self.interest_dividend_tax
    }

    /// Measures the challenge against `set` from now on: a rule whose id and kind stay keeps
    /// its running numbers (status, streak, warnings raised) with its floor and warning levels
    /// recomputed from the anchors as they stand; a new rule starts pending; a removed rule is
    /// dropped (its events stay). Nothing already recorded changes: a breach stays a breach and
    /// a final status stays final; the next record is measured against the new limits. A new
    /// reset clock moves the next daily reset (the current day keeps its label).
    pub fn change_rules(&mut self, set: &RuleSet) -> Result<(), EngineError> {
        for (i, rule) in set.rules.iter().enumerate() {
            rule.validate()?;
            if set.rules[..i].iter().any(|r| r.id == rule.id) {
                return Err(EngineError::DuplicateRule {
                    id: rule.id.clone(),
                });
            }
        }
        let next_reset = match self.last_time {
            Some(last) if set.clock != self.clock => Some(
                set.clock
                    .next_reset(last)
                    .ok_or(EngineError::TimeOutOfRange(last))?,
            ),
            _ => self.next_reset,
        };
        let mut old = std::mem::take(&mut self.rules);
        let mut rules = Vec::with_capacity(set.rules.len());
        for def in &set.rules {
            let kept = old
                .iter()
                .position(|r| r.def.id == def.id && r.def.kind.name() == def.kind.name());
            let rule = match kept {
                Some(index) => {
                    let mut rule = old.swap_remove(index);
                    let changed = rule.def != *def;
                    rule.def = def.clone();
                    rule.check = Check::of(&def.kind);
                    rule.levels.resize(def.warnings.len(), Decimal::ZERO);
                    let floor = rule.floor;
                    refloor(&mut rule, &self.anchors, false);
                    if changed && rule.status != RuleStatus::Breached {
                        if rule.def.kind.is_objective() {
                            // Measured again on the next record; met again, it says so again.
                            if rule.status == RuleStatus::Passed && !self.status.is_final() {
                                rule.status = RuleStatus::Pending;
                                rule.warned = 0;
                            }
                        } else if rule.floor != floor || rule.warned > 0 {
                            rule.warned = 0;
                        }
                    }
                    rule
                }
                None => RuleState::new(def.clone(), &self.anchors),
            };
            rules.push(rule);
        }
        let clock_changed = set.clock != self.clock;
        self.rules = rules;
        self.clock = set.clock;
        self.next_reset = next_reset;
        self.estimated_equity_breaches = set.estimated_equity_breaches;
        self.interest_dividend_tax = set.interest_dividend_tax;
        self.rules_changed(clock_changed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::{DailyAnchor, MaxLossMode, Measure, ProfitBasis};
    use crate::engine::{ChallengeStatus, Record, RecordData, RuleStatus};
    use rust_decimal_macros::dec;

    fn ftmo() -> RuleSetDraft {
        let config = crate::engine::preset("ftmo-2step", dec!(100000)).expect("preset");
        RuleSet {
            clock: config.clock,
            rules: config.rules,
            estimated_equity_breaches: false,
            interest_dividend_tax: PlCounting::TradingPl,
        }
        .draft()
    }

    fn set_daily(draft: &mut RuleSetDraft, limit: Limit) {
        for rule in &mut draft.rules {
            if let RuleKind::DailyLoss { limit: l, .. } = &mut rule.kind {
                *l = limit;
            }
        }
    }

    #[track_caller]
    fn refused(draft: &RuleSetDraft, reason: &str) {
        let error = validate(draft, dec!(100000)).expect_err("refused");
        assert!(
            error.problems.iter().any(|p| p.contains(reason)),
            "{error} lacks {reason:?}"
        );
    }

    #[test]
    fn a_preset_draft_is_valid_and_round_trips() {
        let draft = ftmo();
        assert_eq!(draft.time_zone, "Europe/Prague");
        assert_eq!(draft.reset_time, "00:00");
        let set = validate(&draft, dec!(100000)).expect("valid");
        assert_eq!(set.draft(), draft);
        let json = serde_json::to_string(&draft).expect("json");
        let back: RuleSetDraft = serde_json::from_str(&json).expect("back");
        assert_eq!(back, draft);
    }

    #[test]
    fn impossible_values_are_refused_with_the_reason() {
        let mut draft = ftmo();
        set_daily(&mut draft, Limit::PercentOfInitial(dec!(-5)));
        refused(&draft, "daily_loss: the limit is negative");
        set_daily(&mut draft, Limit::PercentOfInitial(dec!(0)));
        refused(&draft, "must be more than 0");
        set_daily(&mut draft, Limit::PercentOfAnchor(dec!(150)));
        refused(&draft, "cannot exceed 100%");
        let mut draft = ftmo();
        draft.time_zone = "Mars/Olympus".into();
        refused(&draft, "unknown time zone");
        let mut draft = ftmo();
        draft.reset_time = "24:00".into();
        refused(&draft, "reset time \"24:00\" is out of range");
        draft.reset_time = "noon".into();
        refused(&draft, "out of range");
        let mut draft = ftmo();
        for rule in &mut draft.rules {
            if let RuleKind::ProfitTarget { target, .. } = &mut rule.kind {
                *target = Limit::Money(dec!(0));
            }
        }
        refused(
            &draft,
            "profit_target: the profit target must be more than 0",
        );
        let mut draft = ftmo();
        draft.rules[0].warnings = vec![dec!(0.9), dec!(0.5)];
        refused(&draft, "ascending");
        let mut draft = ftmo();
        draft.rules.push(draft.rules[0].clone());
        refused(&draft, "used twice");
        let mut draft = ftmo();
        draft.rules.clear();
        refused(&draft, "at least one rule");
        let mut draft = ftmo();
        draft.rules.push(RuleDef::new(
            "margin",
            RuleKind::MarginLevel {
                warning: dec!(50),
                critical: dec!(100),
            },
        ));
        refused(&draft, "must be above the critical level");
    }

    #[test]
    fn a_daily_loss_as_large_as_the_maximum_loss_is_a_contradiction() {
        let mut draft = ftmo();
        set_daily(&mut draft, Limit::PercentOfInitial(dec!(10)));
        refused(&draft, "daily loss limit (10000) is not smaller than");
        set_daily(&mut draft, Limit::Money(dec!(12000)));
        refused(
            &draft,
            "not smaller than the maximum loss limit of max_loss (10000)",
        );
        set_daily(&mut draft, Limit::Money(dec!(9999)));
        assert!(validate(&draft, dec!(100000)).is_ok());
    }

    #[test]
    fn every_preset_passes_the_editor_as_it_is() {
        // Seed 004's fund policy has a monthly allowance equal to its maximum loss (10% each,
        // from different anchors): an admin saving it unchanged is not refused.
        for (name, _) in crate::engine::PRESETS {
            let config = crate::engine::preset(name, dec!(100000)).expect("preset");
            let draft = RuleSet {
                clock: config.clock,
                rules: config.rules,
                estimated_equity_breaches: false,
                interest_dividend_tax: PlCounting::TradingPl,
            }
            .draft();
            validate(&draft, dec!(100000)).unwrap_or_else(|error| panic!("{name}: {error}"));
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut draft = ftmo();
        draft.time_zone = "Nowhere".into();
        set_daily(&mut draft, Limit::Money(dec!(-1)));
        let error = validate(&draft, dec!(100000)).expect_err("refused");
        assert_eq!(error.problems.len(), 2, "{error}");
    }

    #[test]
    fn the_diff_names_each_changed_parameter_in_words() {
        let old = validate(&ftmo(), dec!(100000)).expect("valid");
        let mut draft = ftmo();
        set_daily(&mut draft, Limit::PercentOfInitial(dec!(4)));
        draft.reset_time = "17:00".into();
        draft.time_zone = "America/New_York".into();
        draft.rules.retain(|r| r.id != "min_trading_days");
        draft.rules.push(RuleDef::new(
            "max_open",
            RuleKind::MaxOpenPositions { count: 3 },
        ));
        let new = validate(&draft, dec!(100000)).expect("valid");
        let words: Vec<String> = diff(&old, &new).iter().map(RuleChange::words).collect();
        assert_eq!(
            words,
            vec![
                "reset clock: Europe/Prague 00:00 → America/New_York 17:00",
                "daily_loss.limit: 5% of the initial balance → 4% of the initial balance",
                "max_open added: max_open_positions (count 3)",
                "min_trading_days removed (was min_trading_days (days 4, min_day_profit none))",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>(),
            "{words:#?}"
        );
        assert!(diff(&old, &old).is_empty());
    }

    fn info(equity: Decimal) -> RecordData {
        RecordData::AccountInformation(crate::domain::AccountInfo {
            balance: dec!(100000),
            equity,
            margin: Decimal::ZERO,
            free_margin: equity,
            margin_level: None,
            currency: "USD".into(),
            leverage: Some(100),
            credit: Decimal::ZERO,
        })
    }

    #[test]
    fn new_limits_apply_from_the_change_on_and_a_breach_stays_final() {
        let mut challenge = Challenge::from_preset("ftmo-2step", dec!(100000)).expect("preset");
        let mut events = Vec::new();
        let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().expect("time");
        challenge
            .apply(
                &Record::new(t("2026-01-12T10:00:00Z"), info(dec!(96500))),
                &mut events,
            )
            .expect("apply");
        assert_eq!(challenge.status(), ChallengeStatus::Active);
        assert_eq!(challenge.rule_floor("daily_loss"), Some(dec!(95000)));
        let mut draft = RuleSet::of(&challenge).draft();
        set_daily(&mut draft, Limit::PercentOfInitial(dec!(3)));
        let set = validate(&draft, dec!(100000)).expect("valid");
        challenge.change_rules(&set).expect("change");
        // The floor moves at once; nothing is decided until the next record.
        assert_eq!(challenge.rule_floor("daily_loss"), Some(dec!(97000)));
        assert_eq!(challenge.status(), ChallengeStatus::Active);
        events.clear();
        challenge
            .apply(
                &Record::new(t("2026-01-12T10:01:00Z"), info(dec!(96500))),
                &mut events,
            )
            .expect("apply");
        assert_eq!(challenge.status(), ChallengeStatus::Failed);
        assert_eq!(
            challenge.rule_status("daily_loss"),
            Some(RuleStatus::Breached)
        );
        // Loosening the rule afterwards does not undo the breach.
        let mut draft = RuleSet::of(&challenge).draft();
        set_daily(&mut draft, Limit::PercentOfInitial(dec!(5)));
        challenge
            .change_rules(&validate(&draft, dec!(100000)).expect("valid"))
            .expect("change");
        assert_eq!(challenge.status(), ChallengeStatus::Failed);
        assert_eq!(
            challenge.rule_status("daily_loss"),
            Some(RuleStatus::Breached)
        );
        assert_eq!(challenge.rule_floor("daily_loss"), Some(dec!(95000)));
    }

    #[test]
    fn a_new_clock_moves_the_next_reset_and_a_new_rule_starts_fresh() {
        let mut challenge = Challenge::from_preset("ftmo-2step", dec!(100000)).expect("preset");
        let mut events = Vec::new();
        let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().expect("time");
        challenge
            .apply(
                &Record::new(t("2026-01-12T10:00:00Z"), info(dec!(100000))),
                &mut events,
            )
            .expect("apply");
        assert_eq!(challenge.next_reset(), Some(t("2026-01-12T23:00:00Z")));
        let mut draft = RuleSet::of(&challenge).draft();
        draft.time_zone = "UTC".into();
        draft.reset_time = "12:00".into();
        draft.rules.push(RuleDef::new(
            "trailing",
            RuleKind::MaxLoss {
                mode: MaxLossMode::TrailingPeakEquity,
                limit: Limit::Money(dec!(12000)),
                lock_above_initial: None,
                measure: Measure::Equity,
                breach_at_floor: false,
            },
        ));
        draft.rules.push(RuleDef::new(
            "equity_target",
            RuleKind::ProfitTarget {
                target: Limit::Money(dec!(1000)),
                basis: ProfitBasis::Equity,
            },
        ));
        draft.rules.push(RuleDef::new(
            "sod_equity",
            RuleKind::DailyLoss {
                anchor: DailyAnchor::StartOfDayEquity,
                limit: Limit::Money(dec!(2000)),
                measure: Measure::Equity,
                breach_at_floor: false,
            },
        ));
        challenge
            .change_rules(&validate(&draft, dec!(100000)).expect("valid"))
            .expect("change");
        assert_eq!(challenge.next_reset(), Some(t("2026-01-12T12:00:00Z")));
        assert_eq!(challenge.rule_floor("trailing"), Some(dec!(88000)));
        assert_eq!(challenge.rule_status("trailing"), Some(RuleStatus::Pending));
        assert_eq!(challenge.rules().count(), 7);
    }
}
