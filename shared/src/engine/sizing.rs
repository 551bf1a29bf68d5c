//! The lot-size calculator: for a symbol and a stop-loss distance, the largest volume whose loss
//! at the stop stays within the room the challenge has left and within the per-trade cap.
//!
//! One function, [`max_lots`], used by the browser (WASM) to answer the trader and by tests to
//! check that answer. Its inputs come from the engine ([`Challenge::sizing`]): the room left
//! above the tightest loss floor after the open positions' risk to stop loss, the per-trade cap
//! of the challenge's risk rules, and each known symbol's tick size, loss tick value and volume
//! limits. Total: bad input gives a [`SizingError`], never a panic.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::rules::RuleKind;
use super::state::position_risk;
use super::state::{Challenge, percent_of};
use super::stats::ratio;
use crate::domain::{Lots, Money, Price, Side};
use chrono::{DateTime, Utc};

/// What the engine knows of a symbol for sizing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolSizing {
    /// Instrument.
    pub symbol: String,
    /// Smallest price change.
    pub tick_size: Price,
    /// Value of one tick of loss for one lot, in account currency.
    pub loss_tick_value: Money,
    /// Volume granularity in lots, when the broker said.
    pub volume_step: Option<Lots>,
    /// Smallest volume in lots, when the broker said.
    pub min_volume: Option<Lots>,
    /// Largest volume in lots, when the broker said.
    pub max_volume: Option<Lots>,
}

/// Everything the calculator needs from the challenge, as it stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizingContext {
    /// Room left above the tightest loss floor (daily, monthly or overall), minus the open
    /// positions' risk to stop loss; never negative. `None` without a loss rule.
    pub room: Option<Money>,
    /// The largest loss one trade may risk (the `max_risk_per_position` and `max_trade_loss`
    /// rules, and what the `total_open_risk` rule has left); `None` without such a rule.
    pub per_trade_cap: Option<Money>,
    /// Open positions without a stop loss: their risk is unbounded, so the room is not known
    /// to be free.
    pub unbounded_positions: u32,
    /// Symbols with a known tick size and loss tick value.
    pub symbols: Vec<SymbolSizing>,
}

/// Which limit decided the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SizingBound {
    /// The room left above the loss floors.
    Room,
    /// The per-trade cap.
    PerTradeCap,
    /// The symbol's largest volume.
    MaxVolume,
}

/// The calculator's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizing {
    /// The largest volume, rounded down to the volume step; zero when even the smallest
    /// volume would risk too much.
    pub lots: Lots,
    /// Loss at the stop for one lot.
    pub risk_per_lot: Money,
    /// Loss at the stop for `lots`.
    pub risk: Money,
    /// The budget the trade had: the smaller of the room and the per-trade cap.
    pub budget: Money,
    /// Which limit decided.
    pub bound: SizingBound,
}

/// Why the calculator cannot answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizingError {
    /// The stop-loss distance is zero or negative.
    #[error("the stop-loss distance must be more than zero")]
    NonPositiveDistance,
    /// The symbol's tick size is zero or negative, or its tick value negative.
    #[error("the symbol's tick size or tick value is not usable")]
    BadSymbol,
    /// Neither a loss rule nor a per-trade cap limits the trade.
    #[error("no rule limits the risk of a trade on this challenge")]
    Unlimited,
    /// The numbers are too large to compute with.
    #[error("the numbers are out of range")]
    OutOfRange,
}

