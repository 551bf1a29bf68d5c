//! MetaApi's streaming API on the wire, as its SDK 29.1.1 speaks it: Engine.IO 3 packets and
//! polling payloads, Socket.IO 2 events on the default namespace, and the envelope of the
//! `request` event (see the streaming spec in the project notes, sections 1 to 3).
//!
//! Only framing and shapes live here; what a server or a client does with them is theirs. The
//! packets that carry account data (`synchronization` events) reuse the REST shapes of
//! [`metaapi`](crate::metaapi).

use serde::Deserialize;
use serde_json::Value;

/// The Engine.IO protocol version MetaApi's SDK speaks (`EIO=3`).
pub const ENGINE_IO_VERSION: &str = "3";

/// The SDK's Engine.IO client refuses a polling payload of more packets than this.
pub const MAX_PACKETS_PER_PAYLOAD: usize = 16;

/// Engine.IO packet types (the first character of a packet).
pub mod engine {
    pub const OPEN: char = '0';
    pub const CLOSE: char = '1';
    pub const PING: char = '2';
    pub const PONG: char = '3';
    pub const MESSAGE: char = '4';
    pub const UPGRADE: char = '5';
    pub const NOOP: char = '6';
}

/// The Socket.IO CONNECT packet for namespace `/`, inside an Engine.IO message.
pub const SOCKET_IO_CONNECT: &str = "40";

/// Why a polling payload could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FramingError {
    #[error("payload framing: {0}")]
    Malformed(&'static str),
    #[error("payload is not UTF-8")]
    NotUtf8,
}

/// Writes packets as an Engine.IO 3 text payload, `<length>:<packet>` each, where the length
/// counts characters (the SDK slices characters). Keep packets ASCII (see [`event`]) and the
/// count at most [`MAX_PACKETS_PER_PAYLOAD`].
pub fn encode_payload<S: AsRef<str>>(packets: &[S]) -> String {
    let mut out = String::new();
    for packet in packets {
        let packet = packet.as_ref();
        out.push_str(&packet.chars().count().to_string());
        out.push(':');
        out.push_str(packet);
    }
    out
}

/// Reads an Engine.IO 3 payload in either framing: text (`<length>:<packet>`...) or binary
/// (`0x00` or `0x01`, the length as digit bytes 0-9, `0xFF`, the packet), as the SDK posts it.
/// Binary packets (type byte `0x01`) are returned as text too; MetaApi sends none.
pub fn decode_payload(body: &[u8]) -> Result<Vec<String>, FramingError> {
    match body.first() {
        None => Ok(Vec::new()),
        Some(0 | 1) => decode_binary(body),
        Some(_) => decode_text(std::str::from_utf8(body).map_err(|_| FramingError::NotUtf8)?),
    }
}

fn decode_binary(mut body: &[u8]) -> Result<Vec<String>, FramingError> {
    let mut packets = Vec::new();
    while let Some((_kind, rest)) = body.split_first() {
        let end = rest
            .iter()
            .position(|&b| b == 0xFF)
            .ok_or(FramingError::Malformed("no length terminator"))?;
        let length = digits(&rest[..end])?;
        let start = end + 1;
        let packet = rest
            .get(start..start + length)
            .ok_or(FramingError::Malformed("packet shorter than its length"))?;
        packets.push(
            std::str::from_utf8(packet)
                .map_err(|_| FramingError::NotUtf8)?
                .to_owned(),
        );
        body = &rest[start + length..];
    }
    Ok(packets)
}

fn digits(raw: &[u8]) -> Result<usize, FramingError> {
    if raw.is_empty() || raw.len() > 9 {
        return Err(FramingError::Malformed("bad length"));
    }
    raw.iter().try_fold(0usize, |n, &d| {
        if d <= 9 {
            Ok(n * 10 + usize::from(d))
        } else {
            Err(FramingError::Malformed("bad length digit"))
        }
    })
}

fn decode_text(mut body: &str) -> Result<Vec<String>, FramingError> {
    let mut packets = Vec::new();
    while !body.is_empty() {
        let (length, rest) = body
            .split_once(':')
            .ok_or(FramingError::Malformed("no length separator"))?;
        let length: usize = length
            .parse()
            .map_err(|_| FramingError::Malformed("bad length"))?;
        let end = rest
            .char_indices()
            .nth(length)
            .map_or(rest.len(), |(i, _)| i);
        if rest[..end].chars().count() != length {
            return Err(FramingError::Malformed("packet shorter than its length"));
        }
        packets.push(rest[..end].to_owned());
        body = &rest[end..];
    }
    Ok(packets)
}

