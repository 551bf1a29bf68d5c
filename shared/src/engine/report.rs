//! The replay report: status, rules, events and metrics as one serde type.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::metrics::Metrics;
use super::rules::{Measure, RuleKind, RuleStatus, Severity, Unit};
use super::state::{Challenge, ChallengeStatus, percent_of};
use super::stats::ratio;
use super::{Event, EventKind};

/// One rule in a [`Report`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleReport {
    /// The rule's id.
    pub id: String,
    /// The rule's kind (`daily_loss`, `max_loss`, ...).
    pub kind: String,
    /// Hard or soft.
    pub severity: Severity,
    /// Pending, ok, warning, breached or passed.
    pub status: RuleStatus,
    /// Room left before a breach (or still to go for an objective), in `unit`; never negative.
    pub remaining: Option<Decimal>,
    /// The unit of `remaining`, `measured` and `limit`.
    pub unit: Unit,
    /// The last measured value (equity for loss rules).
    pub measured: Option<Decimal>,
    /// What it is measured against (the equity floor for loss rules, the level to reach for a
    /// profit target).
    pub limit: Option<Decimal>,
    /// The whole budget in `unit`: a loss rule's allowance in money, the profit a target asks
    /// for, the days, lots or positions allowed or required.
    #[serde(default)]
    pub budget: Option<Decimal>,
    /// `remaining` as a percent of the initial balance, for rules measured in money.
    #[serde(default)]
    pub remaining_percent: Option<Decimal>,
    /// How far along the rule is, from 0 to 1: the share of a limit used up, or of an
    /// objective achieved.
    #[serde(default)]
    pub progress: Option<Decimal>,
    /// When the rule was breached (breached) or its objective met (passed).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// A breach that rests on a balance change no deal explains yet is held, not decided:
    /// when it was measured. `None` when nothing is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_since: Option<DateTime<Utc>>,
    /// For loss rules: what the floor is compared with (`measured` is that value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure: Option<Measure>,
}

/// The replay report, as the backend prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Active, passed, failed or paused.
    pub status: ChallengeStatus,
    /// Every rule, in configuration order.
    pub rules: Vec<RuleReport>,
    /// Every event, oldest first.
    pub events: Vec<Event>,
    /// Every metric.
    pub metrics: Metrics,
}

fn non_negative(value: Decimal) -> Option<Decimal> {
    Some(value.max(Decimal::ZERO))
}

impl Challenge {
    /// The report of the challenge as it stands.
    pub fn report(&self) -> Report {
        Report {
            status: self.status,
            rules: self.rule_reports(),
            events: self.events.clone(),
            metrics: self.metrics(),
        }
    }