/// The largest volume whose loss at `distance` (in price, from entry to stop) stays within
/// `room` and `per_trade_cap` (whichever is smaller; at least one must be given), rounded
/// down to the symbol's volume step (0.01 lots when unknown) and at most its largest volume.
/// When even the smallest volume risks more, the answer is zero lots.
pub fn max_lots(
    symbol: &SymbolSizing,
    distance: Price,
    room: Option<Money>,
    per_trade_cap: Option<Money>,
) -> Result<Sizing, SizingError> {
    if distance <= Decimal::ZERO {
        return Err(SizingError::NonPositiveDistance);
    }
    if symbol.tick_size <= Decimal::ZERO || symbol.loss_tick_value < Decimal::ZERO {
        return Err(SizingError::BadSymbol);
    }
    let (budget, mut bound) = match (room, per_trade_cap) {
        (Some(room), Some(cap)) if cap < room => (cap, SizingBound::PerTradeCap),
        (Some(room), _) => (room, SizingBound::Room),
        (None, Some(cap)) => (cap, SizingBound::PerTradeCap),
        (None, None) => return Err(SizingError::Unlimited),
    };
    let budget = budget.max(Decimal::ZERO);
    let risk_per_lot = distance
        .checked_div(symbol.tick_size)
        .and_then(|ticks| ticks.checked_mul(symbol.loss_tick_value))
        .ok_or(SizingError::OutOfRange)?;
    let step = symbol
        .volume_step
        .filter(|s| *s > Decimal::ZERO)
        .unwrap_or(Decimal::new(1, 2));
    let mut lots = if risk_per_lot.is_zero() {
        symbol.max_volume.ok_or(SizingError::Unlimited)?
    } else {
        let raw = budget
            .checked_div(risk_per_lot)
            .ok_or(SizingError::OutOfRange)?;
        raw.checked_div(step)
            .map(|steps| steps.floor())
            .and_then(|steps| steps.checked_mul(step))
            .ok_or(SizingError::OutOfRange)?
    };
    if let Some(max) = symbol.max_volume.filter(|m| *m > Decimal::ZERO)
        && lots > max
    {
        lots = max;
        bound = SizingBound::MaxVolume;
    }
    if let Some(min) = symbol.min_volume
        && lots < min
    {
        lots = Decimal::ZERO;
    }
    let risk = lots
        .checked_mul(risk_per_lot)
        .ok_or(SizingError::OutOfRange)?;
    Ok(Sizing {
        lots: lots.normalize(),
        risk_per_lot,
        risk,
        budget,
        bound,
    })
}

impl Challenge {
    /// What the lot-size calculator needs, as the challenge stands.
    pub fn sizing(&self) -> SizingContext {
        let room = self
            .loss_room()
            .map(|room| room.saturating_sub(self.risk.total).max(Decimal::ZERO));
        let mut cap: Option<Money> = None;
        let mut tighten = |value: Money| {
            let value = value.max(Decimal::ZERO);
            cap = Some(cap.map_or(value, |c| c.min(value)));
        };
        for rule in &self.rules {
            match rule.def.kind {
                RuleKind::MaxRiskPerPosition { percent } => {
                    tighten(percent_of(self.balance, percent));
                }
                RuleKind::TotalOpenRisk { percent } => {
                    if let Some(room) = self.loss_room() {
                        let limit = percent_of(room.max(Decimal::ZERO), percent);
                        tighten(limit.saturating_sub(self.risk.total));
                    }
                }
                // A trade stopped out for more than this breaches the per-trade loss rule.
                RuleKind::MaxTradeLoss { .. } => tighten(rule.limit),
                _ => {}
            }
        }
        let symbols = self
            .symbols
            .iter()
            .filter_map(|s| {
                Some(SymbolSizing {
                    symbol: s.symbol.clone(),
                    tick_size: s.tick_size?,
                    loss_tick_value: s.loss_tick_value?,
                    volume_step: s.volume_step,
                    min_volume: s.min_volume,
                    max_volume: s.max_volume,
                })
            })
            .collect();
        SizingContext {
            room,
            per_trade_cap: cap,
            unbounded_positions: self.risk.unbounded,
            symbols,
        }
    }
}

/// One open position as the risk panel shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionRisk {
    /// The broker's position id.
    pub id: String,
    /// Instrument.
    pub symbol: String,
    /// Long or short.
    pub side: Side,
    /// Size in lots.
    pub volume: Lots,
    /// Entry price.
    pub open_price: Price,
    /// Stop loss, when set.
    pub stop_loss: Option<Price>,
    /// Floating P/L including swap and commission.
    pub profit: Money,
    /// When it was opened.
    pub open_time: DateTime<Utc>,
    /// Money lost if the stop loss is hit; `None` without a stop loss (unbounded) or without
    /// the symbol's tick values.
    pub risk: Option<Money>,
    /// `risk` as a share (0 to 1, or more) of the room left above the daily loss floor.
    pub share_of_daily_room: Option<Decimal>,
}

