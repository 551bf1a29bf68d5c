//! cTrader Open API's JSON protocol (port 5036), message for message: the envelope
//! `{"clientMsgId", "payloadType", "payload"}` and the payloads Riskdeck sends and reads. Field
//! names are exactly those of Spotware's `OpenApiMessages.proto` and `OpenApiModelMessages.proto`
//! (see brokers.md, section 2); enums travel as their numbers. Only the connector (`broker`) and
//! the simulator (`demo`) use these types.
//!
//! Money fields are integers scaled by the message's `moneyDigits`, volumes are in cents of
//! units, and spot prices are integers in 1/100000 ([`units`] converts them). Unknown
//! fields are ignored, so a newer server does not break the connector.

pub mod units;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How often a heartbeat goes out (either side).
pub const HEARTBEAT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
/// Requests a second the server allows on a connection.
pub const REQUESTS_PER_SECOND: u32 = 50;
/// History requests a second the server allows.
pub const HISTORY_REQUESTS_PER_SECOND: u32 = 5;
/// The longest window a cash-flow history request may span.
pub const CASH_FLOW_WINDOW: chrono::TimeDelta = chrono::TimeDelta::weeks(1);

/// Payload type numbers (`ProtoPayloadType` and `ProtoOAPayloadType`).
pub mod payload {
    /// `ERROR_RES`: the proxy's own error.
    pub const ERROR_RES: u32 = 50;
    /// `HEARTBEAT_EVENT`: sent both ways to keep the connection open.
    pub const HEARTBEAT_EVENT: u32 = 51;
    pub const APPLICATION_AUTH_REQ: u32 = 2100;
    pub const APPLICATION_AUTH_RES: u32 = 2101;
    pub const ACCOUNT_AUTH_REQ: u32 = 2102;
    pub const ACCOUNT_AUTH_RES: u32 = 2103;
    pub const ASSET_LIST_REQ: u32 = 2112;
    pub const ASSET_LIST_RES: u32 = 2113;
    pub const SYMBOLS_LIST_REQ: u32 = 2114;
    pub const SYMBOLS_LIST_RES: u32 = 2115;
    pub const SYMBOL_BY_ID_REQ: u32 = 2116;
    pub const SYMBOL_BY_ID_RES: u32 = 2117;
    pub const TRADER_REQ: u32 = 2121;
    pub const TRADER_RES: u32 = 2122;
    pub const RECONCILE_REQ: u32 = 2124;
    pub const RECONCILE_RES: u32 = 2125;
    pub const SUBSCRIBE_SPOTS_REQ: u32 = 2127;
    pub const SUBSCRIBE_SPOTS_RES: u32 = 2128;
    pub const SPOT_EVENT: u32 = 2131;
    pub const DEAL_LIST_REQ: u32 = 2133;
    pub const DEAL_LIST_RES: u32 = 2134;
    pub const OA_ERROR_RES: u32 = 2142;
    pub const CASH_FLOW_HISTORY_LIST_REQ: u32 = 2143;
    pub const CASH_FLOW_HISTORY_LIST_RES: u32 = 2144;
    pub const ACCOUNTS_TOKEN_INVALIDATED_EVENT: u32 = 2147;
    pub const CLIENT_DISCONNECT_EVENT: u32 = 2148;
    pub const GET_ACCOUNTS_BY_ACCESS_TOKEN_REQ: u32 = 2149;
    pub const GET_ACCOUNTS_BY_ACCESS_TOKEN_RES: u32 = 2150;
    pub const ACCOUNT_DISCONNECT_EVENT: u32 = 2164;
    pub const GET_POSITION_UNREALIZED_PNL_REQ: u32 = 2187;
    pub const GET_POSITION_UNREALIZED_PNL_RES: u32 = 2188;

    /// Whether a request reads history, which has its own, lower rate limit.
    pub fn is_history(request: u32) -> bool {
        matches!(request, DEAL_LIST_REQ | CASH_FLOW_HISTORY_LIST_REQ)
    }
}

/// `ProtoOATradeSide`.
pub mod side {
    pub const BUY: u32 = 1;
    pub const SELL: u32 = 2;
}

/// `ProtoOADealStatus`: only filled deals change anything.
pub mod deal_status {
    pub const FILLED: u32 = 2;
    pub const PARTIALLY_FILLED: u32 = 3;
}

/// The envelope of every message, both ways.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Set by the client on a request and echoed on its response; absent on events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    /// What the payload is ([`payload`]).
    pub payload_type: u32,
    /// The message itself.
    #[serde(default)]
    pub payload: Value,
}

/// `ProtoOAApplicationAuthReq`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationAuthReq {
    pub client_id: String,
    pub client_secret: String,
}

