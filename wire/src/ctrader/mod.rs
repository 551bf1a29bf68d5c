//! cTrader Open API's JSON protocol (port 5036), message for message: the envelope
//! `{"clientMsgId", "payloadType", "payload"}` and the payloads Riskdeck sends and reads. Field
//! names are exactly those of Spotware's `OpenApiMessages.proto` and `OpenApiModelMessages.proto`
//! (see brokers.md, section 2). Riskdeck writes enums and 64-bit integers as numbers and reads
//! them as numbers or, as protobuf's canonical JSON mapping writes them, as names and strings
//! ([`lenient`]). Only the connector (`broker`) and the simulator (`demo`) use these types.
//!
//! Money fields are integers scaled by the message's `moneyDigits`, volumes are in cents of
//! units, and spot prices are integers in 1/100000 ([`units`] converts them). Unknown
//! fields are ignored, so a newer server does not break the connector.

pub mod lenient;
#[cfg(feature = "protobuf")]
pub mod protobuf;
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
    pub const EXECUTION_EVENT: u32 = 2126;
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
    pub const REFRESH_TOKEN_REQ: u32 = 2173;
    pub const REFRESH_TOKEN_RES: u32 = 2174;
    pub const ACCOUNT_DISCONNECT_EVENT: u32 = 2164;
    pub const GET_POSITION_UNREALIZED_PNL_REQ: u32 = 2187;
    pub const GET_POSITION_UNREALIZED_PNL_RES: u32 = 2188;

    /// What a `payloadType` name this version does not know reads as: no message has it.
    pub const UNKNOWN: u32 = 0;

    /// The names protobuf's JSON mapping writes for the payload types above.
    pub const NAMES: &[(&str, u32)] = &[
        ("ERROR_RES", ERROR_RES),
        ("HEARTBEAT_EVENT", HEARTBEAT_EVENT),
        ("PROTO_OA_APPLICATION_AUTH_REQ", APPLICATION_AUTH_REQ),
        ("PROTO_OA_APPLICATION_AUTH_RES", APPLICATION_AUTH_RES),
        ("PROTO_OA_ACCOUNT_AUTH_REQ", ACCOUNT_AUTH_REQ),
        ("PROTO_OA_ACCOUNT_AUTH_RES", ACCOUNT_AUTH_RES),
        ("PROTO_OA_ASSET_LIST_REQ", ASSET_LIST_REQ),
        ("PROTO_OA_ASSET_LIST_RES", ASSET_LIST_RES),
        ("PROTO_OA_SYMBOLS_LIST_REQ", SYMBOLS_LIST_REQ),
        ("PROTO_OA_SYMBOLS_LIST_RES", SYMBOLS_LIST_RES),
        ("PROTO_OA_SYMBOL_BY_ID_REQ", SYMBOL_BY_ID_REQ),
        ("PROTO_OA_SYMBOL_BY_ID_RES", SYMBOL_BY_ID_RES),
        ("PROTO_OA_TRADER_REQ", TRADER_REQ),
        ("PROTO_OA_TRADER_RES", TRADER_RES),
        ("PROTO_OA_RECONCILE_REQ", RECONCILE_REQ),
        ("PROTO_OA_RECONCILE_RES", RECONCILE_RES),
        ("PROTO_OA_SUBSCRIBE_SPOTS_REQ", SUBSCRIBE_SPOTS_REQ),
        ("PROTO_OA_SUBSCRIBE_SPOTS_RES", SUBSCRIBE_SPOTS_RES),
        ("PROTO_OA_SPOT_EVENT", SPOT_EVENT),
        ("PROTO_OA_DEAL_LIST_REQ", DEAL_LIST_REQ),
        ("PROTO_OA_DEAL_LIST_RES", DEAL_LIST_RES),
        ("PROTO_OA_ERROR_RES", OA_ERROR_RES),
        (
            "PROTO_OA_CASH_FLOW_HISTORY_LIST_REQ",
            CASH_FLOW_HISTORY_LIST_REQ,
        ),
        (
            "PROTO_OA_CASH_FLOW_HISTORY_LIST_RES",
            CASH_FLOW_HISTORY_LIST_RES,
        ),
        (
            "PROTO_OA_ACCOUNTS_TOKEN_INVALIDATED_EVENT",
            ACCOUNTS_TOKEN_INVALIDATED_EVENT,
        ),
        ("PROTO_OA_CLIENT_DISCONNECT_EVENT", CLIENT_DISCONNECT_EVENT),
        (
            "PROTO_OA_GET_ACCOUNTS_BY_ACCESS_TOKEN_REQ",
            GET_ACCOUNTS_BY_ACCESS_TOKEN_REQ,
        ),
        (
            "PROTO_OA_GET_ACCOUNTS_BY_ACCESS_TOKEN_RES",
            GET_ACCOUNTS_BY_ACCESS_TOKEN_RES,
        ),
        (
            "PROTO_OA_ACCOUNT_DISCONNECT_EVENT",
            ACCOUNT_DISCONNECT_EVENT,
        ),
        ("PROTO_OA_EXECUTION_EVENT", EXECUTION_EVENT),
        ("PROTO_OA_REFRESH_TOKEN_REQ", REFRESH_TOKEN_REQ),
        ("PROTO_OA_REFRESH_TOKEN_RES", REFRESH_TOKEN_RES),
        (
            "PROTO_OA_GET_POSITION_UNREALIZED_PNL_REQ",
            GET_POSITION_UNREALIZED_PNL_REQ,
        ),
        (
            "PROTO_OA_GET_POSITION_UNREALIZED_PNL_RES",
            GET_POSITION_UNREALIZED_PNL_RES,
        ),
    ];

    /// Whether a request reads history, which has its own, lower rate limit.
    pub fn is_history(request: u32) -> bool {
        matches!(request, DEAL_LIST_REQ | CASH_FLOW_HISTORY_LIST_REQ)
    }
}