impl Challenge {
    /// The open positions with their risk to stop loss and its share of today's room.
    pub fn position_risks(&self) -> Vec<PositionRisk> {
        let daily_room = self
            .rules
            .iter()
            .filter(|r| matches!(r.def.kind, RuleKind::DailyLoss { .. }))
            .map(|r| self.equity.saturating_sub(r.floor).max(Decimal::ZERO))
            .min();
        self.positions
            .iter()
            .map(|p| {
                let symbol = self.symbols.iter().find(|s| s.symbol == p.symbol);
                let risk = p.stop_loss.and_then(|stop| {
                    let s = symbol?;
                    position_risk(
                        p.side,
                        p.open_price,
                        stop,
                        p.volume,
                        s.tick_size?,
                        s.loss_tick_value?,
                    )
                });
                PositionRisk {
                    id: p.id.clone(),
                    symbol: p.symbol.clone(),
                    side: p.side,
                    volume: p.volume,
                    open_price: p.open_price,
                    stop_loss: p.stop_loss,
                    profit: p.net_profit(),
                    open_time: p.open_time,
                    risk,
                    share_of_daily_room: risk
                        .zip(daily_room)
                        .and_then(|(risk, room)| ratio(risk, room))
                        .map(|share| share.round_dp(4)),
                }
            })
            .collect()
    }

