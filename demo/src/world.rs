//! The demo broker's simulated market and traders: a pure, deterministic state machine.
//!
//! `World` knows four USD-quoted symbols whose prices are random walks in whole ticks, and eight
//! demo accounts. Three have a simulated trader who opens positions (always with a stop loss,
//! usually with a take profit) and closes them at the stop loss, at the take profit or at random.
//! Five follow a fixed script on their own scripted price path, so that what happens to them,
//! and when, is known exactly (see "Scripted accounts" below). It hands out its state in
//! MetaApi's wire shapes so the HTTP layer only has to serialise them.
//!
//! This module must not do IO, read the clock or use any randomness other than its own seeded
//! generators: given the same seed, start, step and script clock, the state after `k` steps is
//! always the same, however the steps were batched. The caller decides what "now" is and calls
//! [`World::advance_to`].
//!
//! Money model (the one `shared::domain` documents for `AccountInfo` and `Deal`):
//! - balance = deposits + closed P/L of every deal (`profit + commission + swap`);
//! - equity = balance + floating P/L of open positions (`profit + swap + commission`);
//! - the commission of the opening side is carried by the open position, and the closing deal
//!   books both sides, so the entry deal has commission 0 and nothing is counted twice.
//!
//! # Scripted accounts
//!
//! Scripts run on a [`ScriptClock`]: instants are counted in *units* from the script's start
//! (one minute by default, so a person running the demo sees each scripted moment a few minutes
//! after launch; tests use a shorter unit). The start is put on the world's step grid, so a
//! scripted instant that is a whole number of steps away happens exactly at that instant.
//! Before its start a scripted account holds only its initial deposit. Each scripted account's
//! symbol follows its own piecewise-linear bid path (in whole ticks, rounded towards the earlier
//! point, so a level is reached exactly at the path's point; two points at one instant make a
//! gap); every other symbol is quoted from the market. All trades commission 3.50 per lot and
//! side, the spread is the symbol's, and open positions pay swap at the broker's midnight.
//!
//! | account | preset, initial balance | script |
//! |---|---|---|
//! | `demo-daily-breach` | `ftmo-2step`, 100,000 | At 0 buys 10 lots EURUSD at 1.10008 (stop 1.09300). The bid slides from 1.10000 to 1.09700 by unit 4 (equity 96,885: daily-loss warnings), then at unit [`DAILY_BREACH_UNITS`] (5) gaps to 1.09450: equity 94,385, below the 95,000 daily floor. It stays there until unit 7, then slides to the stop, hit at unit 8: balance 92,850. |
//! | `demo-passing` | `apex-intraday-trailing`, 50,000 | At 0 buys 10 lots XAUUSD at 2650.25; the bid climbs from 2650.00 to 2654.00 by unit [`PASS_UNITS`] (4), when the position is closed for +3,680: balance 53,680, past the 3,000 target and flat, so the challenge passes (the preset has no minimum of trading days). |
//! | `demo-deposit` | `apex-intraday-trailing`, 25,000 | At 0 buys 1 lot EURUSD at 1.10008, closed at unit 3 at 1.10500 for +485; at unit [`DEPOSIT_UNITS`] (4) a deposit of 5,000 arrives (a `DEAL_TYPE_BALANCE` deal). Balance 30,485: the deposit is not profit, so the 1,500 target is not met. |
//! | `demo-overnight` | `ftmo-2step`, 100,000 | At 0 buys 5 lots EURUSD at 1.10008 (stop 1.09200); the bid falls to 1.09500 by unit 3 (floating loss 2,557.50) and stays there. The position is held across the first midnight in Europe/Prague (FTMO's daily reset) that is at least [`OVERNIGHT_LEAD_UNITS`] (5) units after the start, and closed [`OVERNIGHT_CLOSE_UNITS`] (30) units after it: the next day starts with the loss still floating. |
//! | `demo-no-stop` | `ftmo-2step`, 200,000 | At 0 buys 3 lots GBPUSD, at unit 2 sells 1 lot GBPUSD, both without stop loss or take profit, and holds them while the bid swings 1.26800, 1.26950 (unit 5), 1.26700 (unit 10), 1.26850 (unit 15). At unit [`PARTIAL_CLOSE_UNITS`] (7) it closes 1 lot of the buy (at 1.26850, +38 and 7.00 of commission): the buy stays open, partly closed, with MetaApi's cumulative `profit` holding what the closed lot realised. |
//!
//! # Frozen accounts
//!
//! [`World::set_frozen`] stops an account in time: while frozen it does not trade, its positions
//! are valued at the quotes of the moment it froze, and its quotes and last quote time stay
//! there, so it keeps answering the same balance, equity and time. The market goes on; when the
//! account thaws it carries on from the market as it is then (a scripted action that fell due
//! meanwhile happens at the first step after the thaw).

use chrono::{DateTime, Days, SecondsFormat, TimeDelta, Utc};
use rust_decimal::Decimal;
use shared::engine::ResetClock;

use wire::metaapi::{
    AccountInformation, MetaDeal, MetaPosition, MetaSymbolPrice, MetaSymbolSpecification,
    ServerTime,
};

/// The demo broker's clock runs at UTC+2, like many MetaTrader brokers in winter.
pub const BROKER_UTC_OFFSET_HOURS: i64 = 2;

/// Leverage of every demo account (1:100).
pub const LEVERAGE: u32 = 100;

/// Chance per step that a symbol's trend turns around.
const TREND_FLIP_CHANCE: f64 = 1.0 / 2_400.0;

/// How much more likely a step goes with the trend than against it, over one half.
const TREND_LEAN: f64 = 0.03;

/// Commission per lot and per side, in USD.
const COMMISSION_PER_LOT_PER_SIDE: Decimal = Decimal::from_parts(35, 0, 0, true, 1);

/// `demo-daily-breach` falls below its daily-loss floor this many script units after the start.
pub const DAILY_BREACH_UNITS: i64 = 5;
/// `demo-passing` closes its winning position, and passes, this many units after the start.
pub const PASS_UNITS: i64 = 4;
/// `demo-deposit` receives its deposit this many units after the start.
pub const DEPOSIT_UNITS: i64 = 4;
/// `demo-overnight` holds its position across the first Prague midnight at least this many
/// units after the start...
pub const OVERNIGHT_LEAD_UNITS: i64 = 5;
/// ...and closes it this many units after that midnight.
pub const OVERNIGHT_CLOSE_UNITS: i64 = 30;

/// `demo-no-stop` closes part of its buy this many units after the start.
pub const PARTIAL_CLOSE_UNITS: i64 = 7;

/// Why a lookup in the world failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorldError {
    #[error("account {0} not found")]
    UnknownAccount(String),
    #[error("position {0} not found")]
    UnknownPosition(String),
    #[error("symbol {0} not found")]
    UnknownSymbol(String),
    #[error("the end of the time range is before its start")]
    ReversedRange,
}

/// A demo account as the outside world sees it before connecting: id, display name, and the
/// challenge it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSummary {
    pub id: String,
    pub name: String,
    pub preset: String,
    pub initial_balance: Decimal,
}

/// When scripts run: instants are counted in `unit`s from `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScriptClock {
    /// The script's instant zero (moved up to the world's step grid).
    pub start: DateTime<Utc>,
    /// One script unit.
    pub unit: TimeDelta,
}

/// Formats a UTC time as the demo broker's local time, `YYYY-MM-DD HH:MM:SS.mmm`.
pub fn broker_time(t: DateTime<Utc>) -> String {
    (t + TimeDelta::hours(BROKER_UTC_OFFSET_HOURS))
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

/// Formats a UTC time as RFC 3339 with milliseconds, the way MetaApi writes times.
pub fn utc_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Buy,
    Sell,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CloseReason {
    StopLoss,
    TakeProfit,
    Client,
}

impl CloseReason {
    fn wire(self) -> &'static str {
        match self {
            CloseReason::StopLoss => "DEAL_REASON_SL",
            CloseReason::TakeProfit => "DEAL_REASON_TP",
            CloseReason::Client => "DEAL_REASON_CLIENT",
        }
    }
}

/// A symbol's fixed definition and its moving price. Prices are counted in whole ticks, and the
/// tick size is `10^-digits`, so every price is an exact decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Symbol {
    name: &'static str,
    base_currency: &'static str,
    margin_currency: &'static str,
    digits: u32,
    contract_size: Decimal,
    pip_size: Option<Decimal>,
    spread_ticks: i64,
    /// Each step the bid moves by 1 to this many ticks, up or down.
    max_move_ticks: i64,
    /// Swap per lot charged at the broker's midnight, for buys and for sells.
    swap_long: Decimal,
    swap_short: Decimal,
    initial_bid_ticks: i64,
    bid_ticks: i64,
    /// The direction the market currently leans to, +1 or -1; it flips now and then.
    trend: i64,
}

impl Symbol {
    fn tick_size(&self) -> Decimal {
        Decimal::new(1, self.digits)
    }

    fn price(&self, ticks: i64) -> Decimal {
        Decimal::new(ticks, self.digits)
    }

    fn ask_ticks(&self) -> i64 {
        self.bid_ticks + self.spread_ticks
    }

    /// All symbols are USD-quoted and accounts are in USD, so a tick is worth the same whichever
    /// way the price moves.
    fn tick_value(&self) -> Decimal {
        self.tick_size() * self.contract_size
    }

    /// The price a position of this side would be closed at now.
    fn close_ticks(&self, side: Side) -> i64 {
        match side {
            Side::Buy => self.bid_ticks,
            Side::Sell => self.ask_ticks(),
        }
    }

    /// The price a position of this side would be opened at now.
    fn open_ticks(&self, side: Side) -> i64 {
        match side {
            Side::Buy => self.ask_ticks(),
            Side::Sell => self.bid_ticks,
        }
    }

    /// A random walk that leans slightly with the trend and stays within half and twice its
    /// starting price.
    fn walk(&mut self, rng: &mut fastrand::Rng) {
        if rng.f64() < TREND_FLIP_CHANCE {
            self.trend = -self.trend;
        }
        let size = rng.i64(1..=self.max_move_ticks);
        let with_trend = rng.f64() < 0.5 + TREND_LEAN;
        let delta = if with_trend { size } else { -size } * self.trend;
        let next = self.bid_ticks + delta;
        let (low, high) = (self.initial_bid_ticks / 2, self.initial_bid_ticks * 2);
        self.bid_ticks = if (low..=high).contains(&next) {
            next
        } else {
            self.bid_ticks - delta
        };
    }
}

/// Indexes into [`symbols`].
const EURUSD: usize = 0;
const GBPUSD: usize = 1;
const XAUUSD: usize = 2;
const US30: usize = 3;