/// `ProtoOATradeSide`.
/// `ProtoOAExecutionType`, the values the simulator sends.
pub mod execution {
    pub const ORDER_FILLED: u32 = 3;
    pub const SWAP: u32 = 9;
    pub const DEPOSIT_WITHDRAW: u32 = 10;
    pub const ORDER_PARTIAL_FILL: u32 = 11;
    pub const BONUS_DEPOSIT_WITHDRAW: u32 = 12;
}

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
    #[serde(deserialize_with = "lenient::payload_type")]
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
    #[serde(deserialize_with = "lenient::int")]
    pub ctid_trader_account_id: i64,
    #[serde(default)]
    pub is_live: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub trader_login: Option<i64>,
    #[serde(default)]
    pub broker_title_short: Option<String>,
}

/// `ProtoOARefreshTokenReq`: a new access token for the refresh token.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshTokenReq {
    pub refresh_token: String,
}

/// `ProtoOARefreshTokenRes`: the new pair (the refresh token may be new too).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshTokenRes {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    /// Seconds the new access token lasts.
    #[serde(deserialize_with = "lenient::int")]
    pub expires_in: i64,
    pub refresh_token: String,
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
    #[serde(deserialize_with = "lenient::int")]
    pub ctid_trader_account_id: i64,
    pub access_token: String,
}

/// Every per-account request whose only field is the account (`ProtoOATraderReq`,
/// `ProtoOAReconcileReq`, `ProtoOAAssetListReq`, `ProtoOASymbolsListReq`,
/// `ProtoOAGetPositionUnrealizedPnLReq`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountReq {
    #[serde(deserialize_with = "lenient::int")]
    pub ctid_trader_account_id: i64,
}

/// `ProtoOAAccountsTokenInvalidatedEvent`: the accounts whose access token stopped working.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInvalidatedEvent {
    #[serde(default, deserialize_with = "lenient::ints")]
    pub ctid_trader_account_ids: Vec<i64>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `ProtoOAExecutionEvent`: what the connector reads of it (the position and the order are
/// read again with `ProtoOAReconcileReq`, which has every field).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionEvent {
    #[serde(deserialize_with = "lenient::int")]
    pub ctid_trader_account_id: i64,
    #[serde(deserialize_with = "lenient::named::<_, lenient::ExecutionType>")]
    pub execution_type: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal: Option<Deal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deposit_withdraw: Option<DepositWithdraw>,
}

