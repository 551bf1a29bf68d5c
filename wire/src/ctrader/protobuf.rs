//! cTrader's primary transport, protobuf over TCP with TLS (Spotware's port 5035), read through
//! Spotware's own `.proto` files (`wire/proto/ctrader`, release 91, compiled by protox at build
//! time).
//!
//! A frame on the wire is a 4-byte big-endian length, then a `ProtoMessage`: the payload type,
//! the payload (the message itself, serialized) and the client's message id. This module turns
//! such a frame into the [`Envelope`] the JSON transport carries, with the payload in protobuf's
//! canonical JSON mapping (64-bit integers as strings, enums by name, which [`super::lenient`]
//! reads), and an [`Envelope`] back into a frame. The messages go through reflection over the
//! descriptors, so every message of the `.proto` files is known without generated code, and what
//! a message must hold is what Spotware's files say: an answer that lacks a `required` field is
//! refused here rather than sent to a client that would refuse to parse it.

use super::Envelope;
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor,
    ReflectMessage, SerializeOptions, Value as Reflected,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::LazyLock;

/// The largest frame either side accepts (Spotware's SDK reads up to 15 MB).
pub const MAX_FRAME: usize = 15_000_000;

/// What cannot be read or written as a cTrader protobuf message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtobufError {
    /// The frame is not a `ProtoMessage`, or its payload not the message its type names.
    #[error("not a cTrader protobuf message: {0}")]
    Malformed(String),
    /// No message of Spotware's `.proto` files has this payload type.
    #[error("payload type {0} is not a message of Spotware's .proto files")]
    UnknownPayloadType(u32),
    /// The JSON payload does not fit the message its payload type names.
    #[error("payload type {payload_type} ({message}): {reason}")]
    Mismatch {
        payload_type: u32,
        message: String,
        reason: String,
    },
}

/// Spotware's messages, by payload type.
struct Messages {
    envelope: MessageDescriptor,
    by_payload_type: HashMap<u32, MessageDescriptor>,
}

/// Spotware's messages as compiled into this crate; `None` only if the build's descriptor set
/// were broken, which [`tests`] would show.
static MESSAGES: LazyLock<Option<Messages>> = LazyLock::new(|| {
    let pool =
        DescriptorPool::decode(include_bytes!(concat!(env!("OUT_DIR"), "/ctrader.fds")).as_slice())
            .ok()?;
    let envelope = pool.get_message_by_name("ProtoMessage")?;
    // Each message names its own payload type: the default of its `payloadType` field.
    let by_payload_type = pool
        .all_messages()
        .filter_map(|message| {
            let field = message.get_field_by_name("payloadType")?;
            match field.default_value() {
                Reflected::EnumNumber(n) => Some((u32::try_from(n).ok()?, message)),
                _ => None,
            }
        })
        .collect();
    Some(Messages {
        envelope,
        by_payload_type,
    })
});

fn messages() -> Result<&'static Messages, ProtobufError> {
    MESSAGES.as_ref().ok_or_else(|| {
        ProtobufError::Malformed("the built-in .proto descriptors are broken".into())
    })
}

/// The name of the message a payload type carries, as in Spotware's files.
pub fn message_name(payload_type: u32) -> Option<&'static str> {
    messages()
        .ok()?
        .by_payload_type
        .get(&payload_type)
        .map(MessageDescriptor::name)
}

/// Reads one frame (without its length prefix): its payload becomes protobuf's canonical JSON.
/// A payload type the files do not have keeps its payload out (an empty object), as
/// [`super::payload::UNKNOWN`] events are skipped anyway.
pub fn decode(frame: &[u8]) -> Result<Envelope, ProtobufError> {
    let messages = messages()?;
    let envelope = DynamicMessage::decode(messages.envelope.clone(), frame)
        .map_err(|e| ProtobufError::Malformed(e.to_string()))?;
    // `payloadType` is required: an empty frame is not a message of payload type 0.
    let payload_type = match envelope.get_field_by_name("payloadType").as_deref() {
        Some(Reflected::U32(n)) if envelope.has_field_by_name("payloadType") => *n,
        _ => return Err(ProtobufError::Malformed("no payloadType".into())),
    };
    let client_msg_id = envelope
        .get_field_by_name("clientMsgId")
        .filter(|_| envelope.has_field_by_name("clientMsgId"))
        .and_then(|v| v.as_str().map(str::to_owned));
    let payload = match messages.by_payload_type.get(&payload_type) {
        None => Value::Object(serde_json::Map::new()),
        Some(descriptor) => {
            let bytes = envelope
                .get_field_by_name("payload")
                .and_then(|v| v.as_bytes().cloned())
                .unwrap_or_default();
            let message = DynamicMessage::decode(descriptor.clone(), bytes).map_err(|e| {
                ProtobufError::Malformed(format!("{} payload: {e}", descriptor.name()))
            })?;
            let mut payload = message
                .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
                .map_err(|e| ProtobufError::Malformed(e.to_string()))?;
            // The payload type is the envelope's; the JSON transport does not repeat it.
            if let Value::Object(fields) = &mut payload {
                fields.remove("payloadType");
            }
            payload
        }
    };
    Ok(Envelope {
        client_msg_id,
        payload_type,
        payload,
    })
}

