//! Broker data, normalised.
//!
//! Every connector (MetaApi, the demo broker, later cTrader) converts its own wire format into
//! these types at its edge; nothing above the connectors knows a broker's JSON. Money, prices and
//! volumes are [`Decimal`]: never `f64`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// An amount of money in the account currency.
pub type Money = Decimal;
/// A price quoted by the broker.
pub type Price = Decimal;
/// A trade volume in lots.
pub type Lots = Decimal;

/// Riskdeck's identifier of a tracked trading account (not the broker's login number).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct AccountId(pub String);

impl AccountId {
    /// The identifier as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for AccountId {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Account-level numbers as the broker reports them at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// Closed balance: deposits, withdrawals and realised P/L.
    pub balance: Money,
    /// Balance plus floating P/L (including swap and commission of open positions).
    pub equity: Money,
    /// Margin in use.
    pub margin: Money,
    /// Equity not tied up as margin.
    pub free_margin: Money,
    /// Equity / margin in percent, when margin is in use.
    pub margin_level: Option<Decimal>,
    /// Account currency, e.g. `USD`.
    pub currency: String,
    /// Leverage, e.g. 100 for 1:100.
    pub leverage: Option<u32>,
    /// Broker credit (not the trader's money).
    pub credit: Money,
}

impl AccountInfo {
    /// Equity minus balance: the open positions' P/L.
    pub fn floating_pl(&self) -> Money {
        self.equity - self.balance
    }
}

/// Direction of a position or trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Long: profits when the price rises.
    Buy,
    /// Short: profits when the price falls.
    Sell,
}

/// An open position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The broker's position id.
    pub id: String,
    /// Instrument, e.g. `EURUSD`.
    pub symbol: String,
    /// Long or short.
    pub side: Side,
    /// Size in lots.
    pub volume: Lots,
    /// Entry price.
    pub open_price: Price,
    /// Latest price the broker valued the position at.
    pub current_price: Price,
    /// Stop loss, when set.
    pub stop_loss: Option<Price>,
    /// Take profit, when set.
    pub take_profit: Option<Price>,
    /// Floating profit of the position's open part, excluding swap and commission (MetaApi's
    /// `unrealizedProfit`: what a partly closed position already realised belongs to its
    /// closing deals, never here).
    pub profit: Money,
    /// Swap of the open part (MetaApi's `unrealizedSwap`).
    pub swap: Money,
    /// Commission of the open part not yet in the balance (MetaApi's `unrealizedCommission`).
    pub commission: Money,
    /// When the position was opened.
    pub open_time: DateTime<Utc>,
}

impl Position {
    /// Floating P/L of the open part, including its swap and commission.
    pub fn net_profit(&self) -> Money {
        self.profit + self.swap + self.commission
    }
}

/// What a deal did to the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealKind {
    /// A buy trade.
    Buy,
    /// A sell trade.
    Sell,
    /// A deposit or a withdrawal: moves balance, never profit or loss.
    Balance,
    /// Broker credit.
    Credit,
    /// A charge by the broker.
    Charge,
    /// A balance correction by the broker.
    Correction,
    /// A bonus.
    Bonus,
    /// A commission booked as its own deal.
    Commission,
    /// Interest credited or charged on the account (MT5 `DEAL_TYPE_INTEREST`).
    Interest,
    /// A dividend or its adjustment on a position (MT5 `DEAL_DIVIDEND`, `DEAL_DIVIDEND_FRANKED`;
    /// cTrader's dividend cash flows).
    Dividend,
    /// A tax (MT5 `DEAL_TAX`), e.g. withheld on a dividend.
    Tax,
    /// Any other kind the broker reports.
    Other,
}

/// Whether a trade deal opened or closed a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealEntry {
    /// Opens (or adds to) a position.
    In,
    /// Closes (or reduces) a position.
    Out,
    /// Reverses a position (netting accounts).
    InOut,
    /// Closes a position by an opposite one.
    OutBy,
}

/// One entry of the account's deal history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deal {
    /// The broker's deal id.
    pub id: String,
    /// Trade, balance operation, ...
    pub kind: DealKind,
    /// Open or close, for trade deals.
    pub entry: Option<DealEntry>,
    /// Instrument, for trade deals.
    pub symbol: Option<String>,
    /// When the deal was executed.
    pub time: DateTime<Utc>,
    /// Volume in lots, for trade deals.
    pub volume: Option<Lots>,
    /// Execution price, for trade deals.
    pub price: Option<Price>,
    /// Profit of the deal (for closing deals, the position's gross profit).
    pub profit: Money,
    /// Commission of the deal.
    pub commission: Money,
    /// Swap of the deal.
    pub swap: Money,
    /// The position this deal belongs to.
    pub position_id: Option<String>,
    /// Why the deal happened (`DEAL_REASON_SL`, ...), as the broker says.
    pub reason: Option<String>,
}

impl Deal {
    /// Closed P/L of the deal: profit + commission + swap.
    pub fn closed_pl(&self) -> Money {
        self.profit + self.commission + self.swap
    }

    /// Deposits, withdrawals and other money movements that are not trading results.
    pub fn is_balance_operation(&self) -> bool {
        matches!(
            self.kind,
            DealKind::Balance | DealKind::Credit | DealKind::Bonus | DealKind::Correction
        )
    }