    /// Every rule's status and remaining room.
    pub fn rule_reports(&self) -> Vec<RuleReport> {
        self.rules
            .iter()
            .map(|rule| {
                let kind = rule.def.kind;
                let measured = match kind {
                    _ if kind.is_loss_rule() => self.has_account.then(|| self.measured_for(&kind)),
                    RuleKind::MinTradingDays {
                        min_day_profit,
                        day_profit,
                        ..
                    } => Some(Decimal::from(
                        self.counted_days(min_day_profit.as_ref(), day_profit),
                    )),
                    RuleKind::MaxTradeLoss { .. } => Some(rule.measured.unwrap_or(Decimal::ZERO)),
                    RuleKind::MaxHoldingTime { .. } => {
                        Some(self.longest_holding().unwrap_or(Decimal::ZERO))
                    }
                    RuleKind::NoWeekendPositions { .. } => {
                        Some(Decimal::from(self.positions.len()))
                    }
                    _ => rule.measured,
                };
                let (remaining, limit) = match kind {
                    RuleKind::DailyLoss { .. }
                    | RuleKind::MaxLoss { .. }
                    | RuleKind::MonthlyLoss { .. }
                    | RuleKind::PeriodLoss { .. } => {
                        let remaining = if self.has_account {
                            non_negative(self.measured_for(&kind).saturating_sub(rule.floor))
                        } else {
                            Some(rule.limit)
                        };
                        (remaining, Some(rule.floor))
                    }
                    RuleKind::MaxTradeLoss { .. } => (
                        non_negative(rule.limit.saturating_sub(measured.unwrap_or(Decimal::ZERO))),
                        Some(rule.limit),
                    ),
                    RuleKind::MaxHoldingTime { minutes } => {
                        let minutes = Decimal::from(minutes);
                        (
                            non_negative(minutes.saturating_sub(measured.unwrap_or_default())),
                            Some(minutes),
                        )
                    }
                    RuleKind::NoWeekendPositions { .. } => (None, Some(Decimal::ZERO)),
                    RuleKind::ProfitTarget { .. } => (
                        non_negative(rule.floor.saturating_sub(measured.unwrap_or(self.balance))),
                        Some(rule.floor),
                    ),
                    RuleKind::MinTradingDays { days, .. } | RuleKind::MaxDuration { days } => {
                        let days = Decimal::from(days);
                        (
                            measured.and_then(|m| non_negative(days - m)).or(Some(days)),
                            Some(days),
                        )
                    }
                    RuleKind::BestDay { max_share_percent } => {
                        let best = self.best_day().unwrap_or(Decimal::ZERO).max(Decimal::ZERO);
                        let needed = best
                            .checked_mul(Decimal::ONE_HUNDRED)
                            .and_then(|v| v.checked_div(max_share_percent))
                            .map(|v| v.saturating_sub(self.closed_pl_total).max(Decimal::ZERO));
                        (needed, Some(max_share_percent))
                    }
                    RuleKind::MaxLotsPerPosition { lots } => (
                        non_negative(lots - measured.unwrap_or(Decimal::ZERO)),
                        Some(lots),
                    ),
                    RuleKind::MaxOpenPositions { count } => {
                        let count = Decimal::from(count);
                        (
                            non_negative(count - Decimal::from(self.positions.len())),
                            Some(count),
                        )
                    }
                    RuleKind::StopLossRequired => (None, Some(Decimal::ZERO)),
                    RuleKind::MaxRiskPerPosition { percent } => {
                        let limit = percent_of(self.balance, percent);
                        (
                            non_negative(limit.saturating_sub(self.risk.largest)),
                            Some(limit),
                        )
                    }
                    RuleKind::TotalOpenRisk { percent } => match self.loss_room() {
                        Some(room) => {
                            let limit = percent_of(room.max(Decimal::ZERO), percent);
                            (
                                non_negative(limit.saturating_sub(self.risk.total)),
                                Some(limit),
                            )
                        }
                        None => (None, None),
                    },
                    RuleKind::ConsecutiveLosses { max, .. } => {
                        let max = Decimal::from(max);
                        (non_negative(max - Decimal::from(rule.counter)), Some(max))
                    }
                    RuleKind::MarginLevel { critical, .. } => (
                        self.margin_level
                            .and_then(|l| non_negative(l.saturating_sub(critical))),
                        Some(critical),
                    ),
                };
                let budget = match kind {
                    _ if kind.is_loss_rule() => Some(rule.limit),
                    RuleKind::ProfitTarget { .. } => Some(rule.limit),
                    RuleKind::BestDay { .. } | RuleKind::MarginLevel { .. } => None,
                    RuleKind::StopLossRequired | RuleKind::NoWeekendPositions { .. } => None,
                    _ => limit,
                };
                let progress = budget
                    .filter(|b| *b > Decimal::ZERO)
                    .zip(remaining)
                    .and_then(|(b, r)| ratio(b.saturating_sub(r), b))
                    .map(|p| p.clamp(Decimal::ZERO, Decimal::ONE).round_dp(4));
                let remaining_percent = if kind.unit() == Unit::Money {
                    remaining
                        .and_then(|r| {
                            ratio(
                                r.checked_mul(Decimal::ONE_HUNDRED)?,
                                self.anchors.initial_balance,
                            )
                        })
                        .map(|p| p.round_dp(2))
                } else {
                    None
                };
                let wanted = match rule.status {
                    RuleStatus::Breached => Some(EventKind::Breach),
                    RuleStatus::Passed => Some(EventKind::ObjectiveMet),
                    _ => None,
                };
                let since = wanted.and_then(|wanted| {
                    self.events
                        .iter()
                        .find(|e| {
                            e.kind == wanted && e.rule.as_deref() == Some(rule.def.id.as_str())
                        })
                        .map(|e| e.time)
                });
                RuleReport {
                    held_since: rule.held.as_ref().map(|held| held.evidence.time),
                    measure: kind.is_loss_rule().then(|| kind.measure()),
                    budget,
                    remaining_percent,
                    progress,
                    since,
                    id: rule.def.id.clone(),
                    kind: kind.name().to_owned(),
                    severity: rule.def.severity,
                    status: rule.status,
                    remaining,
                    unit: kind.unit(),
                    measured,
                    limit,
                }
            })
            .collect()
    }
}