/// Writes one message as a frame (without its length prefix). The payload may use either JSON
/// form (numbers or canonical strings and names); a field the message does not have, a value of
/// the wrong kind and a missing `required` field are errors that name them.
pub fn encode(envelope: &Envelope) -> Result<Vec<u8>, ProtobufError> {
    let messages = messages()?;
    let descriptor = messages
        .by_payload_type
        .get(&envelope.payload_type)
        .ok_or(ProtobufError::UnknownPayloadType(envelope.payload_type))?;
    let mismatch = |reason: String| ProtobufError::Mismatch {
        payload_type: envelope.payload_type,
        message: descriptor.name().to_owned(),
        reason,
    };
    let payload = match &envelope.payload {
        Value::Null => Value::Object(serde_json::Map::new()),
        other => other.clone(),
    };
    let mut message = DynamicMessage::deserialize_with_options(
        descriptor.clone(),
        payload,
        &DeserializeOptions::new().deny_unknown_fields(true),
    )
    .map_err(|e| mismatch(e.to_string()))?;
    // As cTrader writes its messages: the payload type set inside the payload too.
    if let Some(field) = descriptor.get_field_by_name("payloadType") {
        let value = field.default_value();
        message.set_field(&field, value);
    }
    if let Some(missing) = missing_required(&message) {
        return Err(mismatch(format!("required field {missing} is missing")));
    }
    let mut frame = DynamicMessage::new(messages.envelope.clone());
    frame.set_field_by_name("payloadType", Reflected::U32(envelope.payload_type));
    frame.set_field_by_name("payload", Reflected::Bytes(message.encode_to_vec().into()));
    if let Some(id) = &envelope.client_msg_id {
        frame.set_field_by_name("clientMsgId", Reflected::String(id.clone()));
    }
    Ok(frame.encode_to_vec())
}