fn symbols() -> Vec<Symbol> {
    vec![
        Symbol {
            name: "EURUSD",
            base_currency: "EUR",
            margin_currency: "EUR",
            digits: 5,
            contract_size: Decimal::from(100_000),
            pip_size: Some(Decimal::new(1, 4)),
            spread_ticks: 8,
            max_move_ticks: 3,
            swap_long: Decimal::new(-720, 2),
            swap_short: Decimal::new(210, 2),
            initial_bid_ticks: 108_500,
            bid_ticks: 108_500,
            trend: 1,
        },
        Symbol {
            name: "GBPUSD",
            base_currency: "GBP",
            margin_currency: "GBP",
            digits: 5,
            contract_size: Decimal::from(100_000),
            pip_size: Some(Decimal::new(1, 4)),
            spread_ticks: 12,
            max_move_ticks: 4,
            swap_long: Decimal::new(-480, 2),
            swap_short: Decimal::new(-190, 2),
            initial_bid_ticks: 126_800,
            bid_ticks: 126_800,
            trend: -1,
        },
        Symbol {
            name: "XAUUSD",
            base_currency: "XAU",
            margin_currency: "XAU",
            digits: 2,
            contract_size: Decimal::from(100),
            pip_size: Some(Decimal::new(1, 2)),
            spread_ticks: 25,
            max_move_ticks: 15,
            swap_long: Decimal::new(-3850, 2),
            swap_short: Decimal::new(1960, 2),
            initial_bid_ticks: 265_000,
            bid_ticks: 265_000,
            trend: 1,
        },
        Symbol {
            name: "US30",
            base_currency: "USD",
            margin_currency: "USD",
            digits: 1,
            contract_size: Decimal::from(1),
            pip_size: None,
            spread_ticks: 20,
            max_move_ticks: 12,
            swap_long: Decimal::new(-460, 2),
            swap_short: Decimal::new(-150, 2),
            initial_bid_ticks: 440_000,
            bid_ticks: 440_000,
            trend: -1,
        },
    ]
}

/// How a simulated trader behaves. Probabilities are per step.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Profile {
    /// Indexes into the world's symbols.
    symbols: &'static [usize],
    /// Chance to open when flat: high, so the trader is rarely flat and equity keeps moving.
    open_when_flat: f64,
    /// Chance to open another position while some are open.
    open_when_busy: f64,
    /// Chance to close a given position at market, at random.
    close_at_random: f64,
    max_positions: usize,
    /// Stop-loss distance from the entry price, in ticks.
    stop_ticks: (i64, i64),
    /// Chance that a position gets a take profit.
    take_profit_chance: f64,
    /// Volume range, in hundredths of a lot.
    volume_hundredths: (i64, i64),
    /// Chance to open in the direction of the trend. This small edge roughly pays for spread
    /// and commission, so the demo accounts neither boom nor go bust within days.
    trend_following: f64,
}

/// A scripted instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    /// This many units after the script's start.
    Units(i64),
    /// This many units after the first midnight in Europe/Prague at least
    /// [`OVERNIGHT_LEAD_UNITS`] units after the script's start.
    AfterPragueMidnight(i64),
}

/// What a script does at its instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// Opens a position on the script's symbol at market; the stop loss in ticks, if any.
    Open {
        side: Side,
        hundredths: i64,
        stop: Option<i64>,
    },
    /// Closes every open position at market.
    CloseAll,
    /// Closes this many hundredths of a lot of the oldest open position at market.
    ClosePart { hundredths: i64 },
    /// Deposits this many dollars.
    Deposit(i64),
}

/// A scripted account's definition (see the module docs).
struct ScriptDef {
    id: &'static str,
    name: &'static str,
    login: u64,
    magic: i64,
    preset: &'static str,
    initial_balance: i64,
    symbol: usize,
    /// The symbol's bid in ticks at instants in units: piecewise linear in between.
    path: &'static [(i64, i64)],
    actions: &'static [(When, Action)],
}

const SCRIPTS: &[ScriptDef] = &[
    ScriptDef {
        id: "demo-daily-breach",
        name: "Daily Breach (scripted demo)",
        login: 51_000_004,
        magic: 4004,
        preset: "ftmo-2step",
        initial_balance: 100_000,
        symbol: EURUSD,
        path: &[
            (0, 110_000),
            (4, 109_700),
            (DAILY_BREACH_UNITS, 109_700),
            (DAILY_BREACH_UNITS, 109_450),
            (7, 109_450),
            (8, 109_300),
        ],
        actions: &[(
            When::Units(0),
            Action::Open {
                side: Side::Buy,
                hundredths: 1_000,
                stop: Some(109_300),
            },
        )],
    },
    ScriptDef {
        id: "demo-passing",
        name: "Passing (scripted demo)",
        login: 51_000_005,
        magic: 5005,
        preset: "apex-intraday-trailing",
        initial_balance: 50_000,
        symbol: XAUUSD,
        path: &[(0, 265_000), (PASS_UNITS, 265_400)],
        actions: &[
            (
                When::Units(0),
                Action::Open {
                    side: Side::Buy,
                    hundredths: 1_000,
                    stop: Some(264_700),
                },
            ),
            (When::Units(PASS_UNITS), Action::CloseAll),
        ],
    },
    ScriptDef {
        id: "demo-deposit",
        name: "Deposit (scripted demo)",
        login: 51_000_006,
        magic: 6006,
        preset: "apex-intraday-trailing",
        initial_balance: 25_000,
        symbol: EURUSD,
        path: &[(0, 110_000), (3, 110_500)],
        actions: &[
            (
                When::Units(0),
                Action::Open {
                    side: Side::Buy,
                    hundredths: 100,
                    stop: Some(109_500),
                },
            ),
            (When::Units(3), Action::CloseAll),
            (When::Units(DEPOSIT_UNITS), Action::Deposit(5_000)),
        ],
    },
    ScriptDef {
        id: "demo-overnight",
        name: "Overnight (scripted demo)",
        login: 51_000_007,
        magic: 7007,
        preset: "ftmo-2step",
        initial_balance: 100_000,
        symbol: EURUSD,
        path: &[(0, 110_000), (3, 109_500)],
        actions: &[
            (
                When::Units(0),
                Action::Open {
                    side: Side::Buy,
                    hundredths: 500,
                    stop: Some(109_200),
                },
            ),
            (
                When::AfterPragueMidnight(OVERNIGHT_CLOSE_UNITS),
                Action::CloseAll,
            ),
        ],
    },
    ScriptDef {
        id: "demo-no-stop",
        name: "No Stop Loss (scripted demo)",
        login: 51_000_008,
        magic: 8008,
        preset: "ftmo-2step",
        initial_balance: 200_000,
        symbol: GBPUSD,
        path: &[(0, 126_800), (5, 126_950), (10, 126_700), (15, 126_850)],
        actions: &[
            (
                When::Units(0),
                Action::Open {
                    side: Side::Buy,
                    hundredths: 300,
                    stop: None,
                },
            ),
            (
                When::Units(2),
                Action::Open {
                    side: Side::Sell,
                    hundredths: 100,
                    stop: None,
                },
            ),
            (
                When::Units(PARTIAL_CLOSE_UNITS),
                Action::ClosePart { hundredths: 100 },
            ),
        ],
    },
];

/// A script resolved to instants.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Script {
    symbol: usize,
    path: Vec<(DateTime<Utc>, i64)>,
    /// Sorted by instant.
    actions: Vec<(DateTime<Utc>, Action)>,
    /// The first action not yet done.
    next: usize,
}

impl Script {
    fn resolve(def: &ScriptDef, clock: ScriptClock) -> Script {
        let at = |units: i64| after(clock.start, clock.unit, units);
        let lead = at(OVERNIGHT_LEAD_UNITS);
        let midnight = ResetClock::prague_midnight()
            .next_reset(lead)
            .unwrap_or(lead);
        let mut actions: Vec<_> = def
            .actions
            .iter()
            .map(|(when, action)| {
                let instant = match *when {
                    When::Units(units) => at(units),
                    When::AfterPragueMidnight(units) => after(midnight, clock.unit, units),
                };
                (instant, *action)
            })
            .collect();
        actions.sort_by_key(|(instant, _)| *instant);
        Script {
            symbol: def.symbol,
            path: def
                .path
                .iter()
                .map(|(units, ticks)| (at(*units), *ticks))
                .collect(),
            actions,
            next: 0,
        }
    }

    /// The scripted bid at `t`, in ticks, if the path has any point.
    fn bid_at(&self, t: DateTime<Utc>) -> Option<i64> {
        let after = self.path.partition_point(|(at, _)| *at <= t);
        let (Some(&(t0, a)), Some(&(t1, b))) = (
            after.checked_sub(1).and_then(|i| self.path.get(i)),
            self.path.get(after),
        ) else {
            // Before the first point or after the last one, the path is flat.
            return self
                .path
                .get(after.saturating_sub(1))
                .map(|(_, ticks)| *ticks);
        };
        let span = i128::from((t1 - t0).num_milliseconds().max(1));
        let done = i128::from((t - t0).num_milliseconds());
        // Integer division rounds towards zero: towards `a`, so `b` is reached exactly at `t1`.
        let moved = i128::from(b - a) * done / span;
        Some(a + i64::try_from(moved).unwrap_or(0))
    }