/// `ProtoOAGetAccountListByAccessTokenReq`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountListReq {
    pub access_token: String,
}

/// `ProtoOACtidTraderAccount`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CtidTraderAccount {
    pub ctid_trader_account_id: i64,
    #[serde(default)]
    pub is_live: Option<bool>,
    #[serde(default)]
    pub trader_login: Option<i64>,
    #[serde(default)]
    pub broker_title_short: Option<String>,
}

/// `ProtoOAGetAccountListByAccessTokenRes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountListRes {
    #[serde(default)]
    pub ctid_trader_account: Vec<CtidTraderAccount>,
}

/// `ProtoOAAccountAuthReq`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountAuthReq {
    pub ctid_trader_account_id: i64,
    pub access_token: String,
}

/// Every per-account request whose only field is the account (`ProtoOATraderReq`,
/// `ProtoOAReconcileReq`, `ProtoOAAssetListReq`, `ProtoOASymbolsListReq`,
/// `ProtoOAGetPositionUnrealizedPnLReq`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountReq {
    pub ctid_trader_account_id: i64,
}

/// `ProtoOATrader`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trader {
    pub ctid_trader_account_id: i64,
    pub balance: i64,
    pub deposit_asset_id: i64,
    #[serde(default)]
    pub leverage_in_cents: Option<u32>,
    #[serde(default)]
    pub manager_bonus: Option<i64>,
    #[serde(default)]
    pub ib_bonus: Option<i64>,
    #[serde(default)]
    pub non_withdrawable_bonus: Option<i64>,
    #[serde(default)]
    pub broker_name: Option<String>,
    #[serde(default)]
    pub registration_timestamp: Option<i64>,
    /// Absent means 2 (cents), as for accounts opened before the field existed.
    #[serde(default)]
    pub money_digits: Option<u32>,
}

/// `ProtoOATraderRes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraderRes {
    pub trader: Trader,
}

/// `ProtoOATradeData`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TradeData {
    pub symbol_id: i64,
    /// In cents of units.
    pub volume: i64,
    pub trade_side: u32,
    #[serde(default)]
    pub open_timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `ProtoOAPosition`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    pub position_id: i64,
    pub trade_data: TradeData,
    pub position_status: u32,
    pub swap: i64,
    #[serde(default)]
    pub price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take_profit: Option<f64>,
    #[serde(default)]
    pub utc_last_update_timestamp: Option<i64>,
    #[serde(default)]
    pub commission: Option<i64>,
    #[serde(default)]
    pub used_margin: Option<u64>,
    #[serde(default)]
    pub money_digits: Option<u32>,
}

/// `ProtoOAReconcileRes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileRes {
    #[serde(default)]
    pub position: Vec<Position>,
}

/// `ProtoOAPositionUnrealizedPnL`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionUnrealizedPnl {
    pub position_id: i64,
    pub gross_unrealized_pn_l: i64,
    pub net_unrealized_pn_l: i64,
}

/// `ProtoOAGetPositionUnrealizedPnLRes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnrealizedPnlRes {
    #[serde(default, rename = "positionUnrealizedPnL")]
    pub position_unrealized_pnl: Vec<PositionUnrealizedPnl>,
    pub money_digits: u32,
}

/// `ProtoOADealListReq`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DealListReq {
    pub ctid_trader_account_id: i64,
    pub from_timestamp: i64,
    pub to_timestamp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<i32>,
}

/// `ProtoOAClosePositionDetail`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClosePositionDetail {
    pub entry_price: f64,
    pub gross_profit: i64,
    pub swap: i64,
    pub commission: i64,
    pub balance: i64,
    #[serde(default)]
    pub closed_volume: Option<i64>,
    #[serde(default)]
    pub money_digits: Option<u32>,
}

/// `ProtoOADeal`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deal {
    pub deal_id: i64,
    pub order_id: i64,
    pub position_id: i64,
    pub volume: i64,
    pub filled_volume: i64,
    pub symbol_id: i64,
    pub create_timestamp: i64,
    pub execution_timestamp: i64,
    #[serde(default)]
    pub execution_price: Option<f64>,
    pub trade_side: u32,
    pub deal_status: u32,
    #[serde(default)]
    pub commission: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_position_detail: Option<ClosePositionDetail>,
    #[serde(default)]
    pub money_digits: Option<u32>,
}

/// `ProtoOADealListRes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DealListRes {
    #[serde(default)]
    pub deal: Vec<Deal>,
    pub has_more: bool,
}

/// `ProtoOACashFlowHistoryListReq`: at most one week from `fromTimestamp` to `toTimestamp`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CashFlowReq {
    pub ctid_trader_account_id: i64,
    pub from_timestamp: i64,
    pub to_timestamp: i64,
}