/// A Socket.IO EVENT on `/` with one argument, as an Engine.IO message: `42["name",{...}]`.
/// Non-ASCII characters are escaped (`\uXXXX`), so that lengths in characters, bytes and
/// UTF-16 units agree whatever the client counts.
pub fn event(name: &str, data: &Value) -> String {
    let json = Value::Array(vec![Value::String(name.to_owned()), data.clone()]).to_string();
    let mut out = String::with_capacity(json.len() + 2);
    out.push_str("42");
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Reads a Socket.IO EVENT on `/` (the part after Engine.IO's `4`): `2[ackId]["name",arg]`.
/// Anything else (CONNECT, DISCONNECT, other namespaces, binary events) is `None`.
pub fn parse_event(packet: &str) -> Option<(String, Value)> {
    let body = packet.strip_prefix('2')?;
    let body = body.trim_start_matches(|c: char| c.is_ascii_digit());
    let Value::Array(mut items) = serde_json::from_str(body).ok()? else {
        return None;
    };
    if items.is_empty() {
        return None;
    }
    let Value::String(name) = items.remove(0) else {
        return None;
    };
    Some((name, items.into_iter().next().unwrap_or(Value::Null)))
}

/// The `request` event's argument: the envelope and the fields of the requests a streaming
/// client sends (`subscribe`, `synchronize`, `unsubscribe`, `waitSynchronized`, ...).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StreamRequest {
    #[serde(rename = "type")]
    pub request_type: String,
    pub account_id: String,
    /// The synchronizationId, for `synchronize`.
    pub request_id: String,
    pub instance_index: u32,
    /// `subscribe`: the socket's session, echoed in `authenticated`.
    pub session_id: Option<String>,
    /// `synchronize`: deals at or after this time are wanted (ISO 8601).
    pub starting_deal_time: Option<String>,
    /// `synchronize`: history orders at or after this time are wanted (ISO 8601).
    pub starting_history_order_time: Option<String>,
    pub host: Option<String>,
    pub application: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_payloads_round_trip_and_count_characters() {
        #[track_caller]
        fn check(packets: &[&str], text: &str) {
            assert_eq!(encode_payload(packets), text);
            let decoded = decode_payload(text.as_bytes()).expect("a payload");
            assert_eq!(decoded, packets);
        }
        check(&[], "");
        check(&["40"], "2:40");
        check(&["2", "3probe"], "1:26:3probe");
        check(
            &[r#"0{"sid":"a","upgrades":["websocket"]}"#, "40"],
            r#"37:0{"sid":"a","upgrades":["websocket"]}2:40"#,
        );
        check(&["4é:x"], "4:4é:x");
    }

    #[test]
    fn binary_payloads_as_the_sdk_posts_them() {
        let event = r#"42["request",{"type":"subscribe","accountId":"a"}]"#;
        let mut body = vec![0, 1, 0xFF, b'2', 0];
        body.extend(event.len().to_string().bytes().map(|d| d - b'0'));
        body.push(0xFF);
        body.extend_from_slice(event.as_bytes());
        assert_eq!(decode_payload(&body), Ok(vec!["2".into(), event.into()]));
    }

    #[test]
    fn broken_payloads_are_errors_not_panics() {
        for bad in [
            &b"5:40"[..],
            b"x:40",
            b"40",
            b"\x00\x09\x09",
            b"\x00\xFF2",
            b"\x00\x05\xFF2",
            b"\x00\x0a\xFF2",
            b"99999999999999999999:x",
        ] {
            assert!(decode_payload(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn events_are_ascii_and_parse_back() {
        let data = json!({"accountId": "a", "name": "Zoë 🙂"});
        let packet = event("synchronization", &data);
        assert!(packet.is_ascii(), "{packet}");
        assert!(packet.starts_with(r#"42["synchronization",{"#));
        let (name, back) = parse_event(&packet[1..]).expect("an event");
        assert_eq!((name.as_str(), back), ("synchronization", data));

        assert_eq!(
            parse_event(r#"23["request",{"a":1}]"#),
            Some(("request".into(), json!({"a": 1})))
        );
        for other in ["0", "1", r#"2/other,["x"]"#, "2[]", "2[1]", "2{", ""] {
            assert_eq!(parse_event(other), None, "{other}");
        }
    }

    #[test]
    fn requests_read_with_defaults_for_what_is_left_out() {
        let request: StreamRequest = serde_json::from_value(json!({
            "type": "synchronize", "accountId": "a", "requestId": "r", "instanceIndex": 0,
            "startingDealTime": "1970-01-02T03:46:40.000Z", "host": "ps-mpa-1", "version": 2,
            "timestamps": {"clientProcessingStarted": "2026-12-04T15:49:02.940Z"}
        }))
        .expect("a request");
        assert_eq!(request.request_type, "synchronize");
        assert_eq!(
            request.starting_deal_time.as_deref(),
            Some("1970-01-02T03:46:40.000Z")
        );
        assert_eq!(request.session_id, None);
        let empty: StreamRequest = serde_json::from_value(json!({})).expect("all optional");
        assert_eq!(empty, StreamRequest::default());
    }
}