    /// The next action due at or before `now`, marked done.
    fn due(&mut self, now: DateTime<Utc>) -> Option<Action> {
        let (at, action) = *self.actions.get(self.next)?;
        (at <= now).then(|| {
            self.next += 1;
            action
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Trader {
    /// A simulated trader with random habits.
    Random(Profile),
    /// A fixed script on a scripted price path.
    Scripted(Script),
}

/// An account stopped in time.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Frozen {
    /// The last step before it froze: its quotes' time.
    at: DateTime<Utc>,
    /// The quotes its positions are valued at.
    quotes: Vec<Symbol>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct OpenPosition {
    id: u64,
    symbol: usize,
    side: Side,
    volume: Decimal,
    open_ticks: i64,
    stop_ticks: Option<i64>,
    take_profit_ticks: Option<i64>,
    time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    swap: Decimal,
    /// The opening side's commission (negative), realised with the closing deal.
    commission: Decimal,
    /// What partial closes realised (their closing deals' profit, commission and swap), and
    /// the swap and commission among it: MetaApi's `realizedProfit`, `realizedSwap` and
    /// `realizedCommission`.
    realized: Realized,
}

/// What a position's partial closes realised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Realized {
    profit: Decimal,
    swap: Decimal,
    commission: Decimal,
}

impl OpenPosition {
    fn profit_at(&self, symbol: &Symbol, ticks: i64) -> Decimal {
        self.profit_of(symbol, ticks, self.volume)
    }

    /// The profit `volume` lots of the position make at `ticks`.
    fn profit_of(&self, symbol: &Symbol, ticks: i64, volume: Decimal) -> Decimal {
        let moved = match self.side {
            Side::Buy => ticks - self.open_ticks,
            Side::Sell => self.open_ticks - ticks,
        };
        (Decimal::from(moved) * symbol.tick_value() * volume).round_dp(2)
    }

    fn profit(&self, symbol: &Symbol) -> Decimal {
        self.profit_at(symbol, symbol.close_ticks(self.side))
    }

    fn margin(&self, symbol: &Symbol) -> Decimal {
        margin_for(symbol, self.volume, self.open_ticks)
    }

    /// Whether the stop loss or take profit is hit at the current price, and at which level.
    fn level_hit(&self, symbol: &Symbol) -> Option<(i64, CloseReason)> {
        let now = symbol.close_ticks(self.side);
        let (stop_hit, take_hit) = match self.side {
            Side::Buy => (
                self.stop_ticks.is_some_and(|sl| now <= sl),
                self.take_profit_ticks.is_some_and(|tp| now >= tp),
            ),
            Side::Sell => (
                self.stop_ticks.is_some_and(|sl| now >= sl),
                self.take_profit_ticks.is_some_and(|tp| now <= tp),
            ),
        };
        if stop_hit {
            self.stop_ticks.map(|sl| (sl, CloseReason::StopLoss))
        } else if take_hit {
            self.take_profit_ticks
                .map(|tp| (tp, CloseReason::TakeProfit))
        } else {
            None
        }
    }
}

fn margin_for(symbol: &Symbol, volume: Decimal, ticks: i64) -> Decimal {
    (volume * symbol.contract_size * symbol.price(ticks) / Decimal::from(LEVERAGE)).round_dp(2)
}

#[derive(Clone, Debug, PartialEq)]
struct Account {
    id: &'static str,
    name: &'static str,
    login: u64,
    magic: i64,
    trader: Trader,
    /// This account's own chances, so that what one account does (or does not do, while
    /// frozen) never changes another's history.
    rng: fastrand::Rng,
    /// A scripted account's quotes: the market's, with its symbol on the script's path.
    own_quotes: Option<Vec<Symbol>>,
    frozen: Option<Frozen>,
    /// The challenge this account is on: a preset of the risk engine.
    preset: &'static str,
    /// The funded balance the challenge starts from (the initial deposit).
    initial_balance: Decimal,
    balance: Decimal,
    positions: Vec<OpenPosition>,
    /// Sorted by time, then id: ids only grow, and a deal filed dated in the past (see
    /// [`World::set_late_deals`]) is put in its place.
    deals: Vec<MetaDeal>,
    /// Closing deals are filed dated this long before they happen (zero: on time).
    late_by: TimeDelta,
}

impl Account {
    /// Files `deal` in time order (after any deal of the same instant: ids only grow).
    fn file(&mut self, deal: MetaDeal) {
        let at = self.deals.partition_point(|d| d.time <= deal.time);
        self.deals.insert(at, deal);
    }
}

impl Account {
    /// The quotes this account's positions are valued at.
    fn quotes<'a>(&'a self, market: &'a [Symbol]) -> &'a [Symbol] {
        match (&self.frozen, &self.own_quotes) {
            (Some(frozen), _) => &frozen.quotes,
            (None, Some(own)) => own,
            (None, None) => market,
        }
    }

    /// When this account's quotes were last updated.
    fn quote_time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.frozen.as_ref().map_or(now, |frozen| frozen.at)
    }

    fn floating(&self, symbols: &[Symbol]) -> Decimal {
        self.positions
            .iter()
            .map(|p| p.profit(&symbols[p.symbol]) + p.swap + p.commission)
            .sum()
    }

    fn margin(&self, symbols: &[Symbol]) -> Decimal {
        self.positions
            .iter()
            .map(|p| p.margin(&symbols[p.symbol]))
            .sum()
    }
}

/// Hands out increasing ids, shared by all accounts like a real trade server's tickets.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Tickets {
    deal: u64,
    order: u64,
}

impl Tickets {
    fn deal(&mut self) -> String {
        self.deal += 1;
        self.deal.to_string()
    }

    fn order(&mut self) -> u64 {
        self.order += 1;
        self.order
    }
}

/// Everything a trader's step needs besides its account, borrowed separately from it.
struct Market<'a> {
    symbols: &'a [Symbol],
    tickets: &'a mut Tickets,
    now: DateTime<Utc>,
}

/// The whole simulated broker: market, accounts, traders and history.
#[derive(Debug, PartialEq)]
pub struct World {
    rng: fastrand::Rng,
    step: TimeDelta,
    now: DateTime<Utc>,
    steps: u64,
    next_rollover: DateTime<Utc>,
    symbols: Vec<Symbol>,
    accounts: Vec<Account>,
    tickets: Tickets,
    script: ScriptClock,
}

fn random_account(
    (id, name): (&'static str, &'static str),
    (login, magic): (u64, i64),
    profile: Profile,
    preset: &'static str,
    initial_balance: i64,
) -> Account {
    Account {
        id,
        name,
        login,
        magic,
        trader: Trader::Random(profile),
        rng: fastrand::Rng::new(),
        own_quotes: None,
        frozen: None,
        preset,
        initial_balance: Decimal::from(initial_balance),
        balance: Decimal::ZERO,
        positions: Vec::new(),
        deals: Vec::new(),
        late_by: TimeDelta::zero(),
    }
}

fn balance_deal(tickets: &mut Tickets, time: DateTime<Utc>, amount: Decimal) -> MetaDeal {
    MetaDeal {
        id: tickets.deal(),
        deal_type: "DEAL_TYPE_BALANCE".into(),
        entry_type: Some("DEAL_ENTRY_IN".into()),
        symbol: None,
        time,
        broker_time: Some(broker_time(time)),
        volume: None,
        price: None,
        commission: None,
        swap: None,
        profit: amount,
        position_id: None,
        order_id: None,
        reason: Some("DEAL_REASON_CLIENT".into()),
        stop_loss: None,
        take_profit: None,
    }
}

impl World {
    /// A world at `start`, where each account has just received its initial deposit, and whose
    /// scripted accounts follow `script`. A zero `step` is taken as one millisecond, and a step
    /// too large for the calendar as one day, so that [`World::advance_to`] always makes
    /// progress; the script's start is moved up to the first step at or after it (and after
    /// `start`).
    pub fn new(
        seed: u64,
        start: DateTime<Utc>,
        step: std::time::Duration,
        script: ScriptClock,
    ) -> World {
        let step = TimeDelta::from_std(step)
            .unwrap_or(TimeDelta::days(1))
            .max(TimeDelta::milliseconds(1));
        let script = ScriptClock {
            start: on_grid(start, step, script.start),
            unit: script.unit.max(TimeDelta::milliseconds(1)),
        };
        let mut tickets = Tickets {
            deal: 1_000_000,
            order: 50_000_000,
        };
        let mut accounts = vec![
            random_account(
                ("demo-eurusd-scalper", "EURUSD Scalper (demo)"),
                (51_000_001, 1001),
                Profile {
                    symbols: &[EURUSD, GBPUSD],
                    open_when_flat: 0.25,
                    open_when_busy: 1.0 / 45.0,
                    close_at_random: 1.0 / 400.0,
                    max_positions: 3,
                    stop_ticks: (40, 150),
                    take_profit_chance: 0.9,
                    volume_hundredths: (50, 200),
                    trend_following: 0.75,
                },
                "ftmo-2step",
                100_000,
            ),
            random_account(
                ("demo-gold-swing", "Gold Swing (demo)"),
                (51_000_002, 2002),
                Profile {
                    symbols: &[XAUUSD],
                    open_when_flat: 0.1,
                    open_when_busy: 1.0 / 300.0,
                    close_at_random: 1.0 / 1800.0,
                    max_positions: 2,
                    stop_ticks: (300, 1_200),
                    take_profit_chance: 0.75,
                    volume_hundredths: (10, 100),
                    trend_following: 0.5,
                },
                "ftmo-1step",
                50_000,
            ),
            random_account(
                ("demo-index-breakout", "Index Breakout (demo)"),
                (51_000_003, 3003),
                Profile {
                    symbols: &[US30],
                    open_when_flat: 0.15,
                    open_when_busy: 1.0 / 120.0,
                    close_at_random: 1.0 / 900.0,
                    max_positions: 2,
                    stop_ticks: (150, 600),
                    take_profit_chance: 0.8,
                    volume_hundredths: (10, 200),
                    trend_following: 0.8,
                },
                "fundednext-2step",
                25_000,
            ),
        ];
        let market = symbols();
        accounts.extend(SCRIPTS.iter().map(|def| Account {
            id: def.id,
            name: def.name,
            login: def.login,
            magic: def.magic,
            trader: Trader::Scripted(Script::resolve(def, script)),
            rng: fastrand::Rng::new(),
            own_quotes: Some(market.clone()),
            frozen: None,
            preset: def.preset,
            initial_balance: Decimal::from(def.initial_balance),
            balance: Decimal::ZERO,
            positions: Vec::new(),
            deals: Vec::new(),
            late_by: TimeDelta::zero(),
        }));
        for (index, account) in (0u64..).zip(&mut accounts) {
            account.rng =
                fastrand::Rng::with_seed(seed ^ (index + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            account.balance = account.initial_balance;
            account
                .deals
                .push(balance_deal(&mut tickets, start, account.initial_balance));
        }
        let mut world = World {
            rng: fastrand::Rng::with_seed(seed),
            step,
            now: start,
            steps: 0,
            next_rollover: next_broker_midnight(start),
            symbols: market,
            accounts,
            tickets,
            script,
        };
        world.update_script_quotes();
        world
    }

    /// Runs every whole step between the last simulated time and `t` (inclusive). Does nothing
    /// when `t` is not at least one step ahead.
    pub fn advance_to(&mut self, t: DateTime<Utc>) {
        while self.now + self.step <= t {
            self.step_once();
        }
    }

    /// The time of the last simulated step (the start, before any step).
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// How many steps have run since the start.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// When the scripted accounts' scripts run (the start on the step grid).
    pub fn script_clock(&self) -> ScriptClock {
        self.script
    }

    /// Ids and display names of the demo accounts.
    pub fn accounts(&self) -> Vec<AccountSummary> {
        self.accounts
            .iter()
            .map(|a| AccountSummary {
                id: a.id.to_owned(),
                name: a.name.to_owned(),
                preset: a.preset.to_owned(),
                initial_balance: a.initial_balance,
            })
            .collect()
    }

    /// Names of the symbols the demo broker quotes.
    pub fn symbol_names(&self) -> Vec<&'static str> {
        self.symbols.iter().map(|s| s.name).collect()
    }

    /// Fails with [`WorldError::UnknownAccount`] unless `id` is a demo account.
    pub fn check_account(&self, id: &str) -> Result<(), WorldError> {
        self.account(id).map(drop)
    }

    /// Stops `account` in time, or lets it carry on (see the module docs).
    pub fn set_frozen(&mut self, account: &str, frozen: bool) -> Result<(), WorldError> {
        let market = &self.symbols;
        let now = self.now;
        let a = self
            .accounts
            .iter_mut()
            .find(|a| a.id == account)
            .ok_or_else(|| WorldError::UnknownAccount(account.to_owned()))?;
        if !frozen {
            a.frozen = None;
        } else if a.frozen.is_none() {
            let quotes = a.quotes(market).to_vec();
            a.frozen = Some(Frozen { at: now, quotes });
        }
        Ok(())
    }

    /// Files `account`'s closing deals dated `late_by` before they happen (zero: on time), as a
    /// broker whose history syncs late: the balance moves at once, the deal shows up in the
    /// past, outside a reader's recent window.
    pub fn set_late_deals(&mut self, account: &str, late_by: TimeDelta) -> Result<(), WorldError> {
        let a = self
            .accounts
            .iter_mut()
            .find(|a| a.id == account)
            .ok_or_else(|| WorldError::UnknownAccount(account.to_owned()))?;
        a.late_by = late_by.max(TimeDelta::zero());
        Ok(())
    }

    /// Books a deposit (positive) or withdrawal (negative) of `amount` on `account` now: a
    /// `DEAL_TYPE_BALANCE` deal and its balance.
    pub fn book_balance(&mut self, account: &str, amount: Decimal) -> Result<(), WorldError> {
        let now = self.now;
        let a = self
            .accounts
            .iter_mut()
            .find(|a| a.id == account)
            .ok_or_else(|| WorldError::UnknownAccount(account.to_owned()))?;
        a.balance += amount;
        let deal = balance_deal(&mut self.tickets, now, amount);
        a.file(deal);
        Ok(())
    }

    /// Whether `account` is frozen.
    pub fn is_frozen(&self, account: &str) -> Result<bool, WorldError> {
        Ok(self.account(account)?.frozen.is_some())
    }

    fn account(&self, id: &str) -> Result<&Account, WorldError> {
        self.accounts
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| WorldError::UnknownAccount(id.to_owned()))
    }

