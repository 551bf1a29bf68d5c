//! MetaApi's REST JSON shapes, field for field (see brokers.md, section 1), and their conversion
//! into `shared::domain` types. Only the connector (`broker`) and the demo broker (`demo`) use
//! these types.
//!
//! Numbers arrive as JSON numbers; `rust_decimal` reads them through their shortest round-trip
//! text, so `10000.55` becomes exactly `10000.55`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::domain::{
    AccountInfo, Deal, DealEntry, DealKind, Order, OrderKind, Position, Side, SymbolPrice,
    SymbolSpec,
};

/// `GET /users/current/accounts/:accountId/account-information`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInformation {
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub broker: Option<String>,
    pub currency: String,
    #[serde(default)]
    pub server: Option<String>,
    pub balance: Decimal,
    pub equity: Decimal,
    #[serde(default)]
    pub margin: Decimal,
    #[serde(default)]
    pub free_margin: Decimal,
    #[serde(default)]
    pub leverage: Option<u32>,
    #[serde(default)]
    pub margin_level: Option<Decimal>,
    #[serde(default)]
    pub trade_allowed: Option<bool>,
    #[serde(default)]
    pub investor_mode: Option<bool>,
    #[serde(default)]
    pub margin_mode: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub login: Option<u64>,
    #[serde(default)]
    pub credit: Decimal,
    #[serde(default, rename = "type")]
    pub account_type: Option<String>,
    #[serde(default)]
    pub currency_digits: Option<u32>,
}

impl From<AccountInformation> for AccountInfo {
    fn from(w: AccountInformation) -> Self {
        AccountInfo {
            balance: w.balance,
            equity: w.equity,
            margin: w.margin,
            free_margin: w.free_margin,
            margin_level: w.margin_level,
            currency: w.currency,
            leverage: w.leverage,
            credit: w.credit,
        }
    }
}

/// One element of `GET /users/current/accounts/:accountId/positions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaPosition {
    pub id: String,
    #[serde(rename = "type")]
    pub position_type: String,
    pub symbol: String,
    #[serde(default)]
    pub magic: Option<i64>,
    pub time: DateTime<Utc>,
    #[serde(default)]
    pub broker_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<DateTime<Utc>>,
    pub open_price: Decimal,
    pub current_price: Decimal,
    #[serde(default)]
    pub current_tick_value: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_loss: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take_profit: Option<Decimal>,
    pub volume: Decimal,
    #[serde(default)]
    pub swap: Decimal,
    #[serde(default)]
    pub profit: Decimal,
    #[serde(default)]
    pub unrealized_profit: Option<Decimal>,
    #[serde(default)]
    pub realized_profit: Option<Decimal>,
    #[serde(default)]
    pub commission: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unrealized_swap: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realized_swap: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unrealized_commission: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realized_commission: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A record from the broker that cannot be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("unknown position type {0:?}")]
    PositionType(String),
}

impl MetaPosition {
    /// The open part's P/L, excluding swap and commission. MetaApi's `profit` is cumulative:
    /// `unrealizedProfit` (the open part, without swap and commission) plus `realizedProfit`
    /// (what partial closes already realised, with their swap and commission), which belongs
    /// to the closing deals. Without `unrealizedProfit`, it is `profit - realizedProfit`.
    pub fn open_profit(&self) -> Decimal {
        self.unrealized_profit.unwrap_or_else(|| {
            self.profit
                .saturating_sub(self.realized_profit.unwrap_or_default())
        })
    }

    /// The open part's swap: `unrealizedSwap`, or the cumulative `swap` less `realizedSwap`.
    pub fn open_swap(&self) -> Decimal {
        self.unrealized_swap.unwrap_or_else(|| {
            self.swap
                .saturating_sub(self.realized_swap.unwrap_or_default())
        })
    }

    /// The open part's commission: `unrealizedCommission`, or the cumulative `commission` less
    /// `realizedCommission`.
    pub fn open_commission(&self) -> Decimal {
        self.unrealized_commission.unwrap_or_else(|| {
            self.commission
                .saturating_sub(self.realized_commission.unwrap_or_default())
        })
    }
}

impl TryFrom<MetaPosition> for Position {
    type Error = WireError;

    /// The open part of the position: what a partial close realised is in its deals, so it is
    /// never counted here again.
    fn try_from(w: MetaPosition) -> Result<Self, Self::Error> {
        let side = match w.position_type.as_str() {
            "POSITION_TYPE_BUY" => Side::Buy,
            "POSITION_TYPE_SELL" => Side::Sell,
            _ => return Err(WireError::PositionType(w.position_type)),
        };
        let (profit, swap, commission) = (w.open_profit(), w.open_swap(), w.open_commission());
        Ok(Position {
            id: w.id,
            symbol: w.symbol,
            side,
            volume: w.volume,
            open_price: w.open_price,
            current_price: w.current_price,
            stop_loss: w.stop_loss,
            take_profit: w.take_profit,
            profit,
            swap,
            commission,
            open_time: w.time,
        })
    }
}

