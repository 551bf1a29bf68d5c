//! The demo broker's simulated market and traders: a pure, deterministic state machine.
//!
//! `World` knows four USD-quoted symbols whose prices are random walks in whole ticks, and three
//! demo accounts, each with a simulated trader who opens positions (always with a stop loss,
//! usually with a take profit) and closes them at the stop loss, at the take profit or at random.
//! It hands out its state in MetaApi's wire shapes so the HTTP layer only has to serialise them.
//!
//! This module must not do IO, read the clock or use any randomness other than its own seeded
//! generator: given the same seed, start and step, the state after `k` steps is always the same,
//! however the steps were batched. The caller decides what "now" is and calls
//! [`World::advance_to`].
//!
//! Money model (the one `shared::domain` documents for `AccountInfo` and `Deal`):
//! - balance = deposits + closed P/L of every deal (`profit + commission + swap`);
//! - equity = balance + floating P/L of open positions (`profit + swap + commission`);
//! - the commission of the opening side is carried by the open position, and the closing deal
//!   books both sides, so the entry deal has commission 0 and nothing is counted twice.

use chrono::{DateTime, Days, SecondsFormat, TimeDelta, Utc};
use rust_decimal::Decimal;

use crate::broker::metaapi::wire::{
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq)]
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

#[derive(Clone, Debug, PartialEq, Eq)]
struct OpenPosition {
    id: u64,
    symbol: usize,
    side: Side,
    volume: Decimal,
    open_ticks: i64,
    stop_ticks: i64,
    take_profit_ticks: Option<i64>,
    time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    swap: Decimal,
    /// The opening side's commission (negative), realised with the closing deal.
    commission: Decimal,
}

impl OpenPosition {
    fn profit_at(&self, symbol: &Symbol, ticks: i64) -> Decimal {
        let moved = match self.side {
            Side::Buy => ticks - self.open_ticks,
            Side::Sell => self.open_ticks - ticks,
        };
        (Decimal::from(moved) * symbol.tick_value() * self.volume).round_dp(2)
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
                now <= self.stop_ticks,
                self.take_profit_ticks.is_some_and(|tp| now >= tp),
            ),
            Side::Sell => (
                now >= self.stop_ticks,
                self.take_profit_ticks.is_some_and(|tp| now <= tp),
            ),
        };
        if stop_hit {
            Some((self.stop_ticks, CloseReason::StopLoss))
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
    profile: Profile,
    /// The challenge this account is on: a preset of the risk engine.
    preset: &'static str,
    /// The funded balance the challenge starts from (the initial deposit).
    initial_balance: Decimal,
    balance: Decimal,
    positions: Vec<OpenPosition>,
    /// Sorted by time, then id, by construction: ids only grow and time never goes back.
    deals: Vec<MetaDeal>,
}

impl Account {
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

/// Everything the step needs besides the accounts, borrowed separately from them.
struct Market<'a> {
    rng: &'a mut fastrand::Rng,
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
}