/// `ProtoOATrader`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trader {
    #[serde(deserialize_with = "lenient::int")]
    pub ctid_trader_account_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub balance: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub deposit_asset_id: i64,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub leverage_in_cents: Option<u32>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub manager_bonus: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub ib_bonus: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub non_withdrawable_bonus: Option<i64>,
    #[serde(default)]
    pub broker_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub registration_timestamp: Option<i64>,
    /// Absent means 2 (cents), as for accounts opened before the field existed.
    #[serde(default, deserialize_with = "lenient::opt_int")]
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
    #[serde(deserialize_with = "lenient::int")]
    pub symbol_id: i64,
    /// In cents of units.
    #[serde(deserialize_with = "lenient::int")]
    pub volume: i64,
    #[serde(deserialize_with = "lenient::named::<_, lenient::TradeSide>")]
    pub trade_side: u32,
    #[serde(default, deserialize_with = "lenient::opt_int")]
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
    #[serde(deserialize_with = "lenient::int")]
    pub position_id: i64,
    pub trade_data: TradeData,
    #[serde(deserialize_with = "lenient::named::<_, lenient::PositionStatus>")]
    pub position_status: u32,
    #[serde(deserialize_with = "lenient::int")]
    pub swap: i64,
    #[serde(default)]
    pub price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take_profit: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub utc_last_update_timestamp: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub commission: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub used_margin: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
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
    #[serde(deserialize_with = "lenient::int")]
    pub position_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub gross_unrealized_pn_l: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub net_unrealized_pn_l: i64,
}

/// `ProtoOAGetPositionUnrealizedPnLRes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnrealizedPnlRes {
    #[serde(default, rename = "positionUnrealizedPnL")]
    pub position_unrealized_pnl: Vec<PositionUnrealizedPnl>,
    #[serde(deserialize_with = "lenient::int")]
    pub money_digits: u32,
}

/// `ProtoOADealListReq`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DealListReq {
    #[serde(deserialize_with = "lenient::int")]
    pub ctid_trader_account_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub from_timestamp: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub to_timestamp: i64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_int"
    )]
    pub max_rows: Option<i32>,
}

/// `ProtoOAClosePositionDetail`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClosePositionDetail {
    pub entry_price: f64,
    #[serde(deserialize_with = "lenient::int")]
    pub gross_profit: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub swap: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub commission: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub balance: i64,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub closed_volume: Option<i64>,
    /// The fee for converting the profit into the deposit currency, when the symbol's quote
    /// asset is not it: part of the closed P/L, scaled like the other money fields.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_int"
    )]
    pub pnl_conversion_fee: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub money_digits: Option<u32>,
}

/// `ProtoOADeal`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deal {
    #[serde(deserialize_with = "lenient::int")]
    pub deal_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub order_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub position_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub volume: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub filled_volume: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub symbol_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub create_timestamp: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub execution_timestamp: i64,
    #[serde(default)]
    pub execution_price: Option<f64>,
    #[serde(deserialize_with = "lenient::named::<_, lenient::TradeSide>")]
    pub trade_side: u32,
    #[serde(deserialize_with = "lenient::named::<_, lenient::DealStatus>")]
    pub deal_status: u32,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub commission: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_position_detail: Option<ClosePositionDetail>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
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
    #[serde(deserialize_with = "lenient::int")]
    pub ctid_trader_account_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub from_timestamp: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub to_timestamp: i64,
}

/// `ProtoOADepositWithdraw`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepositWithdraw {
    /// `ProtoOAChangeBalanceType`: even numbers up to 0 are deposits, see [`units`].
    #[serde(deserialize_with = "lenient::named::<_, lenient::ChangeBalanceType>")]
    pub operation_type: u32,
    #[serde(deserialize_with = "lenient::int")]
    pub balance_history_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub balance: i64,
    /// The amount, always positive; the operation type says which way it went.
    #[serde(deserialize_with = "lenient::int")]
    pub delta: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub change_balance_timestamp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_note: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
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
    #[serde(deserialize_with = "lenient::int")]
    pub asset_id: i64,
    pub name: String,
    #[serde(default, deserialize_with = "lenient::opt_int")]
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
    #[serde(deserialize_with = "lenient::int")]
    pub symbol_id: i64,
    #[serde(default)]
    pub symbol_name: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub base_asset_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
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
    #[serde(deserialize_with = "lenient::int")]
    pub ctid_trader_account_id: i64,
    #[serde(default, deserialize_with = "lenient::ints")]
    pub symbol_id: Vec<i64>,
}