    /// Interest, dividend and tax deals: a firm chooses whether they count as trading P/L
    /// (`shared::engine::PlCounting`).
    pub fn is_interest_dividend_or_tax(&self) -> bool {
        matches!(
            self.kind,
            DealKind::Interest | DealKind::Dividend | DealKind::Tax
        )
    }

    /// A trade deal that opened (or added to) a position.
    pub fn is_opening_trade(&self) -> bool {
        matches!(self.kind, DealKind::Buy | DealKind::Sell) && self.entry == Some(DealEntry::In)
    }

    /// A trade deal that opened a position: an opening deal, or a reversal of a netting
    /// position (`DEAL_ENTRY_INOUT`), which closes one position and opens the opposite. Only a
    /// buy or a sell executes a trade: a commission, charge, balance, credit, interest or
    /// dividend deal never does, whatever entry type the broker gives it.
    pub fn executes_opening_trade(&self) -> bool {
        matches!(self.kind, DealKind::Buy | DealKind::Sell)
            && matches!(self.entry, Some(DealEntry::In | DealEntry::InOut))
    }

    /// A trade deal that closed (part of) a position.
    pub fn is_closing_trade(&self) -> bool {
        matches!(self.kind, DealKind::Buy | DealKind::Sell)
            && matches!(
                self.entry,
                Some(DealEntry::Out | DealEntry::InOut | DealEntry::OutBy)
            )
    }
}

/// A symbol's current price and the value of one tick in the account currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolPrice {
    /// Instrument.
    pub symbol: String,
    /// Bid price.
    pub bid: Price,
    /// Ask price.
    pub ask: Price,
    /// Value of one tick of profit for one lot, in account currency.
    pub profit_tick_value: Money,
    /// Value of one tick of loss for one lot, in account currency.
    pub loss_tick_value: Money,
    /// Quote time.
    pub time: DateTime<Utc>,
}

/// Static properties of a symbol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolSpec {
    /// Instrument.
    pub symbol: String,
    /// Smallest price change.
    pub tick_size: Price,
    /// Units per lot.
    pub contract_size: Decimal,
    /// Price digits.
    pub digits: u32,
    /// Smallest volume in lots.
    pub min_volume: Lots,
    /// Largest volume in lots.
    pub max_volume: Lots,
    /// Volume granularity in lots.
    pub volume_step: Lots,
}

/// What a connector observed of an account at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    /// When it was observed (broker time in UTC when known, otherwise the poll time).
    pub time: DateTime<Utc>,
    /// Account-level numbers.
    pub info: AccountInfo,
    /// Open positions.
    pub positions: Vec<Position>,
}

/// What a pending order does when it triggers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Buy at market (not yet executed).
    Buy,
    /// Sell at market (not yet executed).
    Sell,
    /// Buy when the price falls to the order's price.
    BuyLimit,
    /// Sell when the price rises to the order's price.
    SellLimit,
    /// Buy when the price rises to the order's price.
    BuyStop,
    /// Sell when the price falls to the order's price.
    SellStop,
    /// A buy limit placed when the price rises to the stop price.
    BuyStopLimit,
    /// A sell limit placed when the price falls to the stop price.
    SellStopLimit,
    /// Closes a position by an opposite one.
    CloseBy,
    /// Any other kind the broker reports.
    Other,
}

/// A pending order: placed, not (fully) filled yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The broker's order id.
    pub id: String,
    /// Instrument, e.g. `EURUSD`.
    pub symbol: String,
    /// Limit, stop, ...
    pub kind: OrderKind,
    /// Volume still to be filled, in lots.
    pub volume: Lots,
    /// The price the order triggers at, when it has one.
    pub open_price: Option<Price>,
    /// Stop loss of the position it would open, when set.
    pub stop_loss: Option<Price>,
    /// Take profit of the position it would open, when set.
    pub take_profit: Option<Price>,
    /// When the order was placed.
    pub time: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn deal(kind: DealKind, entry: Option<DealEntry>) -> Deal {
        Deal {
            id: "1".into(),
            kind,
            entry,
            symbol: None,
            time: DateTime::<Utc>::UNIX_EPOCH,
            volume: None,
            price: None,
            profit: dec!(-100.50),
            commission: dec!(-3.5),
            swap: dec!(-1),
            position_id: None,
            reason: None,
        }
    }

    #[test]
    fn closed_pl_includes_commission_and_swap() {
        assert_eq!(
            deal(DealKind::Sell, Some(DealEntry::Out)).closed_pl(),
            dec!(-105.00)
        );
    }

    #[test]
    fn deposits_are_balance_operations_not_trades() {
        let deposit = deal(DealKind::Balance, None);
        assert!(deposit.is_balance_operation());
        assert!(!deposit.is_closing_trade());
        assert!(deal(DealKind::Buy, Some(DealEntry::Out)).is_closing_trade());
        assert!(!deal(DealKind::Buy, Some(DealEntry::In)).is_closing_trade());
    }

    #[test]
    fn money_serialises_as_exact_decimal_strings() {
        let info = AccountInfo {
            balance: dec!(100000.10),
            equity: dec!(99999.99),
            margin: dec!(0),
            free_margin: dec!(99999.99),
            margin_level: None,
            currency: "USD".into(),
            leverage: Some(100),
            credit: dec!(0),
        };
        let json = serde_json::to_string(&info).expect("serialise");
        assert!(json.contains(r#""balance":"100000.10""#), "{json}");
        let back: AccountInfo = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, info);
        assert_eq!(info.floating_pl(), dec!(-0.11));
    }
}