/// One element of `GET .../history-deals/time/:startTime/:endTime`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaDeal {
    pub id: String,
    #[serde(rename = "type")]
    pub deal_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    pub time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<Decimal>,
    #[serde(default)]
    pub profit: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_loss: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take_profit: Option<Decimal>,
}

impl From<MetaDeal> for Deal {
    fn from(w: MetaDeal) -> Self {
        let kind = match w.deal_type.as_str() {
            "DEAL_TYPE_BUY" => DealKind::Buy,
            "DEAL_TYPE_SELL" => DealKind::Sell,
            "DEAL_TYPE_BALANCE" => DealKind::Balance,
            "DEAL_TYPE_CREDIT" => DealKind::Credit,
            "DEAL_TYPE_CHARGE" => DealKind::Charge,
            "DEAL_TYPE_CORRECTION" => DealKind::Correction,
            "DEAL_TYPE_BONUS" => DealKind::Bonus,
            "DEAL_TYPE_COMMISSION"
            | "DEAL_TYPE_COMMISSION_DAILY"
            | "DEAL_TYPE_COMMISSION_MONTHLY"
            | "DEAL_TYPE_COMMISSION_AGENT_DAILY"
            | "DEAL_TYPE_COMMISSION_AGENT_MONTHLY" => DealKind::Commission,
            "DEAL_TYPE_INTEREST" => DealKind::Interest,
            // MetaApi names these as MT5 does (`DEAL_DIVIDEND`, ...); the `DEAL_TYPE_` spelling
            // of its other types is read too.
            "DEAL_DIVIDEND"
            | "DEAL_DIVIDEND_FRANKED"
            | "DEAL_TYPE_DIVIDEND"
            | "DEAL_TYPE_DIVIDEND_FRANKED" => DealKind::Dividend,
            "DEAL_TAX" | "DEAL_TYPE_TAX" => DealKind::Tax,
            _ => DealKind::Other,
        };
        let entry = match w.entry_type.as_deref() {
            Some("DEAL_ENTRY_IN") => Some(DealEntry::In),
            Some("DEAL_ENTRY_OUT") => Some(DealEntry::Out),
            Some("DEAL_ENTRY_INOUT") => Some(DealEntry::InOut),
            Some("DEAL_ENTRY_OUT_BY") => Some(DealEntry::OutBy),
            _ => None,
        };
        Deal {
            id: w.id,
            kind,
            entry,
            symbol: w.symbol,
            time: w.time,
            volume: w.volume,
            price: w.price,
            profit: w.profit,
            commission: w.commission.unwrap_or_default(),
            swap: w.swap.unwrap_or_default(),
            position_id: w.position_id,
            reason: w.reason,
        }
    }
}

/// One element of `GET /users/current/accounts/:accountId/orders` (pending orders).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaOrder {
    pub id: String,
    #[serde(rename = "type")]
    pub order_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub magic: Option<i64>,
    pub time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_time: Option<String>,
    pub symbol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_loss: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take_profit: Option<Decimal>,
    pub volume: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_volume: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filling_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_limit_price: Option<Decimal>,
}

impl From<MetaOrder> for Order {
    fn from(w: MetaOrder) -> Self {
        let kind = match w.order_type.as_str() {
            "ORDER_TYPE_BUY" => OrderKind::Buy,
            "ORDER_TYPE_SELL" => OrderKind::Sell,
            "ORDER_TYPE_BUY_LIMIT" => OrderKind::BuyLimit,
            "ORDER_TYPE_SELL_LIMIT" => OrderKind::SellLimit,
            "ORDER_TYPE_BUY_STOP" => OrderKind::BuyStop,
            "ORDER_TYPE_SELL_STOP" => OrderKind::SellStop,
            "ORDER_TYPE_BUY_STOP_LIMIT" => OrderKind::BuyStopLimit,
            "ORDER_TYPE_SELL_STOP_LIMIT" => OrderKind::SellStopLimit,
            "ORDER_TYPE_CLOSE_BY" => OrderKind::CloseBy,
            _ => OrderKind::Other,
        };
        Order {
            id: w.id,
            symbol: w.symbol,
            kind,
            // What is left to fill; a fresh order has all of its volume left.
            volume: w.current_volume.unwrap_or(w.volume),
            open_price: w.open_price,
            stop_loss: w.stop_loss,
            take_profit: w.take_profit,
            time: w.time,
        }
    }
}