    fn symbol(&self, name: &str) -> Result<&Symbol, WorldError> {
        self.symbols
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| WorldError::UnknownSymbol(name.to_owned()))
    }

    /// `GET /account-information`.
    pub fn account_information(&self, account: &str) -> Result<AccountInformation, WorldError> {
        let a = self.account(account)?;
        let quotes = a.quotes(&self.symbols);
        let equity = a.balance + a.floating(quotes);
        let margin = a.margin(quotes);
        let margin_level =
            (!margin.is_zero()).then(|| (equity / margin * Decimal::ONE_HUNDRED).round_dp(2));
        Ok(AccountInformation {
            platform: Some("mt5".into()),
            broker: Some("Riskdeck Demo Broker".into()),
            currency: "USD".into(),
            server: Some("RiskdeckDemo-Server".into()),
            balance: a.balance,
            equity,
            margin,
            free_margin: equity - margin,
            leverage: Some(LEVERAGE),
            margin_level,
            trade_allowed: Some(true),
            investor_mode: Some(false),
            margin_mode: Some("ACCOUNT_MARGIN_MODE_RETAIL_HEDGING".into()),
            name: Some(a.name.into()),
            login: Some(a.login),
            credit: Decimal::ZERO,
            account_type: Some("ACCOUNT_TRADE_MODE_DEMO".into()),
            currency_digits: Some(2),
        })
    }

    fn wire_position(&self, a: &Account, p: &OpenPosition) -> MetaPosition {
        let symbol = &a.quotes(&self.symbols)[p.symbol];
        let profit = p.profit(symbol);
        MetaPosition {
            id: p.id.to_string(),
            position_type: match p.side {
                Side::Buy => "POSITION_TYPE_BUY",
                Side::Sell => "POSITION_TYPE_SELL",
            }
            .into(),
            symbol: symbol.name.into(),
            magic: Some(a.magic),
            time: p.time,
            broker_time: Some(broker_time(p.time)),
            update_time: Some(p.update_time),
            open_price: symbol.price(p.open_ticks),
            current_price: symbol.price(symbol.close_ticks(p.side)),
            current_tick_value: Some(symbol.tick_value()),
            stop_loss: p.stop_ticks.map(|t| symbol.price(t)),
            take_profit: p.take_profit_ticks.map(|t| symbol.price(t)),
            volume: p.volume,
            // MetaApi's cumulative figures, and their open and realized parts.
            swap: p.swap + p.realized.swap,
            profit: profit + p.realized.profit,
            unrealized_profit: Some(profit),
            realized_profit: Some(p.realized.profit),
            commission: p.commission + p.realized.commission,
            unrealized_swap: Some(p.swap),
            realized_swap: Some(p.realized.swap),
            unrealized_commission: Some(p.commission),
            realized_commission: Some(p.realized.commission),
            comment: None,
        }
    }

    /// `GET /positions`, oldest first.
    pub fn positions(&self, account: &str) -> Result<Vec<MetaPosition>, WorldError> {
        let a = self.account(account)?;
        Ok(a.positions
            .iter()
            .map(|p| self.wire_position(a, p))
            .collect())
    }

    /// `GET /positions/:positionId`.
    pub fn position(&self, account: &str, position: &str) -> Result<MetaPosition, WorldError> {
        let a = self.account(account)?;
        a.positions
            .iter()
            .find(|p| p.id.to_string() == position)
            .map(|p| self.wire_position(a, p))
            .ok_or_else(|| WorldError::UnknownPosition(position.to_owned()))
    }

    /// `GET /history-deals/time/:start/:end`: deals with `start <= time < end`, sorted by time
    /// then id, skipping `offset` and returning at most `limit`.
    pub fn deals(
        &self,
        account: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<MetaDeal>, WorldError> {
        let a = self.account(account)?;
        if end < start {
            return Err(WorldError::ReversedRange);
        }
        let from = a.deals.partition_point(|d| d.time < start);
        let to = a.deals.partition_point(|d| d.time < end);
        Ok(a.deals[from..to]
            .iter()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect())
    }

    /// `GET /symbols/:symbol/specification`.
    pub fn specification(&self, symbol: &str) -> Result<MetaSymbolSpecification, WorldError> {
        let s = self.symbol(symbol)?;
        Ok(MetaSymbolSpecification {
            symbol: s.name.into(),
            tick_size: s.tick_size(),
            min_volume: Decimal::new(1, 2),
            max_volume: Decimal::from(100),
            volume_step: Decimal::new(1, 2),
            contract_size: s.contract_size,
            digits: s.digits,
            point: Some(s.tick_size()),
            pip_size: s.pip_size,
            base_currency: Some(s.base_currency.into()),
            profit_currency: Some("USD".into()),
            margin_currency: Some(s.margin_currency.into()),
        })
    }

    /// `GET /symbols/:symbol/current-price` as `account` sees it, stamped with the time of its
    /// last quote.
    pub fn price(&self, account: &str, symbol: &str) -> Result<MetaSymbolPrice, WorldError> {
        let a = self.account(account)?;
        let s = a
            .quotes(&self.symbols)
            .iter()
            .find(|s| s.name == symbol)
            .ok_or_else(|| WorldError::UnknownSymbol(symbol.to_owned()))?;
        let time = a.quote_time(self.now);
        Ok(MetaSymbolPrice {
            symbol: s.name.into(),
            bid: s.price(s.bid_ticks),
            ask: s.price(s.ask_ticks()),
            profit_tick_value: s.tick_value(),
            loss_tick_value: s.tick_value(),
            time,
            broker_time: Some(broker_time(time)),
        })
    }

    /// Whether `account` is quoted from a feed of its own (a scripted account: its symbol on
    /// its script's path) rather than from the market every other account sees.
    pub fn quoted_apart(&self, account: &str) -> Result<bool, WorldError> {
        Ok(self.account(account)?.own_quotes.is_some())
    }

    /// `GET /server-time` for `account`, where `now` is the caller's clock and the last quote is
    /// the last step (or the moment the account froze).
    pub fn server_time(&self, account: &str, now: DateTime<Utc>) -> Result<ServerTime, WorldError> {
        let quoted = self.account(account)?.quote_time(self.now);
        Ok(ServerTime {
            time: now,
            broker_time: broker_time(now),
            last_quote_time: Some(quoted),
            last_quote_broker_time: Some(broker_time(quoted)),
        })
    }

    fn step_once(&mut self) {
        self.now += self.step;
        self.steps += 1;
        for symbol in &mut self.symbols {
            symbol.walk(&mut self.rng);
        }
        if self.now >= self.next_rollover {
            self.rollover();
            self.next_rollover = next_broker_midnight(self.now);
        }
        self.update_script_quotes();
        let mut market = Market {
            symbols: &self.symbols,
            tickets: &mut self.tickets,
            now: self.now,
        };
        for account in &mut self.accounts {
            if account.frozen.is_none() {
                trade(account, &mut market);
            }
        }
    }

    /// Quotes scripted accounts from the market, with their own symbol on the script's path.
    fn update_script_quotes(&mut self) {
        for account in &mut self.accounts {
            if account.frozen.is_some() {
                continue;
            }
            if let (Some(quotes), Trader::Scripted(script)) =
                (&mut account.own_quotes, &account.trader)
            {
                quotes.copy_from_slice(&self.symbols);
                if let (Some(bid), Some(symbol)) =
                    (script.bid_at(self.now), quotes.get_mut(script.symbol))
                {
                    symbol.bid_ticks = bid;
                }
            }
        }
    }

    /// Charges a night's swap on every open position at the broker's midnight.
    fn rollover(&mut self) {
        for account in &mut self.accounts {
            if account.frozen.is_some() {
                continue;
            }
            for p in &mut account.positions {
                let symbol = &self.symbols[p.symbol];
                let per_lot = match p.side {
                    Side::Buy => symbol.swap_long,
                    Side::Sell => symbol.swap_short,
                };
                p.swap += (per_lot * p.volume).round_dp(2);
                p.update_time = self.now;
            }
        }
    }
}