impl World {
    /// A world at `start`, where each account has just received its initial deposit.
    /// A zero `step` is taken as one millisecond, and a step too large for the calendar as one
    /// day, so that [`World::advance_to`] always makes progress.
    pub fn new(seed: u64, start: DateTime<Utc>, step: std::time::Duration) -> World {
        let step = TimeDelta::from_std(step)
            .unwrap_or(TimeDelta::days(1))
            .max(TimeDelta::milliseconds(1));
        let mut tickets = Tickets {
            deal: 1_000_000,
            order: 50_000_000,
        };
        let mut accounts = vec![
            Account {
                id: "demo-eurusd-scalper",
                name: "EURUSD Scalper (demo)",
                login: 51_000_001,
                magic: 1001,
                profile: Profile {
                    symbols: &[0, 1],
                    open_when_flat: 0.25,
                    open_when_busy: 1.0 / 45.0,
                    close_at_random: 1.0 / 400.0,
                    max_positions: 3,
                    stop_ticks: (40, 150),
                    take_profit_chance: 0.9,
                    volume_hundredths: (50, 200),
                    trend_following: 0.75,
                },
                preset: "ftmo-2step",
                initial_balance: Decimal::from(100_000),
                balance: Decimal::from(100_000),
                positions: Vec::new(),
                deals: Vec::new(),
            },
            Account {
                id: "demo-gold-swing",
                name: "Gold Swing (demo)",
                login: 51_000_002,
                magic: 2002,
                profile: Profile {
                    symbols: &[2],
                    open_when_flat: 0.1,
                    open_when_busy: 1.0 / 300.0,
                    close_at_random: 1.0 / 1800.0,
                    max_positions: 2,
                    stop_ticks: (300, 1_200),
                    take_profit_chance: 0.75,
                    volume_hundredths: (10, 100),
                    trend_following: 0.5,
                },
                preset: "ftmo-1step",
                initial_balance: Decimal::from(50_000),
                balance: Decimal::from(50_000),
                positions: Vec::new(),
                deals: Vec::new(),
            },
            Account {
                id: "demo-index-breakout",
                name: "Index Breakout (demo)",
                login: 51_000_003,
                magic: 3003,
                profile: Profile {
                    symbols: &[3],
                    open_when_flat: 0.15,
                    open_when_busy: 1.0 / 120.0,
                    close_at_random: 1.0 / 900.0,
                    max_positions: 2,
                    stop_ticks: (150, 600),
                    take_profit_chance: 0.8,
                    volume_hundredths: (10, 200),
                    trend_following: 0.8,
                },
                preset: "fundednext-2step",
                initial_balance: Decimal::from(25_000),
                balance: Decimal::from(25_000),
                positions: Vec::new(),
                deals: Vec::new(),
            },
        ];
        for account in &mut accounts {
            let id = tickets.deal();
            account.deals.push(MetaDeal {
                id,
                deal_type: "DEAL_TYPE_BALANCE".into(),
                entry_type: Some("DEAL_ENTRY_IN".into()),
                symbol: None,
                time: start,
                broker_time: Some(broker_time(start)),
                volume: None,
                price: None,
                commission: None,
                swap: None,
                profit: account.balance,
                position_id: None,
                order_id: None,
                reason: Some("DEAL_REASON_CLIENT".into()),
                stop_loss: None,
                take_profit: None,
            });
        }
        World {
            rng: fastrand::Rng::with_seed(seed),
            step,
            now: start,
            steps: 0,
            next_rollover: next_broker_midnight(start),
            symbols: symbols(),
            accounts,
            tickets,
        }
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
        let equity = a.balance + a.floating(&self.symbols);
        let margin = a.margin(&self.symbols);
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
        let symbol = &self.symbols[p.symbol];
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
            stop_loss: Some(symbol.price(p.stop_ticks)),
            take_profit: p.take_profit_ticks.map(|t| symbol.price(t)),
            volume: p.volume,
            swap: p.swap,
            profit,
            unrealized_profit: Some(profit + p.swap),
            realized_profit: Some(Decimal::ZERO),
            commission: p.commission,
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

    /// `GET /symbols/:symbol/current-price`, stamped with the time of the last step.
    pub fn price(&self, symbol: &str) -> Result<MetaSymbolPrice, WorldError> {
        let s = self.symbol(symbol)?;
        Ok(MetaSymbolPrice {
            symbol: s.name.into(),
            bid: s.price(s.bid_ticks),
            ask: s.price(s.ask_ticks()),
            profit_tick_value: s.tick_value(),
            loss_tick_value: s.tick_value(),
            time: self.now,
            broker_time: Some(broker_time(self.now)),
        })
    }

    /// `GET /server-time`, where `now` is the caller's clock and the last quote is the last step.
    pub fn server_time(&self, now: DateTime<Utc>) -> ServerTime {
        ServerTime {
            time: now,
            broker_time: broker_time(now),
            last_quote_time: Some(self.now),
            last_quote_broker_time: Some(broker_time(self.now)),
        }
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
        let mut market = Market {
            rng: &mut self.rng,
            symbols: &self.symbols,
            tickets: &mut self.tickets,
            now: self.now,
        };
        for account in &mut self.accounts {
            trade(account, &mut market);
        }
    }

    /// Charges a night's swap on every open position at the broker's midnight.
    fn rollover(&mut self) {
        for account in &mut self.accounts {
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

/// The first broker midnight strictly after `t`, in UTC.
fn next_broker_midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    let offset = TimeDelta::hours(BROKER_UTC_OFFSET_HOURS);
    let local_day = (t + offset).date_naive();
    let next_day = local_day
        .checked_add_days(Days::new(1))
        .unwrap_or(local_day);
    next_day.and_time(chrono::NaiveTime::MIN).and_utc() - offset
}

/// One step of one account's trader: close what hit its levels or what it tires of, then maybe
/// open something new.
fn trade(account: &mut Account, market: &mut Market<'_>) {
    let mut i = 0;
    while i < account.positions.len() {
        let p = &account.positions[i];
        let symbol = &market.symbols[p.symbol];
        let close = p.level_hit(symbol).or_else(|| {
            (market.rng.f64() < account.profile.close_at_random)
                .then(|| (symbol.close_ticks(p.side), CloseReason::Client))
        });
        match close {
            Some((ticks, reason)) => {
                let p = account.positions.remove(i);
                close_position(account, p, ticks, reason, market);
            }
            None => i += 1,
        }
    }

    let profile = &account.profile;
    let chance = if account.positions.is_empty() {
        profile.open_when_flat
    } else {
        profile.open_when_busy
    };
    if account.positions.len() < profile.max_positions && market.rng.f64() < chance {
        open_position(account, market);
    }
}

fn open_position(account: &mut Account, market: &mut Market<'_>) {
    let profile = &account.profile;
    let rng = &mut *market.rng;
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
    let (open_ticks, direction) = match side {
        Side::Buy => (symbol.ask_ticks(), 1),
        Side::Sell => (symbol.bid_ticks, -1),
    };

    // A careful trader: never commit more than half of the equity as margin.
    let equity = account.balance + account.floating(market.symbols);
    let margin = account.margin(market.symbols) + margin_for(symbol, volume, open_ticks);
    if margin * Decimal::TWO > equity {
        return;
    }

    let position = OpenPosition {
        id: market.tickets.order(),
        symbol: symbol_index,
        side,
        volume,
        open_ticks,
        stop_ticks: open_ticks - direction * stop,
        take_profit_ticks: take.map(|t| open_ticks + direction * t),
        time: market.now,
        update_time: market.now,
        swap: Decimal::ZERO,
        commission: (COMMISSION_PER_LOT_PER_SIDE * volume).round_dp(2),
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
        stop_loss: Some(symbol.price(position.stop_ticks)),
        take_profit: position.take_profit_ticks.map(|t| symbol.price(t)),
    });
    account.positions.push(position);
}

fn close_position(
    account: &mut Account,
    p: OpenPosition,
    ticks: i64,
    reason: CloseReason,
    market: &mut Market<'_>,
) {
    let symbol = &market.symbols[p.symbol];
    let profit = p.profit_at(symbol, ticks);
    // Both sides' commission is booked on the closing deal; see the module docs.
    let commission = p.commission + p.commission;
    account.balance += profit + commission + p.swap;
    account.deals.push(MetaDeal {
        id: market.tickets.deal(),
        deal_type: match p.side {
            Side::Buy => "DEAL_TYPE_SELL",
            Side::Sell => "DEAL_TYPE_BUY",
        }
        .into(),
        entry_type: Some("DEAL_ENTRY_OUT".into()),
        symbol: Some(symbol.name.into()),
        time: market.now,
        broker_time: Some(broker_time(market.now)),
        volume: Some(p.volume),
        price: Some(symbol.price(ticks)),
        commission: Some(commission),
        swap: Some(p.swap),
        profit,
        position_id: Some(p.id.to_string()),
        order_id: Some(market.tickets.order().to_string()),
        reason: Some(reason.wire().into()),
        stop_loss: Some(symbol.price(p.stop_ticks)),
        take_profit: p.take_profit_ticks.map(|t| symbol.price(t)),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    const SECOND: Duration = Duration::from_secs(1);

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-05T08:00:00Z")
            .expect("valid time")
            .to_utc()
    }

    fn world_after(seed: u64, steps: i64) -> World {
        let mut world = World::new(seed, start(), SECOND);
        world.advance_to(start() + TimeDelta::seconds(steps));
        world
    }

    fn account_ids(world: &World) -> Vec<String> {
        world.accounts().into_iter().map(|a| a.id).collect()
    }

    fn all_deals(world: &World, account: &str) -> Vec<MetaDeal> {
        world
            .deals(
                account,
                start(),
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
        let mut batched = World::new(42, start(), SECOND);
        for k in (0..=2_000).step_by(137) {
            // Times between steps must not run partial steps.
            batched.advance_to(start() + TimeDelta::milliseconds(k * 1_000 + 999));
        }
        batched.advance_to(start() + TimeDelta::seconds(2_000));
        assert_eq!(batched, at_once);
    }

    #[test]
    fn advance_runs_only_whole_steps() {
        let mut world = World::new(42, start(), SECOND);
        world.advance_to(start() + TimeDelta::milliseconds(999));
        assert_eq!(world.steps(), 0);
        world.advance_to(start() + TimeDelta::milliseconds(3_500));
        assert_eq!(world.steps(), 3);
        assert_eq!(world.now(), start() + TimeDelta::seconds(3));
        world.advance_to(start());
        assert_eq!(world.steps(), 3, "going back in time does nothing");
    }

    #[test]
    fn there_are_three_accounts_with_their_initial_deposits() {
        let world = World::new(42, start(), SECOND);
        let expected = [
            ("demo-eurusd-scalper", 100_000),
            ("demo-gold-swing", 50_000),
            ("demo-index-breakout", 25_000),
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
            assert!(closes > 10, "{id}: only {closes} closed positions");
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
            let floating: Decimal = positions
                .iter()
                .map(|p| p.profit + p.swap + p.commission)
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
    fn every_position_and_every_opening_deal_has_a_stop_loss() {
        let mut world = World::new(42, start(), SECOND);
        let mut seen = 0;
        for k in 1..=3_000 {
            world.advance_to(start() + TimeDelta::seconds(k));
            for id in account_ids(&world) {
                for p in world.positions(&id).expect("known account") {
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
        for id in account_ids(&world) {
            for deal in all_deals(&world, &id) {
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
        let ids = account_ids(&world);
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
            let price = world.price(name).expect("known symbol");
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
        let world = World::new(42, start(), SECOND);
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
            world.price("DOGEUSD").map(drop),
            WorldError::UnknownSymbol("DOGEUSD".into()),
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
        let mut world = World::new(42, before, SECOND);
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
        let mut world = World::new(42, start(), SECOND);
        let clock = std::time::Instant::now();
        world.advance_to(start() + TimeDelta::hours(1));
        let took = clock.elapsed();
        assert_eq!(world.steps(), 3_600);
        // About 2 ms in an unoptimised test build; the bound leaves room for a busy machine.
        assert!(took < Duration::from_millis(100), "took {took:?}");
    }
}