/// `ProtoOADepositWithdraw`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepositWithdraw {
    /// `ProtoOAChangeBalanceType`: even numbers up to 0 are deposits, see [`units`].
    pub operation_type: u32,
    pub balance_history_id: i64,
    pub balance: i64,
    /// The amount, always positive; the operation type says which way it went.
    pub delta: i64,
    pub change_balance_timestamp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_note: Option<String>,
    #[serde(default)]
    pub money_digits: Option<u32>,
}

/// `ProtoOACashFlowHistoryListRes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CashFlowRes {
    #[serde(default)]
    pub deposit_withdraw: Vec<DepositWithdraw>,
}

/// `ProtoOAAsset`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    pub asset_id: i64,
    pub name: String,
    #[serde(default)]
    pub digits: Option<i32>,
}

/// `ProtoOAAssetListRes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetListRes {
    #[serde(default)]
    pub asset: Vec<Asset>,
}

/// `ProtoOALightSymbol`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LightSymbol {
    pub symbol_id: i64,
    #[serde(default)]
    pub symbol_name: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub base_asset_id: Option<i64>,
    #[serde(default)]
    pub quote_asset_id: Option<i64>,
}

/// `ProtoOASymbolsListRes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymbolsListRes {
    #[serde(default)]
    pub symbol: Vec<LightSymbol>,
}

/// `ProtoOASymbolByIdReq` (and `ProtoOASubscribeSpotsReq`, whose fields are the same).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymbolIdsReq {
    pub ctid_trader_account_id: i64,
    pub symbol_id: Vec<i64>,
}

/// `ProtoOASymbol` (the fields Riskdeck reads).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Symbol {
    pub symbol_id: i64,
    pub digits: i32,
    pub pip_position: i32,
    /// In cents.
    #[serde(default)]
    pub max_volume: Option<i64>,
    #[serde(default)]
    pub min_volume: Option<i64>,
    #[serde(default)]
    pub step_volume: Option<i64>,
    /// In cents of units.
    #[serde(default)]
    pub lot_size: Option<i64>,
}

/// `ProtoOASymbolByIdRes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymbolByIdRes {
    #[serde(default)]
    pub symbol: Vec<Symbol>,
}

/// `ProtoOASpotEvent`: prices in 1/100000; a side absent from an event is unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpotEvent {
    pub ctid_trader_account_id: i64,
    pub symbol_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// `ProtoOAErrorRes` and `ProtoErrorRes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRes {
    #[serde(default)]
    pub ctid_trader_account_id: Option<i64>,
    pub error_code: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Seconds to wait, on `REQUEST_FREQUENCY_EXCEEDED`.
    #[serde(default)]
    pub retry_after: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_read_as_spotware_writes_them() {
        let text = r#"{"clientMsgId":"7","payloadType":2134,"payload":{"ctidTraderAccountId":5,
            "deal":[{"dealId":1,"orderId":2,"positionId":3,"volume":100000,"filledVolume":100000,
            "symbolId":1,"createTimestamp":1700000000000,"executionTimestamp":1700000000001,
            "executionPrice":1.08512,"tradeSide":2,"dealStatus":2,"commission":-350,
            "closePositionDetail":{"entryPrice":1.08,"grossProfit":51200,"swap":0,
            "commission":-700,"balance":10051200,"moneyDigits":2},"moneyDigits":2,
            "somethingNew":true}],"hasMore":false}}"#;
        let envelope: Envelope = serde_json::from_str(text).expect("envelope");
        assert_eq!(envelope.client_msg_id.as_deref(), Some("7"));
        assert_eq!(envelope.payload_type, payload::DEAL_LIST_RES);
        let deals: DealListRes = serde_json::from_value(envelope.payload).expect("deals");
        assert!(!deals.has_more);
        let deal = &deals.deal[0];
        assert_eq!(deal.trade_side, side::SELL);
        assert_eq!(
            deal.close_position_detail.as_ref().map(|d| d.gross_profit),
            Some(51200)
        );
    }

    #[test]
    fn unrealized_pnl_field_names_keep_spotwares_capital_l() {
        let text = r#"{"ctidTraderAccountId":5,"positionUnrealizedPnL":[{"positionId":9,
            "grossUnrealizedPnL":-1234,"netUnrealizedPnL":-1300}],"moneyDigits":2}"#;
        let res: UnrealizedPnlRes = serde_json::from_str(text).expect("pnl");
        assert_eq!(res.position_unrealized_pnl[0].net_unrealized_pn_l, -1300);
        let back = serde_json::to_value(&res).expect("json");
        assert!(back["positionUnrealizedPnL"][0]["netUnrealizedPnL"].is_i64());
    }
}