/// `units x unit` after `t`, or the end of time when that is past it.
fn after(t: DateTime<Utc>, unit: TimeDelta, units: i64) -> DateTime<Utc> {
    i32::try_from(units)
        .ok()
        .and_then(|units| unit.checked_mul(units))
        .and_then(|offset| t.checked_add_signed(offset))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The first instant on the grid `start + k x step` (k >= 1) at or after `t`.
fn on_grid(start: DateTime<Utc>, step: TimeDelta, t: DateTime<Utc>) -> DateTime<Utc> {
    let step_ms = step.num_milliseconds().max(1);
    let wanted = (t - start).num_milliseconds().max(1);
    after(start, step, (wanted + step_ms - 1) / step_ms)
}

/// The first broker midnight strictly after `t`, in UTC.
fn next_broker_midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    let offset = TimeDelta::hours(BROKER_UTC_OFFSET_HOURS);
    let local_day = (t + offset).date_naive();
    let next_day = local_day
        .checked_add_days(Days::new(1))
        .unwrap_or(local_day);
    next_day.and_time(chrono::NaiveTime::MIN).and_utc() - offset
}

/// One step of one account's trader: close what hit its levels, then follow the script or the
/// trader's habits.
fn trade(account: &mut Account, market: &mut Market<'_>) {
    match account.own_quotes.take() {
        Some(quotes) => {
            let mut own = Market {
                symbols: &quotes,
                tickets: &mut *market.tickets,
                now: market.now,
            };
            close_hits(account, &mut own);
            follow_script(account, &mut own);
            account.own_quotes = Some(quotes);
        }
        None => {
            close_hits(account, market);
            trade_at_random(account, market);
        }
    }
}

/// Closes the positions whose stop loss or take profit the price reached, at that level.
fn close_hits(account: &mut Account, market: &mut Market<'_>) {
    let mut i = 0;
    while i < account.positions.len() {
        let p = &account.positions[i];
        match p.level_hit(&market.symbols[p.symbol]) {
            Some((ticks, reason)) => {
                let p = account.positions.remove(i);
                close_position(account, p, ticks, reason, market);
            }
            None => i += 1,
        }
    }
}

/// Does whatever the script has due by now.
fn follow_script(account: &mut Account, market: &mut Market<'_>) {
    loop {
        let Trader::Scripted(script) = &mut account.trader else {
            return;
        };
        let symbol = script.symbol;
        let Some(action) = script.due(market.now) else {
            return;
        };
        match action {
            Action::Open {
                side,
                hundredths,
                stop,
            } => {
                let volume = Decimal::new(hundredths, 2);
                open_position(account, market, symbol, side, volume, stop, None);
            }
            Action::CloseAll => {
                for p in std::mem::take(&mut account.positions) {
                    let ticks = market.symbols[p.symbol].close_ticks(p.side);
                    close_position(account, p, ticks, CloseReason::Client, market);
                }
            }
            Action::ClosePart { hundredths } => {
                if account.positions.is_empty() {
                    continue;
                }
                let mut p = account.positions.remove(0);
                let volume = Decimal::new(hundredths, 2).min(p.volume);
                let ticks = market.symbols[p.symbol].close_ticks(p.side);
                book_close(account, &mut p, volume, ticks, CloseReason::Client, market);
                if p.volume > Decimal::ZERO {
                    account.positions.insert(0, p);
                }
            }
            Action::Deposit(amount) => {
                let amount = Decimal::from(amount);
                account.balance += amount;
                let deal = balance_deal(market.tickets, market.now, amount);
                account.file(deal);
            }
        }
    }
}

/// One step of a simulated trader: close a position it tires of, then maybe open a new one.
fn trade_at_random(account: &mut Account, market: &mut Market<'_>) {
    let Trader::Random(profile) = account.trader else {
        return;
    };
    let mut i = 0;
    while i < account.positions.len() {
        if account.rng.f64() < profile.close_at_random {
            let p = account.positions.remove(i);
            let ticks = market.symbols[p.symbol].close_ticks(p.side);
            close_position(account, p, ticks, CloseReason::Client, market);
        } else {
            i += 1;
        }
    }

    let chance = if account.positions.is_empty() {
        profile.open_when_flat
    } else {
        profile.open_when_busy
    };
    if account.positions.len() >= profile.max_positions || account.rng.f64() >= chance {
        return;
    }
    let rng = &mut account.rng;
    let symbol_index = profile.symbols[rng.usize(..profile.symbols.len())];
    let symbol = &market.symbols[symbol_index];
    let with_trend = rng.f64() < profile.trend_following;
    let side = if with_trend == (symbol.trend > 0) {
        Side::Buy
    } else {
        Side::Sell
    };
    let volume = Decimal::new(
        rng.i64(profile.volume_hundredths.0..=profile.volume_hundredths.1),
        2,
    );
    let stop = rng.i64(profile.stop_ticks.0..=profile.stop_ticks.1);
    let take = (rng.f64() < profile.take_profit_chance).then(|| stop * rng.i64(10..=30) / 10);
    let open_ticks = symbol.open_ticks(side);
    let direction = match side {
        Side::Buy => 1,
        Side::Sell => -1,
    };

    // A careful trader: never commit more than half of the equity as margin.
    let equity = account.balance + account.floating(market.symbols);
    let margin = account.margin(market.symbols) + margin_for(symbol, volume, open_ticks);
    if margin * Decimal::TWO > equity {
        return;
    }
    open_position(
        account,
        market,
        symbol_index,
        side,
        volume,
        Some(open_ticks - direction * stop),
        take.map(|t| open_ticks + direction * t),
    );
}

/// Opens a position at market, with levels given in ticks.
fn open_position(
    account: &mut Account,
    market: &mut Market<'_>,
    symbol_index: usize,
    side: Side,
    volume: Decimal,
    stop_ticks: Option<i64>,
    take_profit_ticks: Option<i64>,
) {
    let symbol = &market.symbols[symbol_index];
    let open_ticks = symbol.open_ticks(side);
    let position = OpenPosition {
        id: market.tickets.order(),
        symbol: symbol_index,
        side,
        volume,
        open_ticks,
        stop_ticks,
        take_profit_ticks,
        time: market.now,
        update_time: market.now,
        swap: Decimal::ZERO,
        commission: (COMMISSION_PER_LOT_PER_SIDE * volume).round_dp(2),
        realized: Realized::default(),
    };
    account.deals.push(MetaDeal {
        id: market.tickets.deal(),
        deal_type: match side {
            Side::Buy => "DEAL_TYPE_BUY",
            Side::Sell => "DEAL_TYPE_SELL",
        }
        .into(),
        entry_type: Some("DEAL_ENTRY_IN".into()),
        symbol: Some(symbol.name.into()),
        time: market.now,
        broker_time: Some(broker_time(market.now)),
        volume: Some(volume),
        price: Some(symbol.price(open_ticks)),
        commission: Some(Decimal::ZERO),
        swap: Some(Decimal::ZERO),
        profit: Decimal::ZERO,
        position_id: Some(position.id.to_string()),
        order_id: Some(position.id.to_string()),
        reason: Some("DEAL_REASON_CLIENT".into()),
        stop_loss: position.stop_ticks.map(|t| symbol.price(t)),
        take_profit: position.take_profit_ticks.map(|t| symbol.price(t)),
    });
    account.positions.push(position);
}

fn close_position(
    account: &mut Account,
    mut p: OpenPosition,
    ticks: i64,
    reason: CloseReason,
    market: &mut Market<'_>,
) {
    let volume = p.volume;
    book_close(account, &mut p, volume, ticks, reason, market);
}