    /// Which day of the challenge it is: 1 on the trading day it started; `None` before the
    /// first record.
    pub fn day_number(&self) -> Option<u32> {
        let first = self.clock.trading_day(self.started?)?;
        let today = self.day?;
        u32::try_from((today - first).num_days().saturating_add(1)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn eurusd() -> SymbolSizing {
        SymbolSizing {
            symbol: "EURUSD".into(),
            tick_size: dec!(0.00001),
            loss_tick_value: dec!(1),
            volume_step: Some(dec!(0.01)),
            min_volume: Some(dec!(0.01)),
            max_volume: Some(dec!(100)),
        }
    }

    #[track_caller]
    fn check(
        distance: Decimal,
        room: Option<Decimal>,
        cap: Option<Decimal>,
        expected: Result<(Decimal, SizingBound), SizingError>,
    ) {
        let got = max_lots(&eurusd(), distance, room, cap).map(|s| (s.lots, s.bound));
        assert_eq!(got, expected);
    }

    #[test]
    fn the_largest_lot_size_stays_within_the_room_and_the_cap() {
        // 20 pips = 200 ticks x 1 = 200 per lot.
        check(
            dec!(0.002),
            Some(dec!(1000)),
            None,
            Ok((dec!(5), SizingBound::Room)),
        );
        check(
            dec!(0.002),
            Some(dec!(1099)),
            None,
            Ok((dec!(5.49), SizingBound::Room)),
        );
        check(
            dec!(0.002),
            Some(dec!(1000)),
            Some(dec!(500)),
            Ok((dec!(2.5), SizingBound::PerTradeCap)),
        );
        check(
            dec!(0.002),
            None,
            Some(dec!(500)),
            Ok((dec!(2.5), SizingBound::PerTradeCap)),
        );
        check(
            dec!(0.00001),
            Some(dec!(1000000)),
            None,
            Ok((dec!(100), SizingBound::MaxVolume)),
        );
        check(
            dec!(0.002),
            Some(dec!(1)),
            None,
            Ok((dec!(0), SizingBound::Room)),
        );
        check(
            dec!(0.002),
            Some(dec!(-5)),
            None,
            Ok((dec!(0), SizingBound::Room)),
        );
        check(
            dec!(0),
            Some(dec!(1000)),
            None,
            Err(SizingError::NonPositiveDistance),
        );
        check(dec!(0.002), None, None, Err(SizingError::Unlimited));
    }

    #[test]
    fn the_risk_of_the_answer_never_exceeds_the_budget() {
        for room in [
            dec!(0),
            dec!(1),
            dec!(333.33),
            dec!(4999.99),
            dec!(123456.78),
        ] {
            for distance in [dec!(0.00001), dec!(0.0017), dec!(0.05), dec!(1.5)] {
                let answer = max_lots(&eurusd(), distance, Some(room), None).expect("answer");
                assert!(answer.risk <= room, "{answer:?} over {room}");
                let one_more = (answer.lots + dec!(0.01)) * answer.risk_per_lot;
                assert!(
                    answer.bound == SizingBound::MaxVolume || one_more > room,
                    "{answer:?}: one more step would still fit {room}"
                );
            }
        }
    }

    fn challenge_with_positions() -> Challenge {
        use crate::domain::{AccountInfo, Position, SymbolPrice, SymbolSpec};
        use crate::engine::{Record, RecordData};
        let mut challenge = Challenge::from_preset("ftmo-2step", dec!(100000)).expect("preset");
        let time: DateTime<Utc> = "2026-01-12T10:00:00Z".parse().expect("time");
        let info = AccountInfo {
            balance: dec!(100000),
            equity: dec!(99000),
            margin: Decimal::ZERO,
            free_margin: dec!(99000),
            margin_level: None,
            currency: "USD".into(),
            leverage: Some(100),
            credit: Decimal::ZERO,
        };
        let position = |id: &str, stop: Option<Decimal>| Position {
            id: id.into(),
            symbol: "EURUSD".into(),
            side: Side::Buy,
            volume: dec!(2),
            open_price: dec!(1.10000),
            current_price: dec!(1.09500),
            stop_loss: stop,
            take_profit: None,
            profit: dec!(-500),
            swap: Decimal::ZERO,
            commission: Decimal::ZERO,
            open_time: time,
        };
        let records = [
            RecordData::AccountInformation(info),
            RecordData::Specification(SymbolSpec {
                symbol: "EURUSD".into(),
                tick_size: dec!(0.00001),
                contract_size: dec!(100000),
                digits: 5,
                min_volume: dec!(0.01),
                max_volume: dec!(50),
                volume_step: dec!(0.01),
            }),
            RecordData::Price(SymbolPrice {
                symbol: "EURUSD".into(),
                bid: dec!(1.09500),
                ask: dec!(1.09502),
                profit_tick_value: dec!(1),
                loss_tick_value: dec!(1),
                time,
            }),
            RecordData::Positions(vec![
                position("1", Some(dec!(1.09000))),
                position("2", None),
            ]),
        ];
        let mut events = Vec::new();
        for data in records {
            challenge
                .apply(&Record::new(time, data), &mut events)
                .expect("record");
        }
        challenge
    }

    #[test]
    fn the_risk_panel_and_the_calculator_read_the_engine_state() {
        let challenge = challenge_with_positions();
        let positions = challenge.position_risks();
        assert_eq!(positions.len(), 2);
        // 1,000 ticks x 1 x 2 lots; today's room is 99,000 - 95,000.
        assert_eq!(positions[0].risk, Some(dec!(2000)));
        assert_eq!(positions[0].share_of_daily_room, Some(dec!(0.5)));
        assert_eq!(positions[1].risk, None);
        assert_eq!(positions[1].stop_loss, None);

        let sizing = challenge.sizing();
        // The room above the daily floor less the open risk to stop loss.
        assert_eq!(sizing.room, Some(dec!(2000)));
        assert_eq!(sizing.per_trade_cap, None);
        assert_eq!(sizing.unbounded_positions, 1);
        assert_eq!(sizing.symbols.len(), 1);
        assert_eq!(sizing.symbols[0].max_volume, Some(dec!(50)));
        let answer = max_lots(
            &sizing.symbols[0],
            dec!(0.0030),
            sizing.room,
            sizing.per_trade_cap,
        )
        .expect("an answer");
        assert_eq!(answer.lots, dec!(6.66));
        assert_eq!(challenge.day_number(), Some(1));
    }

    #[test]
    fn a_bad_symbol_is_refused() {
        let mut symbol = eurusd();
        symbol.tick_size = dec!(0);
        assert_eq!(
            max_lots(&symbol, dec!(0.1), Some(dec!(10)), None),
            Err(SizingError::BadSymbol)
        );
    }
}