/// `ProtoOASymbol` (the fields Riskdeck reads).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Symbol {
    #[serde(deserialize_with = "lenient::int")]
    pub symbol_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub digits: i32,
    #[serde(deserialize_with = "lenient::int")]
    pub pip_position: i32,
    /// In cents.
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub max_volume: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub min_volume: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub step_volume: Option<i64>,
    /// In cents of units.
    #[serde(default, deserialize_with = "lenient::opt_int")]
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
    #[serde(deserialize_with = "lenient::int")]
    pub ctid_trader_account_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub symbol_id: i64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_int"
    )]
    pub bid: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_int"
    )]
    pub ask: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_int"
    )]
    pub timestamp: Option<i64>,
}

/// `ProtoOAErrorRes` and `ProtoErrorRes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRes {
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub ctid_trader_account_id: Option<i64>,
    pub error_code: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Seconds to wait, on `REQUEST_FREQUENCY_EXCEEDED` and `BLOCKED_PAYLOAD_TYPE`.
    #[serde(default, deserialize_with = "lenient::opt_int")]
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
    fn protobufs_canonical_json_reads_as_the_numbers_do() {
        // The same deal list as Spotware's JSON port writes it and as protobuf's JSON mapping
        // (Spotware's SDK, `MessageToJson`) writes it: int64 as strings, enums by name (the
        // envelope's `payloadType` is a uint32: a number in both).
        let numbers = r#"{"clientMsgId":"7","payloadType":2134,"payload":{"ctidTraderAccountId":5,
            "deal":[{"dealId":1,"orderId":2,"positionId":3,"volume":100000,"filledVolume":100000,
            "symbolId":1,"createTimestamp":1700000000000,"executionTimestamp":1700000000001,
            "executionPrice":1.08512,"tradeSide":2,"dealStatus":2,"commission":-350,
            "closePositionDetail":{"entryPrice":1.08,"grossProfit":51200,"swap":0,
            "commission":-700,"balance":10051200,"pnlConversionFee":-12,"moneyDigits":2},
            "moneyDigits":2}],"hasMore":false}}"#;
        let canonical = r#"{"clientMsgId":"7","payloadType":2134,
            "payload":{"ctidTraderAccountId":"5","deal":[{"dealId":"1","orderId":"2",
            "positionId":"3","volume":"100000","filledVolume":"100000","symbolId":"1",
            "createTimestamp":"1700000000000","executionTimestamp":"1700000000001",
            "executionPrice":1.08512,"tradeSide":"SELL","dealStatus":"FILLED",
            "commission":"-350","closePositionDetail":{"entryPrice":1.08,"grossProfit":"51200",
            "swap":"0","commission":"-700","balance":"10051200","pnlConversionFee":"-12",
            "moneyDigits":2},"moneyDigits":2}],"hasMore":false}}"#;
        let read = |text: &str| {
            let envelope: Envelope = serde_json::from_str(text).expect("envelope");
            assert_eq!(envelope.payload_type, payload::DEAL_LIST_RES);
            serde_json::from_value::<DealListRes>(envelope.payload).expect("deals")
        };
        let (a, b) = (read(numbers), read(canonical));
        assert_eq!(a, b);
        let detail = a.deal[0].close_position_detail.as_ref().expect("a close");
        assert_eq!(detail.pnl_conversion_fee, Some(-12));
    }

    #[test]
    fn every_message_kind_reads_both_forms() {
        let trader: TraderRes = serde_json::from_str(
            r#"{"trader":{"ctidTraderAccountId":"9","balance":"-1","depositAssetId":"15",
            "leverageInCents":10000,"registrationTimestamp":"1234567","moneyDigits":8}}"#,
        )
        .expect("trader");
        assert_eq!(trader.trader.balance, -1);
        assert_eq!(trader.trader.registration_timestamp, Some(1_234_567));
        let positions: ReconcileRes = serde_json::from_str(
            r#"{"position":[{"positionId":"3","tradeData":{"symbolId":"1","volume":"1000",
            "tradeSide":"BUY","openTimestamp":"1700000000000"},
            "positionStatus":"POSITION_STATUS_OPEN","swap":"-5","usedMargin":"100"}]}"#,
        )
        .expect("positions");
        assert_eq!(positions.position[0].trade_data.trade_side, side::BUY);
        assert_eq!(positions.position[0].position_status, 1);
        let flows: CashFlowRes = serde_json::from_str(
            r#"{"depositWithdraw":[{"operationType":"BALANCE_WITHDRAW","balanceHistoryId":"4",
            "balance":"900","delta":"100","changeBalanceTimestamp":"1700000000000"},
            {"operationType":0,"balanceHistoryId":5,"balance":1000,"delta":100,
            "changeBalanceTimestamp":1700000000001}]}"#,
        )
        .expect("cash flows");
        assert_eq!(flows.deposit_withdraw[0].operation_type, 1);
        assert_eq!(flows.deposit_withdraw[1].operation_type, 0);
        let spot: SpotEvent = serde_json::from_str(
            r#"{"ctidTraderAccountId":"5","symbolId":"1","bid":"108512","timestamp":"1"}"#,
        )
        .expect("spot");
        assert_eq!((spot.bid, spot.ask), (Some(108_512), None));
        let accounts: AccountListRes = serde_json::from_str(
            r#"{"ctidTraderAccount":[{"ctidTraderAccountId":"44","isLive":false}]}"#,
        )
        .expect("accounts");
        assert_eq!(accounts.ctid_trader_account[0].ctid_trader_account_id, 44);
        let blocked: ErrorRes = serde_json::from_str(
            r#"{"errorCode":"BLOCKED_PAYLOAD_TYPE","description":"limit","retryAfter":"3"}"#,
        )
        .expect("error");
        assert_eq!(blocked.retry_after, Some(3));
        let symbols: SymbolIdsReq =
            serde_json::from_str(r#"{"ctidTraderAccountId":"5","symbolId":["1",2]}"#)
                .expect("symbol ids");
        assert_eq!(symbols.symbol_id, [1, 2]);
        assert!(
            serde_json::from_str::<SymbolIdsReq>(r#"{"ctidTraderAccountId":5,"symbolId":["x"]}"#)
                .is_err()
        );
    }

    #[test]
    fn what_neither_form_allows_is_an_error_naming_it() {
        let bad = |text: &str| {
            serde_json::from_str::<SpotEvent>(text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(
            bad(r#"{"ctidTraderAccountId":"5x","symbolId":1}"#)
                .contains("\"5x\" is not an integer")
        );
        assert!(bad(r#"{"ctidTraderAccountId":" 5","symbolId":1}"#).contains("is not an integer"));
        assert!(
            bad(r#"{"ctidTraderAccountId":5,"symbolId":1,"bid":"-1"}"#).contains("out of range")
        );
        assert!(bad(r#"{"ctidTraderAccountId":1.5,"symbolId":1}"#).contains("an integer"));
        assert!(
            bad(r#"{"ctidTraderAccountId":"99999999999999999999","symbolId":1}"#)
                .contains("out of range")
        );
        let side = serde_json::from_str::<TradeData>(
            r#"{"symbolId":1,"volume":1,"tradeSide":"SIDEWAYS"}"#,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            side.contains("`SIDEWAYS` is not a ProtoOATradeSide"),
            "{side}"
        );
        // A payload type by name or as a string of digits reads as its number.
        for form in [r#""PROTO_OA_ERROR_RES""#, r#""2142""#, "2142"] {
            let text = format!(r#"{{"payloadType":{form},"payload":{{}}}}"#);
            let envelope: Envelope = serde_json::from_str(&text).expect("envelope");
            assert_eq!(envelope.payload_type, payload::OA_ERROR_RES, "{form}");
        }
        let status: TradeData =
            serde_json::from_str(r#"{"symbolId":1,"volume":1,"tradeSide":"2"}"#)
                .expect("an enum as a string of digits");
        assert_eq!(status.trade_side, side::SELL);
        // A payload type newer than this version is an event to skip, not a broken connection.
        let envelope: Envelope =
            serde_json::from_str(r#"{"payloadType":"PROTO_OA_SOMETHING_NEW_EVENT","payload":{}}"#)
                .expect("envelope");
        assert_eq!(envelope.payload_type, payload::UNKNOWN);
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