/// Books the closing deal of `volume` lots of `p` at `ticks`: that share of the position's
/// swap and opening commission goes with it, and both sides' commission is booked on the
/// closing deal (see the module docs). What stays open keeps the rest, and `p` remembers what
/// the closed part realised (MetaApi's realized fields of a partly closed position).
fn book_close(
    account: &mut Account,
    p: &mut OpenPosition,
    volume: Decimal,
    ticks: i64,
    reason: CloseReason,
    market: &mut Market<'_>,
) {
    let symbol = &market.symbols[p.symbol];
    let profit = p.profit_of(symbol, ticks, volume);
    let share = |amount: Decimal| {
        if volume >= p.volume || p.volume.is_zero() {
            amount
        } else {
            (amount * volume / p.volume).round_dp(2)
        }
    };
    let (open_commission, swap) = (share(p.commission), share(p.swap));
    let commission = open_commission + open_commission;
    account.balance += profit + commission + swap;
    let time = market.now - account.late_by;
    account.file(MetaDeal {
        id: market.tickets.deal(),
        deal_type: match p.side {
            Side::Buy => "DEAL_TYPE_SELL",
            Side::Sell => "DEAL_TYPE_BUY",
        }
        .into(),
        entry_type: Some("DEAL_ENTRY_OUT".into()),
        symbol: Some(symbol.name.into()),
        time,
        broker_time: Some(broker_time(time)),
        volume: Some(volume),
        price: Some(symbol.price(ticks)),
        commission: Some(commission),
        swap: Some(swap),
        profit,
        position_id: Some(p.id.to_string()),
        order_id: Some(market.tickets.order().to_string()),
        reason: Some(reason.wire().into()),
        stop_loss: p.stop_ticks.map(|t| symbol.price(t)),
        take_profit: p.take_profit_ticks.map(|t| symbol.price(t)),
    });
    p.volume -= volume;
    p.commission -= open_commission;
    p.swap -= swap;
    p.realized.profit += profit + commission + swap;
    p.realized.swap += swap;
    p.realized.commission += commission;
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::{Deal, Position};
    use shared::engine::{
        Challenge, ChallengeStatus, Event, EventKind, Record, RecordData, RuleStatus,
    };
    use std::collections::HashMap;
    use std::time::Duration;

    const SECOND: Duration = Duration::from_secs(1);
    const SECOND_DELTA: TimeDelta = TimeDelta::seconds(1);

    fn dec(n: i64) -> Decimal {
        Decimal::from(n)
    }

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-05T08:00:00Z")
            .expect("valid time")
            .to_utc()
    }

    /// Scripts starting with the world, in one-minute units.
    fn clock() -> ScriptClock {
        ScriptClock {
            start: start(),
            unit: TimeDelta::minutes(1),
        }
    }

    fn world_after(seed: u64, steps: i64) -> World {
        let mut world = World::new(seed, start(), SECOND, clock());
        world.advance_to(start() + TimeDelta::seconds(steps));
        world
    }

    fn account_ids(world: &World) -> Vec<String> {
        world.accounts().into_iter().map(|a| a.id).collect()
    }

    /// The accounts with a simulated trader.
    const RANDOM: [&str; 3] = [
        "demo-eurusd-scalper",
        "demo-gold-swing",
        "demo-index-breakout",
    ];

    fn all_deals(world: &World, account: &str) -> Vec<MetaDeal> {
        world
            .deals(
                account,
                DateTime::<Utc>::MIN_UTC,
                world.now() + TimeDelta::seconds(1),
                0,
                usize::MAX,
            )
            .expect("known account")
    }

    #[test]
    fn same_seed_start_and_step_give_identical_state() {
        let a = world_after(7, 5_000);
        let b = world_after(7, 5_000);
        assert_eq!(a.steps(), 5_000);
        assert_eq!(a, b);
        for id in account_ids(&a) {
            assert_eq!(a.account_information(&id), b.account_information(&id));
            assert_eq!(a.positions(&id), b.positions(&id));
            assert_eq!(all_deals(&a, &id), all_deals(&b, &id));
        }
    }

    #[test]
    fn different_seeds_give_different_histories() {
        let a = world_after(1, 3_000);
        let b = world_after(2, 3_000);
        assert_ne!(
            all_deals(&a, "demo-eurusd-scalper"),
            all_deals(&b, "demo-eurusd-scalper")
        );
    }

    #[test]
    fn advancing_in_small_batches_equals_advancing_at_once() {
        let at_once = world_after(42, 2_000);
        let mut batched = World::new(42, start(), SECOND, clock());
        for k in (0..=2_000).step_by(137) {
            // Times between steps must not run partial steps.
            batched.advance_to(start() + TimeDelta::milliseconds(k * 1_000 + 999));
        }
        batched.advance_to(start() + TimeDelta::seconds(2_000));
        assert_eq!(batched, at_once);
    }

    #[test]
    fn advance_runs_only_whole_steps() {
        let mut world = World::new(42, start(), SECOND, clock());
        world.advance_to(start() + TimeDelta::milliseconds(999));
        assert_eq!(world.steps(), 0);
        world.advance_to(start() + TimeDelta::milliseconds(3_500));
        assert_eq!(world.steps(), 3);
        assert_eq!(world.now(), start() + TimeDelta::seconds(3));
        world.advance_to(start());
        assert_eq!(world.steps(), 3, "going back in time does nothing");
    }

    #[test]
    fn there_are_eight_accounts_with_their_initial_deposits() {
        let world = World::new(42, start(), SECOND, clock());
        let expected = [
            ("demo-eurusd-scalper", 100_000),
            ("demo-gold-swing", 50_000),
            ("demo-index-breakout", 25_000),
            ("demo-daily-breach", 100_000),
            ("demo-passing", 50_000),
            ("demo-deposit", 25_000),
            ("demo-overnight", 100_000),
            ("demo-no-stop", 200_000),
        ];
        assert_eq!(
            account_ids(&world),
            expected.map(|(id, _)| id.to_owned()).to_vec()
        );
        for (id, deposit) in expected {
            let deals = all_deals(&world, id);
            assert_eq!(deals.len(), 1);
            assert_eq!(deals[0].deal_type, "DEAL_TYPE_BALANCE");
            assert_eq!(deals[0].time, start());
            assert_eq!(deals[0].profit, Decimal::from(deposit));
            let info = world.account_information(id).expect("known account");
            assert_eq!(info.balance, Decimal::from(deposit));
            assert_eq!(info.equity, Decimal::from(deposit));
            assert_eq!(info.margin_level, None, "no margin, no margin level");
        }
    }

    #[test]
    fn balance_is_deposits_plus_closed_pl_of_the_deal_history() {
        let world = world_after(42, 6 * 3_600);
        for id in account_ids(&world) {
            let deals = all_deals(&world, &id);
            let closes = deals
                .iter()
                .filter(|d| d.entry_type.as_deref() == Some("DEAL_ENTRY_OUT"))
                .count();
            if RANDOM.contains(&id.as_str()) {
                assert!(closes > 10, "{id}: only {closes} closed positions");
            }
            let from_history: Decimal = deals
                .iter()
                .map(|d| d.profit + d.commission.unwrap_or_default() + d.swap.unwrap_or_default())
                .sum();
            let info = world.account_information(&id).expect("known account");
            assert_eq!(info.balance, from_history, "{id}");
        }
    }

    #[test]
    fn equity_is_balance_plus_floating_pl_and_margin_figures_agree() {
        let world = world_after(42, 3_000);
        for id in account_ids(&world) {
            let info = world.account_information(&id).expect("known account");
            let positions = world.positions(&id).expect("known account");
            // Only the open part floats: MetaApi's cumulative `profit`, `swap` and
            // `commission` of a partly closed position also hold what its closed part realised.
            let floating: Decimal = positions
                .iter()
                .cloned()
                .map(|p| Position::try_from(p).expect("position").net_profit())
                .sum();
            assert_eq!(info.equity, info.balance + floating, "{id}");
            assert_eq!(info.free_margin, info.equity - info.margin, "{id}");
            if !info.margin.is_zero() {
                let level = (info.equity / info.margin * Decimal::ONE_HUNDRED).round_dp(2);
                assert_eq!(info.margin_level, Some(level), "{id}");
            }
        }
    }

    #[test]
    fn every_simulated_position_and_opening_deal_has_a_stop_loss() {
        let mut world = World::new(42, start(), SECOND, clock());
        let mut seen = 0;
        for k in 1..=3_000 {
            world.advance_to(start() + TimeDelta::seconds(k));
            for id in RANDOM {
                for p in world.positions(id).expect("known account") {
                    seen += 1;
                    let stop = p.stop_loss.expect("every position has a stop loss");
                    let on_the_right_side = match p.position_type.as_str() {
                        "POSITION_TYPE_BUY" => stop < p.open_price,
                        _ => stop > p.open_price,
                    };
                    assert!(on_the_right_side, "{p:?}");
                }
            }
        }
        assert!(seen > 1_000);
        for id in RANDOM {
            for deal in all_deals(&world, id) {
                if deal.entry_type.as_deref() == Some("DEAL_ENTRY_IN") && deal.symbol.is_some() {
                    assert!(deal.stop_loss.is_some(), "{deal:?}");
                }
            }
        }
    }

    #[test]
    fn positions_hitting_their_levels_close_at_the_level_price() {
        let world = world_after(42, 6 * 3_600);
        let mut by_reason: HashMap<String, usize> = HashMap::new();
        for id in account_ids(&world) {
            for deal in all_deals(&world, &id) {
                if deal.entry_type.as_deref() != Some("DEAL_ENTRY_OUT") {
                    continue;
                }
                let reason = deal.reason.clone().unwrap_or_default();
                match reason.as_str() {
                    "DEAL_REASON_SL" => assert_eq!(deal.price, deal.stop_loss, "{deal:?}"),
                    "DEAL_REASON_TP" => assert_eq!(deal.price, deal.take_profit, "{deal:?}"),
                    "DEAL_REASON_CLIENT" => {}
                    other => panic!("unexpected reason {other}"),
                }
                *by_reason.entry(reason).or_default() += 1;
            }
        }
        for reason in ["DEAL_REASON_SL", "DEAL_REASON_TP", "DEAL_REASON_CLIENT"] {
            assert!(
                by_reason.get(reason).is_some_and(|n| *n > 0),
                "{by_reason:?}"
            );
        }
    }

    #[test]
    fn closing_deal_profit_follows_price_difference_contract_size_and_volume() {
        let world = world_after(42, 3 * 3_600);
        for id in account_ids(&world) {
            let deals = all_deals(&world, &id);
            let opens: HashMap<_, _> = deals
                .iter()
                .filter(|d| d.entry_type.as_deref() == Some("DEAL_ENTRY_IN"))
                .filter_map(|d| Some((d.position_id.clone()?, d)))
                .collect();
            for close in deals
                .iter()
                .filter(|d| d.entry_type.as_deref() == Some("DEAL_ENTRY_OUT"))
            {
                let open = opens[&close.position_id.clone().expect("position id")];
                let symbol = close.symbol.clone().expect("symbol");
                let spec = world.specification(&symbol).expect("known symbol");
                let volume = close.volume.expect("volume");
                let (open_price, close_price) = (
                    open.price.expect("open price"),
                    close.price.expect("close price"),
                );
                let direction = if open.deal_type == "DEAL_TYPE_BUY" {
                    Decimal::ONE
                } else {
                    Decimal::NEGATIVE_ONE
                };
                let expected =
                    ((close_price - open_price) * direction * spec.contract_size * volume)
                        .round_dp(2);
                assert_eq!(close.profit, expected, "{close:?}");
                let commission = (Decimal::new(-7, 0) * volume).round_dp(2);
                let tolerance = Decimal::new(1, 2);
                assert!(
                    (close.commission.expect("commission") - commission).abs() <= tolerance,
                    "{close:?}"
                );
            }
        }
    }

    #[test]
    fn equity_moves_from_one_step_to_the_next_most_of_the_time() {
        let mut world = world_after(42, 600);
        let ids = RANDOM;
        let equities = |world: &World| -> Vec<Decimal> {
            ids.iter()
                .map(|id| world.account_information(id).expect("known account").equity)
                .collect()
        };
        let mut previous = equities(&world);
        let mut changes = vec![0; ids.len()];
        let steps = 1_000;
        for k in 1..=steps {
            world.advance_to(start() + TimeDelta::seconds(600 + k));
            let current = equities(&world);
            for (i, (a, b)) in previous.iter().zip(&current).enumerate() {
                if a != b {
                    changes[i] += 1;
                }
            }
            previous = current;
        }
        for (id, n) in ids.iter().zip(changes) {
            assert!(
                n * 100 >= steps * 80,
                "{id}: equity changed in {n} of {steps} steps"
            );
        }
    }

    #[test]
    fn prices_stay_on_the_tick_grid_and_ask_is_above_bid() {
        let world = world_after(42, 3_000);
        for name in world.symbol_names() {
            let spec = world.specification(name).expect("known symbol");
            let price = world.price("demo-gold-swing", name).expect("known symbol");
            assert!(price.ask > price.bid);
            assert!((price.bid % spec.tick_size).is_zero(), "{price:?}");
            assert!(price.bid.scale() <= spec.digits);
            assert_eq!(price.profit_tick_value, spec.tick_size * spec.contract_size);
            assert_eq!(price.loss_tick_value, price.profit_tick_value);
            assert_eq!(spec.min_volume, Decimal::new(1, 2));
            assert_eq!(spec.volume_step, Decimal::new(1, 2));
        }
    }

    #[test]
    fn deals_are_sorted_by_time_then_id_and_range_is_start_inclusive_end_exclusive() {
        let world = world_after(42, 3_600);
        let id = "demo-eurusd-scalper";
        let deals = all_deals(&world, id);
        let key = |d: &MetaDeal| (d.time, d.id.parse::<u64>().expect("numeric id"));
        assert!(deals.windows(2).all(|w| key(&w[0]) < key(&w[1])));

        let pivot = deals[deals.len() / 2].time;
        let before = world
            .deals(id, start(), pivot, 0, usize::MAX)
            .expect("known account");
        let after = world
            .deals(
                id,
                pivot,
                world.now() + TimeDelta::seconds(1),
                0,
                usize::MAX,
            )
            .expect("known account");
        assert!(before.iter().all(|d| d.time < pivot));
        assert_eq!(after.first().map(|d| d.time), Some(pivot));
        assert_eq!([before, after].concat(), deals);
    }

    #[test]
    fn pages_have_no_gap_and_no_duplicate_at_their_edges() {
        let world = world_after(42, 4 * 3_600);
        let id = "demo-eurusd-scalper";
        let end = world.now() + TimeDelta::seconds(1);
        let deals: Vec<_> = all_deals(&world, id).into_iter().take(50).collect();
        assert_eq!(deals.len(), 50);
        let end_of_50 = deals[49].time + TimeDelta::milliseconds(1);
        let expected = world
            .deals(id, start(), end_of_50, 0, usize::MAX)
            .expect("known account");
        for limit in [1, 7, 10, 49, 50, 1_000] {
            let mut paged = Vec::new();
            let mut offset = 0;
            loop {
                let page = world
                    .deals(id, start(), end_of_50, offset, limit)
                    .expect("known account");
                assert!(page.len() <= limit);
                offset += page.len();
                let last = page.len() < limit;
                paged.extend(page);
                if last {
                    break;
                }
            }
            assert_eq!(paged, expected, "limit {limit}");
        }
        assert!(world.deals(id, end, end, 0, 10).expect("ok").is_empty());
    }

    #[test]
    fn lookups_of_unknown_things_fail() {
        let mut world = World::new(42, start(), SECOND, clock());
        assert_eq!(
            world.set_frozen("nope", true),
            Err(WorldError::UnknownAccount("nope".into()))
        );
        let check = |got: Result<(), WorldError>, want: WorldError| assert_eq!(got, Err(want));
        check(
            world.account_information("nope").map(drop),
            WorldError::UnknownAccount("nope".into()),
        );
        check(
            world.position("demo-gold-swing", "1").map(drop),
            WorldError::UnknownPosition("1".into()),
        );
        check(
            world.price("demo-gold-swing", "DOGEUSD").map(drop),
            WorldError::UnknownSymbol("DOGEUSD".into()),
        );
        check(
            world.price("nope", "EURUSD").map(drop),
            WorldError::UnknownAccount("nope".into()),
        );

        check(
            world
                .deals(
                    "demo-gold-swing",
                    start(),
                    start() - TimeDelta::seconds(1),
                    0,
                    1,
                )
                .map(drop),
            WorldError::ReversedRange,
        );
    }

    #[test]
    fn swap_is_charged_at_broker_midnight() {
        // 21:59:00 UTC is 23:59 broker time; broker midnight is at 22:00 UTC.
        let before = DateTime::parse_from_rfc3339("2026-01-05T21:55:00Z")
            .expect("valid time")
            .to_utc();
        let script = ScriptClock {
            start: before,
            unit: TimeDelta::minutes(1),
        };
        let mut world = World::new(42, before, SECOND, script);
        world.advance_to(before + TimeDelta::seconds(299));
        let swaps = |w: &World| -> Decimal {
            account_ids(w)
                .iter()
                .flat_map(|id| w.positions(id).expect("known account"))
                .map(|p| p.swap.abs())
                .sum()
        };
        assert!(swaps(&world).is_zero());
        world.advance_to(before + TimeDelta::seconds(300));
        assert!(!swaps(&world).is_zero());
    }

    #[test]
    fn broker_time_is_utc_plus_two_with_milliseconds() {
        let t = DateTime::parse_from_rfc3339("2026-01-05T23:30:00.25Z")
            .expect("valid time")
            .to_utc();
        assert_eq!(broker_time(t), "2026-01-06 01:30:00.250");
        assert_eq!(utc_millis(t), "2026-01-05T23:30:00.250Z");
        assert_eq!(
            next_broker_midnight(t),
            DateTime::parse_from_rfc3339("2026-01-06T22:00:00Z")
                .expect("valid time")
                .to_utc()
        );
    }

    #[test]
    fn an_hour_of_one_second_steps_is_cheap() {
        let mut world = World::new(42, start(), SECOND, clock());
        let clock = std::time::Instant::now();
        world.advance_to(start() + TimeDelta::hours(1));
        let took = clock.elapsed();
        assert_eq!(world.steps(), 3_600);
        // About 2 ms in an unoptimised test build; the bound leaves room for a busy machine.
        assert!(took < Duration::from_millis(100), "took {took:?}");
    }

    #[test]
    fn script_paths_are_piecewise_linear_with_gaps_and_flat_ends() {
        let t = |s: i64| start() + TimeDelta::seconds(s);
        let script = Script {
            symbol: EURUSD,
            path: vec![(t(10), 1_000), (t(20), 900), (t(30), 900), (t(30), 700)],
            actions: Vec::new(),
            next: 0,
        };
        #[track_caller]
        fn check(script: &Script, at: DateTime<Utc>, want: i64) {
            assert_eq!(script.bid_at(at), Some(want), "{at}");
        }
        check(&script, t(0), 1_000);
        check(&script, t(10), 1_000);
        check(&script, t(15), 950);
        // Rounded towards the earlier point: the level is reached exactly at the next one.
        check(&script, t(20) - TimeDelta::milliseconds(1), 901);
        check(&script, t(20), 900);
        check(&script, t(30) - TimeDelta::milliseconds(1), 900);
        check(&script, t(30), 700);
        check(&script, t(9_999), 700);
        let empty = Script {
            path: Vec::new(),
            ..script
        };
        assert_eq!(empty.bid_at(t(5)), None);
    }

    #[test]
    fn the_script_starts_on_the_step_grid_after_the_world() {
        let step = TimeDelta::milliseconds(250);
        let at = |ms: i64| start() + TimeDelta::milliseconds(ms);
        assert_eq!(on_grid(start(), step, at(1_000)), at(1_000));
        assert_eq!(on_grid(start(), step, at(1_001)), at(1_250));
        assert_eq!(on_grid(start(), step, at(0)), at(250));
        assert_eq!(on_grid(start(), step, at(-60_000)), at(250));
        let world = World::new(
            42,
            start(),
            Duration::from_millis(250),
            ScriptClock {
                start: at(1_100),
                unit: TimeDelta::seconds(2),
            },
        );
        assert_eq!(world.script_clock().start, at(1_250));
    }

    /// A world whose scripts start at 10:00:00 in one-minute units, stepping once a second.
    fn scripted_world(start: DateTime<Utc>) -> World {
        let script = ScriptClock {
            start,
            unit: TimeDelta::minutes(1),
        };
        World::new(42, start - TimeDelta::minutes(10), SECOND, script)
    }

    fn at_minute(world: &World, minutes: i64) -> DateTime<Utc> {
        world.script_clock().start + TimeDelta::minutes(minutes)
    }

    fn dollars(world: &World, id: &str) -> (Decimal, Decimal) {
        let info = world.account_information(id).expect("known account");
        (info.balance, info.equity)
    }

    #[test]
    fn the_daily_breach_script_falls_through_its_floor_at_the_scripted_minute() {
        let mut world = scripted_world(start());
        let id = "demo-daily-breach";
        world.advance_to(at_minute(&world, 0) - SECOND_DELTA);
        assert_eq!(dollars(&world, id), (dec(100_000), dec(100_000)));
        world.advance_to(at_minute(&world, 0));
        let positions = world.positions(id).expect("known account");
        assert_eq!(positions.len(), 1);
        assert_eq!(positions[0].open_price, Decimal::new(110_008, 5));
        assert_eq!(positions[0].stop_loss, Some(Decimal::new(109_300, 5)));
        assert_eq!(positions[0].time, at_minute(&world, 0));
        world.advance_to(at_minute(&world, 4));
        assert_eq!(dollars(&world, id), (dec(100_000), dec(96_885)));
        world.advance_to(at_minute(&world, DAILY_BREACH_UNITS) - SECOND_DELTA);
        assert_eq!(
            dollars(&world, id).1,
            dec(96_885),
            "above the floor until the gap"
        );
        world.advance_to(at_minute(&world, DAILY_BREACH_UNITS));
        assert_eq!(dollars(&world, id).1, dec(94_385), "below the 95,000 floor");
        world.advance_to(at_minute(&world, 7));
        assert_eq!(
            dollars(&world, id).1,
            dec(94_385),
            "and there it stays a while"
        );
        world.advance_to(at_minute(&world, 8));
        assert_eq!(dollars(&world, id), (dec(92_850), dec(92_850)));
        let last = all_deals(&world, id).pop().expect("deals");
        assert_eq!(last.reason.as_deref(), Some("DEAL_REASON_SL"));
        assert_eq!(last.time, at_minute(&world, 8));
    }

    #[test]
    fn the_passing_script_closes_past_the_target_at_the_scripted_minute() {
        let mut world = scripted_world(start());
        let id = "demo-passing";
        world.advance_to(at_minute(&world, PASS_UNITS) - SECOND_DELTA);
        assert_eq!(world.positions(id).expect("known account").len(), 1);
        world.advance_to(at_minute(&world, PASS_UNITS));
        assert!(world.positions(id).expect("known account").is_empty());
        assert_eq!(dollars(&world, id), (dec(53_680), dec(53_680)));
    }

    #[test]
    fn the_deposit_script_deposits_after_a_small_profit() {
        let mut world = scripted_world(start());
        let id = "demo-deposit";
        world.advance_to(at_minute(&world, 3));
        assert_eq!(dollars(&world, id), (dec(25_485), dec(25_485)));
        world.advance_to(at_minute(&world, DEPOSIT_UNITS));
        assert_eq!(dollars(&world, id), (dec(30_485), dec(30_485)));
        let deposit = all_deals(&world, id).pop().expect("deals");
        assert_eq!(deposit.deal_type, "DEAL_TYPE_BALANCE");
        assert_eq!(deposit.profit, dec(5_000));
        assert_eq!(deposit.time, at_minute(&world, DEPOSIT_UNITS));
    }

    #[test]
    fn the_no_stop_script_holds_two_positions_without_levels() {
        let mut world = scripted_world(start());
        let id = "demo-no-stop";
        world.advance_to(at_minute(&world, 30));
        let positions = world.positions(id).expect("known account");
        assert_eq!(positions.len(), 2);
        assert!(
            positions
                .iter()
                .all(|p| p.stop_loss.is_none() && p.take_profit.is_none())
        );
        let deals = all_deals(&world, id);
        assert!(deals.iter().skip(1).all(|d| d.stop_loss.is_none()));
        // Quoted on its own path: 1.26850 from minute 15 on.
        let price = world.price(id, "GBPUSD").expect("known symbol");
        assert_eq!(price.bid, Decimal::new(126_850, 5));
    }

    /// MetaApi's shape of a partly closed position: the cumulative `profit`, `swap` and
    /// `commission` hold what the closed lot realised; the unrealized fields are the open
    /// part, and only they are the position's floating P/L.
    #[test]
    fn the_no_stop_script_partly_closes_its_buy_as_metaapi_reports_it() {
        let mut world = scripted_world(start());
        let id = "demo-no-stop";
        world.advance_to(at_minute(&world, PARTIAL_CLOSE_UNITS));
        let positions = world.positions(id).expect("known account");
        let buy = positions
            .iter()
            .find(|p| p.position_type == "POSITION_TYPE_BUY")
            .expect("the buy");
        assert_eq!(buy.volume, Decimal::new(2, 0));
        let close = all_deals(&world, id).pop().expect("the partial close");
        assert_eq!(close.volume, Some(Decimal::ONE));
        assert_eq!(close.profit, dec(38));
        assert_eq!(close.commission, Some(Decimal::new(-700, 2)));
        let realized = close.profit + close.commission.unwrap_or_default();
        assert_eq!(buy.realized_profit, Some(realized));
        assert_eq!(
            buy.profit,
            buy.unrealized_profit.unwrap_or_default() + realized
        );
        assert_eq!(buy.unrealized_commission, Some(Decimal::new(-700, 2)));
        assert_eq!(buy.commission, Decimal::new(-1400, 2));
        let open = Position::try_from(buy.clone()).expect("position");
        assert_eq!(open.commission, Decimal::new(-700, 2));
        assert_eq!(open.profit, buy.unrealized_profit.unwrap_or_default());
        // The account's equity counts the open part once, and the closed part is in the balance.
        let info = world.account_information(id).expect("info");
        let floating: Decimal = positions
            .iter()
            .cloned()
            .map(|p| Position::try_from(p).expect("position").net_profit())
            .sum();
        assert_eq!(info.equity - info.balance, floating);
    }

    #[test]
    fn the_overnight_script_holds_its_loss_across_midnight_in_prague() {
        // 22:50 UTC is 23:50 in Prague in January: midnight there is 23:00 UTC.
        let start = DateTime::parse_from_rfc3339("2026-01-05T22:50:00Z")
            .expect("valid time")
            .to_utc();
        let midnight = start + TimeDelta::minutes(10);
        let mut world = scripted_world(start);
        let id = "demo-overnight";
        world.advance_to(midnight - SECOND_DELTA);
        let (balance, before) = dollars(&world, id);
        assert_eq!(balance, dec(100_000));
        assert!(before < balance - dec(2_500), "{before}");
        world.advance_to(midnight + TimeDelta::minutes(OVERNIGHT_CLOSE_UNITS) - SECOND_DELTA);
        assert_eq!(world.positions(id).expect("known account").len(), 1);
        world.advance_to(midnight + TimeDelta::minutes(OVERNIGHT_CLOSE_UNITS));
        assert!(world.positions(id).expect("known account").is_empty());
        let close = all_deals(&world, id).pop().expect("deals");
        assert_eq!(
            close.time,
            midnight + TimeDelta::minutes(OVERNIGHT_CLOSE_UNITS)
        );
        assert!(close.profit < dec(-2_500), "{close:?}");
    }

    #[test]
    fn a_frozen_account_answers_the_same_until_it_thaws() {
        let mut world = scripted_world(start());
        let id = "demo-eurusd-scalper";
        world.advance_to(at_minute(&world, 2));
        world.set_frozen(id, true).expect("known account");
        world
            .set_frozen(id, true)
            .expect("freezing twice changes nothing");
        assert!(world.is_frozen(id).expect("known account"));
        let frozen_at = world.now();
        let answers = |w: &World| {
            (
                w.account_information(id).expect("known"),
                w.positions(id).expect("known"),
                all_deals(w, id),
                w.price(id, "EURUSD").expect("known"),
                w.server_time(id, start()).expect("known").last_quote_time,
            )
        };
        let before = answers(&world);
        assert_eq!(before.3.time, frozen_at);
        let other = dollars(&world, "demo-gold-swing");
        world.advance_to(at_minute(&world, 20));
        assert_eq!(answers(&world), before);
        assert_ne!(
            dollars(&world, "demo-gold-swing"),
            other,
            "the market goes on"
        );
        assert_eq!(
            world
                .server_time("demo-gold-swing", start())
                .expect("known")
                .last_quote_time,
            Some(world.now())
        );

        world.set_frozen(id, false).expect("known account");
        world.advance_to(at_minute(&world, 40));
        assert_ne!(answers(&world).0, before.0);
        let deals = all_deals(&world, id);
        assert!(
            deals
                .iter()
                .all(|d| d.time <= frozen_at || d.time > at_minute(&world, 20)),
            "no deal is dated inside the freeze"
        );
    }

    #[test]
    fn a_frozen_script_does_what_fell_due_when_it_thaws() {
        let mut world = scripted_world(start());
        let id = "demo-passing";
        world.advance_to(at_minute(&world, 1));
        world.set_frozen(id, true).expect("known account");
        world.advance_to(at_minute(&world, 10));
        assert_eq!(world.positions(id).expect("known account").len(), 1);
        world.set_frozen(id, false).expect("known account");
        world.advance_to(at_minute(&world, 10) + SECOND_DELTA);
        assert!(world.positions(id).expect("known account").is_empty());
        assert_eq!(dollars(&world, id).0, dec(53_680));
        let close = all_deals(&world, id).pop().expect("deals");
        assert_eq!(close.time, at_minute(&world, 10) + SECOND_DELTA);
    }

    #[test]
    fn freezing_one_account_leaves_the_others_history_unchanged() {
        let mut plain = scripted_world(start());
        let mut freezing = scripted_world(start());
        plain.advance_to(at_minute(&plain, 5));
        freezing.advance_to(at_minute(&freezing, 5));
        freezing
            .set_frozen("demo-eurusd-scalper", true)
            .expect("known account");
        plain.advance_to(at_minute(&plain, 30));
        freezing.advance_to(at_minute(&freezing, 30));
        // Deal ids are tickets shared by all accounts, so only the deals' contents can agree.
        let trades = |world: &World, id: &str| -> Vec<_> {
            all_deals(world, id)
                .into_iter()
                .map(|d| (d.time, d.deal_type, d.price, d.volume, d.profit))
                .collect()
        };
        for id in ["demo-gold-swing", "demo-index-breakout", "demo-passing"] {
            assert_eq!(trades(&plain, id), trades(&freezing, id), "{id}");
            assert_eq!(
                plain.account_information(id),
                freezing.account_information(id),
                "{id}"
            );
        }
    }

    /// Steps `world` second by second until `until`, feeding `id`'s new deals, account
    /// information and positions to the risk engine at the world's time, as the tracker does.
    fn through_the_engine(world: &mut World, id: &str, until: DateTime<Utc>) -> Challenge {
        let summary = world
            .accounts()
            .into_iter()
            .find(|a| a.id == id)
            .expect("known account");
        let mut challenge =
            Challenge::from_preset(&summary.preset, summary.initial_balance).expect("preset");
        let mut events = Vec::new();
        let mut fed = all_deals(world, id).len();
        while world.now() < until {
            world.advance_to(world.now() + SECOND_DELTA);
            let now = world.now();
            let deals = all_deals(world, id);
            let mut records: Vec<_> = deals[fed..]
                .iter()
                .map(|d| Record::new(now, RecordData::Deal(Deal::from(d.clone()))))
                .collect();
            fed = deals.len();
            let info = world.account_information(id).expect("known account");
            records.push(Record::new(
                now,
                RecordData::AccountInformation(info.into()),
            ));
            let positions = world
                .positions(id)
                .expect("known account")
                .into_iter()
                .map(|p| Position::try_from(p).expect("known side"))
                .collect();
            records.push(Record::new(now, RecordData::Positions(positions)));
            for record in &records {
                challenge.apply(record, &mut events).expect("accepted");
            }
        }
        challenge
    }

    fn first(challenge: &Challenge, kind: EventKind) -> Option<&Event> {
        challenge.events().iter().find(|e| e.kind == kind)
    }

    #[test]
    fn the_engine_sees_the_scripted_breach_at_the_scripted_instant() {
        let mut world = scripted_world(start());
        let until = at_minute(&world, 10);
        let challenge = through_the_engine(&mut world, "demo-daily-breach", until);
        let breach = first(&challenge, EventKind::Breach).expect("a breach");
        assert_eq!(breach.rule.as_deref(), Some("daily_loss"));
        assert_eq!(breach.time, at_minute(&world, DAILY_BREACH_UNITS));
        assert_eq!(challenge.status(), ChallengeStatus::Failed);
        let warning = first(&challenge, EventKind::Warning).expect("warnings first");
        assert!(warning.time < breach.time);
        assert_ne!(
            challenge.rule_status("max_loss"),
            Some(RuleStatus::Breached),
            "the stop keeps the loss within the maximum"
        );
    }

    #[test]
    fn the_engine_passes_the_passing_script_and_not_the_deposit() {
        let mut world = scripted_world(start());
        let until = at_minute(&world, 10);
        let passing = through_the_engine(&mut world, "demo-passing", until);
        let passed = first(&passing, EventKind::Passed).expect("passed");
        assert_eq!(passed.time, at_minute(&world, PASS_UNITS));
        assert_eq!(passing.status(), ChallengeStatus::Passed);

        let mut world = scripted_world(start());
        let deposit = through_the_engine(&mut world, "demo-deposit", until);
        assert_eq!(deposit.status(), ChallengeStatus::Active);
        assert!(first(&deposit, EventKind::Passed).is_none());
        let metrics = deposit.metrics();
        assert_eq!(metrics.net_deposits, dec(5_000));
        assert_eq!(metrics.balance, dec(30_485));
    }

    #[test]
    fn the_engine_starts_the_day_after_prague_midnight_with_the_loss_floating() {
        let start = DateTime::parse_from_rfc3339("2026-01-05T22:50:00Z")
            .expect("valid time")
            .to_utc();
        let midnight = start + TimeDelta::minutes(10);
        let mut world = scripted_world(start);
        let challenge = through_the_engine(&mut world, "demo-overnight", midnight + SECOND_DELTA);
        let anchors = challenge.anchors();
        assert_eq!(anchors.start_of_day_balance, dec(100_000));
        assert!(
            anchors.start_of_day_equity < dec(97_500),
            "the new day starts with the loss floating: {anchors:?}"
        );
        assert_eq!(challenge.status(), ChallengeStatus::Active);
    }

    #[test]
    fn the_no_stop_positions_are_unbounded_risk_for_the_engine() {
        let mut world = scripted_world(start());
        let until = at_minute(&world, 3);
        let challenge = through_the_engine(&mut world, "demo-no-stop", until);
        let metrics = challenge.metrics();
        assert_eq!(metrics.unbounded_positions, 2);
    }
}