/// `GET .../symbols/:symbol/specification` (has no tick value).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaSymbolSpecification {
    pub symbol: String,
    pub tick_size: Decimal,
    #[serde(default)]
    pub min_volume: Decimal,
    #[serde(default)]
    pub max_volume: Decimal,
    #[serde(default)]
    pub volume_step: Decimal,
    #[serde(default)]
    pub contract_size: Decimal,
    #[serde(default)]
    pub digits: u32,
    #[serde(default)]
    pub point: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pip_size: Option<Decimal>,
    #[serde(default)]
    pub base_currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profit_currency: Option<String>,
    #[serde(default)]
    pub margin_currency: Option<String>,
}

impl From<MetaSymbolSpecification> for SymbolSpec {
    fn from(w: MetaSymbolSpecification) -> Self {
        SymbolSpec {
            symbol: w.symbol,
            tick_size: w.tick_size,
            contract_size: w.contract_size,
            digits: w.digits,
            min_volume: w.min_volume,
            max_volume: w.max_volume,
            volume_step: w.volume_step,
        }
    }
}

/// `GET .../symbols/:symbol/current-price`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaSymbolPrice {
    pub symbol: String,
    pub bid: Decimal,
    pub ask: Decimal,
    pub profit_tick_value: Decimal,
    pub loss_tick_value: Decimal,
    pub time: DateTime<Utc>,
    #[serde(default)]
    pub broker_time: Option<String>,
}

impl From<MetaSymbolPrice> for SymbolPrice {
    fn from(w: MetaSymbolPrice) -> Self {
        SymbolPrice {
            symbol: w.symbol,
            bid: w.bid,
            ask: w.ask,
            profit_tick_value: w.profit_tick_value,
            loss_tick_value: w.loss_tick_value,
            time: w.time,
        }
    }
}

/// `GET .../server-time`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTime {
    pub time: DateTime<Utc>,
    pub broker_time: String,
    #[serde(default)]
    pub last_quote_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_quote_broker_time: Option<String>,
}

