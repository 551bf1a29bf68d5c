//! Both JSON forms cTrader's messages come in, read the same.
//!
//! Spotware's JSON port writes 64-bit integers and enums as JSON numbers (the examples in its
//! documentation). Protobuf's canonical JSON mapping, which Spotware's own SDK prints
//! (`MessageToJson`, `MessageToDict`) and a proxy built on the `.proto` files sends, writes
//! 64-bit integers as strings (`"ctidTraderAccountId": "5291983"`) and enums as their names
//! (`"tradeSide": "SELL"`); its parsers also take any integer as a string of digits. Every
//! integer and enum field of the messages Riskdeck reads takes all of these, and the envelope's
//! `payloadType` (a `uint32`) also takes a payload type's name. Riskdeck writes numbers.
//!
//! A value of the wrong kind, out of range, or an enum name the `.proto` files do not have is an
//! error naming what was expected, never a guess.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// The integer types the messages use.
pub trait Int: Sized + TryFrom<i64> + TryFrom<u64> + std::str::FromStr {}
impl Int for i64 {}
impl Int for u64 {}
impl Int for i32 {}
impl Int for u32 {}

struct IntVisitor<T>(PhantomData<T>);

impl<T: Int> Visitor<'_> for IntVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer, as a JSON number or a string of digits")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        T::try_from(value).map_err(|_| E::custom(format!("{value} is out of range")))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        T::try_from(value).map_err(|_| E::custom(format!("{value} is out of range")))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        // Digits with an optional sign only: no spaces, no `+`-less exponents, no decimals.
        let digits = value.strip_prefix('-').unwrap_or(value);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::custom(format!("\"{value}\" is not an integer")));
        }
        value
            .parse()
            .map_err(|_| E::custom(format!("\"{value}\" is out of range")))
    }
}

/// An integer field: a JSON number or a string of digits.
pub fn int<'de, D: Deserializer<'de>, T: Int>(deserializer: D) -> Result<T, D::Error> {
    deserializer.deserialize_any(IntVisitor(PhantomData))
}

struct OptionVisitor<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for OptionVisitor<V> {
    type Value = Option<V::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)?;
        f.write_str(", or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self.0).map(Some)
    }
}

/// An optional integer field (absent or `null` is none; with `#[serde(default)]`).
pub fn opt_int<'de, D: Deserializer<'de>, T: Int>(deserializer: D) -> Result<Option<T>, D::Error> {
    deserializer.deserialize_option(OptionVisitor(IntVisitor(PhantomData)))
}

struct IntsVisitor<T>(PhantomData<T>);

impl<'de, T: Int> Visitor<'de> for IntsVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of integers, as JSON numbers or strings of digits")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        /// One element, read as [`int`] reads a field.
        struct Item<T>(T);
        impl<'de, T: Int> serde::Deserialize<'de> for Item<T> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                int(deserializer).map(Item)
            }
        }
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(Item(value)) = seq.next_element::<Item<T>>()? {
            out.push(value);
        }
        Ok(out)
    }
}

/// A repeated integer field: each element a JSON number or a string of digits.
pub fn ints<'de, D: Deserializer<'de>, T: Int>(deserializer: D) -> Result<Vec<T>, D::Error> {
    deserializer.deserialize_seq(IntsVisitor(PhantomData))
}

/// A `.proto` enum: its name (for messages) and its values by name.
pub trait Named {
    const ENUM: &'static str;
    const VALUES: &'static [(&'static str, u32)];
    /// What a name the table does not have reads as: nothing (an error) unless set.
    const UNKNOWN: Option<u32> = None;
}

struct NamedVisitor<E>(PhantomData<E>);

impl<E: Named> Visitor<'_> for NamedVisitor<E> {
    type Value = u32;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} as its number or its name", E::ENUM)
    }

    fn visit_i64<Er: de::Error>(self, value: i64) -> Result<u32, Er> {
        u32::try_from(value).map_err(|_| Er::custom(format!("{value} is not a {}", E::ENUM)))
    }

    fn visit_u64<Er: de::Error>(self, value: u64) -> Result<u32, Er> {
        u32::try_from(value).map_err(|_| Er::custom(format!("{value} is not a {}", E::ENUM)))
    }

    fn visit_str<Er: de::Error>(self, value: &str) -> Result<u32, Er> {
        if let Some(number) = digits(value) {
            return number.ok_or_else(|| Er::custom(format!("{value} is not a {}", E::ENUM)));
        }
        E::VALUES
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, number)| *number)
            .or(E::UNKNOWN)
            .ok_or_else(|| Er::custom(format!("`{value}` is not a {}", E::ENUM)))
    }
}

/// An enum field: its number or its name.
pub fn named<'de, D: Deserializer<'de>, E: Named>(deserializer: D) -> Result<u32, D::Error> {
    deserializer.deserialize_any(NamedVisitor::<E>(PhantomData))
}

/// `ProtoOATradeSide`.
pub struct TradeSide;
impl Named for TradeSide {
    const ENUM: &'static str = "ProtoOATradeSide";
    const VALUES: &'static [(&'static str, u32)] = &[("BUY", 1), ("SELL", 2)];
}

/// `ProtoOADealStatus`.
pub struct DealStatus;
impl Named for DealStatus {
    const ENUM: &'static str = "ProtoOADealStatus";
    const VALUES: &'static [(&'static str, u32)] = &[
        ("FILLED", 2),
        ("PARTIALLY_FILLED", 3),
        ("REJECTED", 4),
        ("INTERNALLY_REJECTED", 5),
        ("ERROR", 6),
        ("MISSED", 7),
    ];
}