/// The path of the first `required` field `message` (or a message inside it) lacks.
pub fn missing_required(message: &DynamicMessage) -> Option<String> {
    for field in message.descriptor().fields() {
        if field.cardinality() == prost_reflect::Cardinality::Required && !message.has_field(&field)
        {
            return Some(field.name().to_owned());
        }
        if !matches!(field.kind(), Kind::Message(_)) || !message.has_field(&field) {
            continue;
        }
        let inner = |value: &Reflected| -> Option<String> {
            value
                .as_message()
                .and_then(missing_required)
                .map(|path| format!("{}.{path}", field.name()))
        };
        let value = message.get_field(&field);
        let found = match value.as_list() {
            Some(items) => items.iter().enumerate().find_map(|(i, item)| {
                inner(item).map(|path| path.replacen('.', &format!("[{i}]."), 1))
            }),
            None => inner(&value),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// A field's descriptor by message and field name, for tests and tools.
pub fn field(message: &str, field: &str) -> Option<FieldDescriptor> {
    let messages = messages().ok()?;
    messages
        .by_payload_type
        .values()
        .chain(std::iter::once(&messages.envelope))
        .find(|m| m.name() == message)?
        .get_field_by_name(field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctrader::payload;
    use serde_json::json;

    fn envelope(payload_type: u32, payload: Value) -> Envelope {
        Envelope {
            client_msg_id: Some("m1".into()),
            payload_type,
            payload,
        }
    }

    #[test]
    fn every_payload_type_riskdeck_speaks_is_a_message_of_spotwares_files() {
        for (name, number) in payload::NAMES {
            let message = message_name(*number);
            assert!(message.is_some(), "{name} ({number}) has no message");
        }
        assert_eq!(message_name(payload::TRADER_RES), Some("ProtoOATraderRes"));
        assert_eq!(
            message_name(payload::HEARTBEAT_EVENT),
            Some("ProtoHeartbeatEvent")
        );
        assert_eq!(message_name(9999), None);
    }

    #[test]
    fn a_message_goes_out_and_comes_back_in_canonical_json() {
        let sent = envelope(
            payload::TRADER_RES,
            json!({
                "ctidTraderAccountId": 40000001,
                "trader": {
                    "ctidTraderAccountId": 40000001,
                    "balance": 10000000,
                    "depositAssetId": 1,
                    "accessRights": 0,
                    "accountType": "HEDGED",
                    "moneyDigits": 2
                }
            }),
        );
        let frame = encode(&sent).expect("as the test expects");
        let read = decode(&frame).expect("as the test expects");
        assert_eq!(read.client_msg_id.as_deref(), Some("m1"));
        assert_eq!(read.payload_type, payload::TRADER_RES);
        assert_eq!(read.payload["ctidTraderAccountId"], json!("40000001"));
        assert_eq!(read.payload["trader"]["balance"], json!("10000000"));
        assert_eq!(read.payload["trader"]["accessRights"], json!("FULL_ACCESS"));
        assert_eq!(read.payload["trader"]["moneyDigits"], json!(2));
        // What Riskdeck's reader makes of it is what the JSON transport gives.
        let trader: crate::ctrader::TraderRes =
            serde_json::from_value(read.payload).expect("as the test expects");
        assert_eq!(trader.trader.balance, 10_000_000);
    }

    #[test]
    fn a_missing_required_field_or_a_foreign_one_is_refused_by_name() {
        let error = encode(&envelope(
            payload::TRADER_RES,
            json!({"ctidTraderAccountId": 1}),
        ));
        assert!(
            matches!(&error, Err(ProtobufError::Mismatch { reason, .. }) if reason.contains("trader")),
            "{error:?}"
        );
        let error = encode(&envelope(
            payload::OA_ERROR_RES,
            json!({"errorCode": "X", "colour": "red"}),
        ));
        assert!(
            matches!(&error, Err(ProtobufError::Mismatch { reason, .. }) if reason.contains("colour")),
            "{error:?}"
        );
        let nested = encode(&envelope(
            payload::DEAL_LIST_RES,
            json!({"ctidTraderAccountId": 1, "hasMore": false, "deal": [{"dealId": 1}]}),
        ));
        assert!(
            matches!(&nested, Err(ProtobufError::Mismatch { reason, .. }) if reason.contains("deal[0].")),
            "{nested:?}"
        );
        assert_eq!(
            encode(&envelope(9999, json!({}))),
            Err(ProtobufError::UnknownPayloadType(9999))
        );
    }

    #[test]
    fn garbage_frames_are_errors_and_unknown_payload_types_are_kept_as_empty_events() {
        assert!(matches!(
            decode(b"\xff\xff\xff"),
            Err(ProtobufError::Malformed(_))
        ));
        assert!(matches!(decode(b""), Err(ProtobufError::Malformed(_))));
        let mut frame =
            DynamicMessage::new(messages().expect("as the test expects").envelope.clone());
        frame.set_field_by_name("payloadType", Reflected::U32(7777));
        frame.set_field_by_name("payload", Reflected::Bytes(vec![1, 2, 3].into()));
        let read = decode(&frame.encode_to_vec()).expect("as the test expects");
        assert_eq!(read.payload_type, 7777);
        assert_eq!(read.payload, json!({}));
        assert_eq!(read.client_msg_id, None);
        // A known type whose payload is not that message.
        frame.set_field_by_name("payloadType", Reflected::U32(payload::TRADER_RES));
        frame.set_field_by_name("payload", Reflected::Bytes(vec![0xff; 4].into()));
        assert!(matches!(
            decode(&frame.encode_to_vec()),
            Err(ProtobufError::Malformed(_))
        ));
    }

    #[test]
    fn the_error_answers_retry_after_is_in_spotwares_files() {
        let field = field("ProtoOAErrorRes", "retryAfter").expect("as the test expects");
        assert_eq!(field.number(), 6);
    }
}