/// MetaApi's error body (`{id, error, message, metadata?}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetaError {
    #[serde(default)]
    pub id: Option<u32>,
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn account_information_reads_numbers_exactly() {
        let json = r#"{"platform":"mt5","broker":"Demo","currency":"USD","server":"Demo-1",
            "balance":100000.55,"equity":99876.01,"margin":120.4,"freeMargin":99755.61,
            "leverage":100,"marginLevel":82953.5,"tradeAllowed":true,"investorMode":false,
            "marginMode":"ACCOUNT_MARGIN_MODE_RETAIL_HEDGING","name":"Trader","login":123,
            "credit":0,"type":"ACCOUNT_TRADE_MODE_DEMO","currencyDigits":2}"#;
        let info: AccountInfo = serde_json::from_str::<AccountInformation>(json)
            .expect("parse")
            .into();
        assert_eq!(info.balance, dec!(100000.55));
        assert_eq!(info.equity, dec!(99876.01));
        assert_eq!(info.margin_level, Some(dec!(82953.5)));
    }

    #[test]
    fn unknown_position_type_is_an_error_not_a_guess() {
        let json = r#"{"id":"1","type":"POSITION_TYPE_WHATEVER","symbol":"EURUSD",
            "time":"2026-01-05T10:00:00Z","openPrice":1.1,"currentPrice":1.2,"volume":1}"#;
        let position: MetaPosition = serde_json::from_str(json).expect("parse");
        assert_eq!(
            Position::try_from(position),
            Err(WireError::PositionType("POSITION_TYPE_WHATEVER".into()))
        );
    }

    /// A partly closed position as MetaApi documents it: `profit` is cumulative (the open
    /// part's unrealized profit plus what the closed part realised, with its swap and
    /// commission); only the open part is the position's floating P/L.
    #[test]
    fn a_partly_closed_position_counts_only_its_open_part() {
        let json = r#"{"id":"46214692","type":"POSITION_TYPE_BUY","symbol":"GBPUSD","magic":1000,
            "time":"2026-03-02T09:00:00.000Z","brokerTime":"2026-03-02 11:00:00.000",
            "updateTime":"2026-03-02T11:00:00.000Z","openPrice":1.26101,"currentPrice":1.26095,
            "currentTickValue":1,"volume":0.05,"swap":-1.2,"profit":53.3,
            "unrealizedProfit":-3,"realizedProfit":56.3,"unrealizedSwap":-0.6,
            "realizedSwap":-0.6,"commission":-4.5,"unrealizedCommission":-2.25,
            "realizedCommission":-2.25}"#;
        let position =
            Position::try_from(serde_json::from_str::<MetaPosition>(json).expect("parse"))
                .expect("position");
        assert_eq!(position.profit, dec!(-3));
        assert_eq!(position.swap, dec!(-0.6));
        assert_eq!(position.commission, dec!(-2.25));
        assert_eq!(position.net_profit(), dec!(-5.85));
        // Without the unrealized fields, the realized ones are taken out of the cumulative.
        let json = r#"{"id":"1","type":"POSITION_TYPE_SELL","symbol":"GBPUSD",
            "time":"2026-03-02T09:00:00Z","openPrice":1.26,"currentPrice":1.27,"volume":1,
            "swap":-2,"profit":40,"realizedProfit":60,"realizedSwap":-1,"commission":-7,
            "realizedCommission":-3.5}"#;
        let position =
            Position::try_from(serde_json::from_str::<MetaPosition>(json).expect("parse"))
                .expect("position");
        assert_eq!(position.profit, dec!(-20));
        assert_eq!(position.net_profit(), dec!(-24.5));
        // A position never partly closed: everything is its open part.
        let json = r#"{"id":"2","type":"POSITION_TYPE_BUY","symbol":"EURUSD",
            "time":"2026-03-02T09:00:00Z","openPrice":1.1,"currentPrice":1.1005,"volume":1,
            "swap":-1,"profit":50,"commission":-3.5}"#;
        let position =
            Position::try_from(serde_json::from_str::<MetaPosition>(json).expect("parse"))
                .expect("position");
        assert_eq!(position.net_profit(), dec!(45.5));
    }

    #[test]
    fn deal_types_map_to_domain_kinds() {
        let json = r#"{"id":"7","type":"DEAL_TYPE_BALANCE","time":"2026-01-05T10:00:00Z",
            "profit":5000}"#;
        let deal: Deal = serde_json::from_str::<MetaDeal>(json)
            .expect("parse")
            .into();
        assert_eq!(deal.kind, DealKind::Balance);
        assert!(deal.is_balance_operation());
        assert_eq!(deal.closed_pl(), dec!(5000));
        let kind = |deal_type: &str| {
            let json = format!(
                r#"{{"id":"8","type":"{deal_type}","time":"2026-01-05T10:00:00Z","profit":-3}}"#
            );
            Deal::from(serde_json::from_str::<MetaDeal>(&json).expect("parse")).kind
        };
        for (deal_type, expected) in [
            ("DEAL_TYPE_INTEREST", DealKind::Interest),
            ("DEAL_DIVIDEND", DealKind::Dividend),
            ("DEAL_DIVIDEND_FRANKED", DealKind::Dividend),
            ("DEAL_TYPE_DIVIDEND", DealKind::Dividend),
            ("DEAL_TAX", DealKind::Tax),
            ("DEAL_TYPE_TAX", DealKind::Tax),
            ("DEAL_TYPE_CHARGE", DealKind::Charge),
            ("DEAL_TYPE_COMMISSION_DAILY", DealKind::Commission),
            ("DEAL_TYPE_BUY_CANCELED", DealKind::Other),
        ] {
            assert_eq!(kind(deal_type), expected, "{deal_type}");
        }
    }

    #[test]
    fn pending_orders_map_to_domain_orders_with_the_volume_left() {
        let json = r#"[{"id":"46214692","type":"ORDER_TYPE_BUY_LIMIT","state":"ORDER_STATE_PLACED",
            "symbol":"GBPUSD","magic":1000,"platform":"mt5","time":"2026-01-05T10:00:00.000Z",
            "brokerTime":"2026-01-05 12:00:00.000","openPrice":1.26,"currentPrice":1.2685,
            "volume":0.07,"currentVolume":0.05,"stopLoss":1.255,"reason":"ORDER_REASON_UNKNOWN",
            "fillingMode":"ORDER_FILLING_FOK","expirationType":"ORDER_TIME_GTC"},
            {"id":"2","type":"ORDER_TYPE_WHATEVER","symbol":"XAUUSD",
            "time":"2026-01-05T10:00:00Z","volume":1}]"#;
        let orders: Vec<Order> = serde_json::from_str::<Vec<MetaOrder>>(json)
            .expect("parse")
            .into_iter()
            .map(Order::from)
            .collect();
        assert_eq!(orders[0].kind, OrderKind::BuyLimit);
        assert_eq!(orders[0].volume, dec!(0.05));
        assert_eq!(orders[0].open_price, Some(dec!(1.26)));
        assert_eq!(orders[0].stop_loss, Some(dec!(1.255)));
        assert_eq!(orders[0].take_profit, None);
        assert_eq!(orders[1].kind, OrderKind::Other);
        assert_eq!(orders[1].volume, dec!(1));
    }
}