/// `ProtoOAPositionStatus`.
pub struct PositionStatus;
impl Named for PositionStatus {
    const ENUM: &'static str = "ProtoOAPositionStatus";
    const VALUES: &'static [(&'static str, u32)] = &[
        ("POSITION_STATUS_OPEN", 1),
        ("POSITION_STATUS_CLOSED", 2),
        ("POSITION_STATUS_CREATED", 3),
        ("POSITION_STATUS_ERROR", 4),
    ];
}

/// `ProtoOAExecutionType`: one this version does not know reads as 0 (nothing to apply).
pub struct ExecutionType;
impl Named for ExecutionType {
    const ENUM: &'static str = "ProtoOAExecutionType";
    const VALUES: &'static [(&'static str, u32)] = &[
        ("ORDER_ACCEPTED", 2),
        ("ORDER_FILLED", 3),
        ("ORDER_REPLACED", 4),
        ("ORDER_CANCELLED", 5),
        ("ORDER_EXPIRED", 6),
        ("ORDER_REJECTED", 7),
        ("ORDER_CANCEL_REJECTED", 8),
        ("SWAP", 9),
        ("DEPOSIT_WITHDRAW", 10),
        ("ORDER_PARTIAL_FILL", 11),
        ("BONUS_DEPOSIT_WITHDRAW", 12),
    ];
    const UNKNOWN: Option<u32> = Some(0);
}

/// `ProtoOAChangeBalanceType`.
pub struct ChangeBalanceType;
impl Named for ChangeBalanceType {
    const ENUM: &'static str = "ProtoOAChangeBalanceType";
    const VALUES: &'static [(&'static str, u32)] = &[
        ("BALANCE_DEPOSIT", 0),
        ("BALANCE_WITHDRAW", 1),
        ("BALANCE_DEPOSIT_STRATEGY_COMMISSION_INNER", 3),
        ("BALANCE_WITHDRAW_STRATEGY_COMMISSION_INNER", 4),
        ("BALANCE_DEPOSIT_IB_COMMISSIONS", 5),
        ("BALANCE_WITHDRAW_IB_SHARED_PERCENTAGE", 6),
        ("BALANCE_DEPOSIT_IB_SHARED_PERCENTAGE_FROM_SUB_IB", 7),
        ("BALANCE_DEPOSIT_IB_SHARED_PERCENTAGE_FROM_BROKER", 8),
        ("BALANCE_DEPOSIT_REBATE", 9),
        ("BALANCE_WITHDRAW_REBATE", 10),
        ("BALANCE_DEPOSIT_STRATEGY_COMMISSION_OUTER", 11),
        ("BALANCE_WITHDRAW_STRATEGY_COMMISSION_OUTER", 12),
        ("BALANCE_WITHDRAW_BONUS_COMPENSATION", 13),
        ("BALANCE_WITHDRAW_IB_SHARED_PERCENTAGE_TO_BROKER", 14),
        ("BALANCE_DEPOSIT_DIVIDENDS", 15),
        ("BALANCE_WITHDRAW_DIVIDENDS", 16),
        ("BALANCE_WITHDRAW_GSL_CHARGE", 17),
        ("BALANCE_WITHDRAW_ROLLOVER", 18),
        ("BALANCE_DEPOSIT_NONWITHDRAWABLE_BONUS", 19),
        ("BALANCE_WITHDRAW_NONWITHDRAWABLE_BONUS", 20),
        ("BALANCE_DEPOSIT_SWAP", 21),
        ("BALANCE_WITHDRAW_SWAP", 22),
        ("BALANCE_DEPOSIT_MANAGEMENT_FEE", 27),
        ("BALANCE_WITHDRAW_MANAGEMENT_FEE", 28),
        ("BALANCE_DEPOSIT_PERFORMANCE_FEE", 29),
        ("BALANCE_WITHDRAW_FOR_SUBACCOUNT", 30),
        ("BALANCE_DEPOSIT_TO_SUBACCOUNT", 31),
        ("BALANCE_WITHDRAW_FROM_SUBACCOUNT", 32),
        ("BALANCE_DEPOSIT_FROM_SUBACCOUNT", 33),
        ("BALANCE_WITHDRAW_COPY_FEE", 34),
        ("BALANCE_WITHDRAW_INACTIVITY_FEE", 35),
        ("BALANCE_DEPOSIT_TRANSFER", 36),
        ("BALANCE_WITHDRAW_TRANSFER", 37),
        ("BALANCE_DEPOSIT_CONVERTED_BONUS", 38),
        ("BALANCE_DEPOSIT_NEGATIVE_BALANCE_PROTECTION", 39),
    ];
}

/// The envelope's `payloadType`: `ProtoPayloadType` and `ProtoOAPayloadType` together. A name
/// neither enum has (a message newer than this table) reads as [`super::payload::UNKNOWN`], so
/// an event Riskdeck does not use is skipped rather than ending the connection.
pub fn payload_type<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    named::<D, PayloadType>(deserializer)
}

/// `ProtoPayloadType` and `ProtoOAPayloadType`, as far as [`super::payload`] names them.
struct PayloadType;
impl Named for PayloadType {
    const ENUM: &'static str = "payload type";
    const VALUES: &'static [(&'static str, u32)] = super::payload::NAMES;
    const UNKNOWN: Option<u32> = Some(super::payload::UNKNOWN);
}

/// A string of ASCII digits as a `u32` (`None` inside when out of range), or `None` when it is
/// not digits at all (a name).
fn digits(value: &str) -> Option<Option<u32>> {
    (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())).then(|| value.parse().ok())
}
