//! What a notification says: one event turned into a subject, a text for people (Telegram,
//! email) and a JSON body for machines (webhook), with the numbers that matter (rule, value,
//! limit, room left, the time in the firm's zone) and a link to the account's dashboard.

use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Serialize;
use shared::engine::Event;
use shared::format::money;
use store::StoredEvent;

/// A rendered notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// One line (an email's subject).
    pub subject: String,
    /// The whole message for a person.
    pub text: String,
    /// The webhook's JSON body (without the send time and delivery id, added when sent).
    pub payload: Payload,
}

/// The webhook's JSON body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Payload {
    /// The event's id: the same on every channel and every resend.
    pub event_id: i64,
    /// The account.
    pub account: String,
    /// The account's display name.
    pub account_name: String,
    /// `warning`, `breach`, `objective_met`, `passed` or `failed`.
    pub kind: String,
    /// The rule, when the event concerns one.
    pub rule: Option<String>,
    /// When it happened (UTC).
    pub time: chrono::DateTime<chrono::Utc>,
    /// The same instant in the firm's zone, as people read it.
    pub local_time: String,
    /// The measured value (equity for loss rules).
    pub value: Option<String>,
    /// The limit it was measured against (the equity floor for loss rules).
    pub limit: Option<String>,
    /// How far the value is from the limit (negative once it is beyond).
    pub room: Option<String>,
    /// For warnings: the share of the budget used (0 to 1).
    pub fraction: Option<String>,
    /// The account's dashboard, when the public URL is configured.
    pub link: Option<String>,
    /// The text people get.
    pub text: String,
    /// The event as stored, evidence included.
    pub event: serde_json::Value,
}

/// Renders one stored event of `account` (named `account_name`).
pub fn render(
    event_id: i64,
    account: &str,
    account_name: &str,
    stored: &StoredEvent,
    zone: Tz,
    public_url: Option<&str>,
) -> Message {
    let event: Option<Event> = serde_json::from_str(&stored.body).ok();
    let evidence = event.as_ref().and_then(|e| e.evidence.as_deref());
    let value = evidence.map(|e| e.measured);
    let limit = evidence.map(|e| e.limit);
    let fraction = evidence.and_then(|e| e.fraction);
    // A loss rule measures equity against a floor below it; a count or size rule measures
    // a number against a ceiling above it. Room is measured toward the limit either way.
    let room = evidence.map(|e| {
        if stored.kind == "breach" {
            -(e.measured - e.limit).abs()
        } else {
            (e.measured - e.limit).abs()
        }
    });
    let local_time = stored
        .time
        .with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string();
    let link = public_url.map(|base| {
        format!(
            "{}/accounts/{}",
            base.trim_end_matches('/'),
            url::form_urlencoded::byte_serialize(account.as_bytes()).collect::<String>()
        )
    });
    let headline = match stored.kind.as_str() {
        "warning" => "Warning",
        "breach" => "Rule breached",
        "held" => "Decision held: a balance change has no deal yet",
        "objective_met" => "Objective met",
        "passed" => "Challenge passed",
        "failed" => "Challenge failed",
        "feed_stale" => "Feed stale",
        "feed_recovered" => "Feed recovered",
        "daily_summary" => "Daily summary",
        "tracker_exceeded" => "Risk tracker threshold exceeded",
        "promoted" => "Next phase started",
        "competition_started" => "Competition started",
        "competition_disqualified" => "Disqualified from a competition",
        "competition_final" => "Competition final standings",
        other => other,
    };
    // The tracker's events (feed, daily summary) are JSON of their own, not engine events.
    let body: serde_json::Value =
        serde_json::from_str(&stored.body).unwrap_or(serde_json::Value::Null);
    let date = body["date"]
        .as_str()
        .filter(|_| stored.kind == "daily_summary");
    let subject = match (&stored.rule, date) {
        (Some(rule), _) => format!("{headline}: {rule} on {account_name}"),
        (None, Some(date)) => format!("{headline}: {account_name}, {date}"),
        (None, None) => format!("{headline}: {account_name}"),
    };
    let mut text = format!("{subject}\nAccount: {account_name} ({account})\n");
    let local = |time: chrono::DateTime<chrono::Utc>| {
        time.with_timezone(&zone)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    };
    match stored.kind.as_str() {
        "feed_stale" | "feed_recovered" => feed_lines(&mut text, &stored.kind, &body, local),
        "daily_summary" => summary_lines(&mut text, &body),
        "tracker_exceeded" => tracker_lines(&mut text, &body),
        "competition_started" | "competition_disqualified" | "competition_final" => {
            competition_lines(&mut text, &body);
        }
        "promoted" => {
            for (label, key) in [
                ("Program", "program_name"),
                ("From", "from_phase"),
                ("To", "to_phase"),
                ("Starting balance", "initial_balance"),
            ] {
                if let Some(value) = body[key].as_str() {
                    text.push_str(&format!("{label}: {value}\n"));
                }
            }
        }
        _ => {}
    }
    if let Some(rule) = &stored.rule {
        text.push_str(&format!("Rule: {rule}\n"));
    }
    if let (Some(value), Some(limit)) = (value, limit) {
        text.push_str(&format!(
            "Value: {}  Limit: {}\n",
            money(value),
            money(limit)
        ));
    }
    if let Some(position) = evidence.and_then(|e| e.position_id.as_deref()) {
        text.push_str(&format!("Position: {position}\n"));
    }
    if let Some(deal) = evidence.and_then(|e| e.deal_id.as_deref()) {
        text.push_str(&format!("Deal: {deal}\n"));
    }
    if let Some(fraction) = fraction {
        text.push_str(&format!(
            "Budget used: {}%\n",
            shared::format::trimmed(fraction * Decimal::ONE_HUNDRED, 1)
        ));
    }
    if let Some(room) = room {
        if room.is_sign_negative() && !room.is_zero() {
            text.push_str(&format!("Beyond the limit by: {}\n", money(-room)));
        } else {
            text.push_str(&format!("Room left: {}\n", money(room)));
        }
    }
    if evidence.is_some_and(|e| e.estimated) {
        text.push_str("(equity estimated from quotes since the last account update)\n");
    }
    text.push_str(&format!("Time: {local_time}\n"));
    if let Some(link) = &link {
        text.push_str(&format!("Dashboard: {link}\n"));
    }
    let text = text.trim_end().to_owned();
    Message {
        subject,
        payload: Payload {
            event_id,
            account: account.to_owned(),
            account_name: account_name.to_owned(),
            kind: stored.kind.clone(),
            rule: stored.rule.clone(),
            time: stored.time,
            local_time,
            value: value.map(|v| v.to_string()),
            limit: limit.map(|v| v.to_string()),
            room: room.map(|v| v.to_string()),
            fraction: fraction.map(|v| v.to_string()),
            link,
            text: text.clone(),
            event: serde_json::from_str(&stored.body).unwrap_or(serde_json::Value::Null),
        },
        text,
    }
}

/// A competition event's lines: the competition, and the entrant's rank or disqualification.
fn competition_lines(text: &mut String, body: &serde_json::Value) {
    if let Some(name) = body["name"].as_str() {
        text.push_str(&format!("Competition: {name}\n"));
    }
    if let (Some(rank), Some(entrants)) = (body["rank"].as_u64(), body["entrants"].as_u64()) {
        text.push_str(&format!("Final rank: {rank} of {entrants}\n"));
    }
    for (label, key) in [
        ("Return", "return_percent"),
        ("Profit", "profit"),
        ("Ranking", "ranking"),
        ("Evidence", "evidence"),
    ] {
        if let Some(value) = body[key].as_str() {
            text.push_str(&format!("{label}: {value}\n"));
        }
    }
}

/// A decimal the tracker wrote into an event's JSON (a string, or a number).
fn decimal(value: &serde_json::Value) -> Option<Decimal> {
    match value {
        serde_json::Value::String(text) => text.parse().ok(),
        serde_json::Value::Number(number) => number.to_string().parse().ok(),
        _ => None,
    }
}

/// What a feed event says: why, and since when there was no fresh data.
fn feed_lines(
    text: &mut String,
    kind: &str,
    body: &serde_json::Value,
    local: impl Fn(chrono::DateTime<chrono::Utc>) -> String,
) {
    let last_data = body["last_data"]
        .as_str()
        .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok());
    if kind == "feed_stale" {
        text.push_str(
            "No fresh data from the broker: the rules are measured again once it flows.\n",
        );
        if let Some(at) = last_data {
            text.push_str(&format!("Last data: {}\n", local(at)));
        }
    } else {
        text.push_str("Data from the broker flows again; the rules are measured.\n");
    }
    if let Some(detail) = body["detail"].as_str().filter(|d| !d.is_empty()) {
        text.push_str(&format!("Why: {detail}\n"));
    }
}

/// What a daily summary says: the day's closing numbers and P/L, then every rule's room as
/// the new day starts.
/// A MetaApi risk tracker's event (`crate::risk`): which threshold, the amounts, the period
/// and when, in broker time.
fn tracker_lines(text: &mut String, body: &serde_json::Value) {
    let kind = body["exceededThresholdType"]
        .as_str()
        .unwrap_or("threshold");
    let amount = |key: &str| decimal(&body[key]).map(money).unwrap_or_default();
    let percent = |key: &str| {
        decimal(&body[key])
            .map(|r| format!("{}%", (r * Decimal::ONE_HUNDRED).round_dp(2).normalize()))
            .unwrap_or_default()
    };
    let (absolute, relative) = if kind == "profit" {
        ("absoluteProfit", "relativeProfit")
    } else {
        ("absoluteDrawdown", "relativeDrawdown")
    };
    text.push_str(&format!(
        "Exceeded: {kind} {} ({})\n",
        amount(absolute),
        percent(relative)
    ));
    if let Some(period) = body["period"].as_str() {
        let start = body["startBrokerTime"].as_str().unwrap_or("");
        text.push_str(&format!("Period: {period} from {start} (broker time)\n"));
    }
    if let Some(at) = body["brokerTime"].as_str() {
        text.push_str(&format!("At: {at} (broker time)\n"));
    }
}

fn summary_lines(text: &mut String, body: &serde_json::Value) {
    let amount = |key: &str| decimal(&body[key]).map(money);
    if let Some(status) = body["status"].as_str() {
        text.push_str(&format!("Status: {status}\n"));
    }
    if let (Some(balance), Some(equity)) = (amount("end_balance"), amount("end_equity")) {
        text.push_str(&format!(
            "Closing balance: {balance}  Closing equity: {equity}\n"
        ));
    }
    if let Some(pl) = decimal(&body["day_pl"]) {
        let sign = if pl.is_sign_positive() && !pl.is_zero() {
            "+"
        } else {
            ""
        };
        text.push_str(&format!("Day P/L: {sign}{}", money(pl)));
        if let Some(closed) = amount("closed_pl") {
            text.push_str(&format!(" (closed trades: {closed})"));
        }
        text.push('\n');
    }
    if let Some(min) = amount("min_equity") {
        text.push_str(&format!("Lowest equity: {min}\n"));
    }
    let rules = body["rules"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !rules.is_empty() {
        text.push_str("Rules:\n");
    }
    for rule in rules {
        let id = rule["id"].as_str().unwrap_or("?");
        let status = rule["status"].as_str().unwrap_or("?");
        let objective = rule["objective"].as_bool().unwrap_or(false);
        let remaining = decimal(&rule["remaining"]).map(|room| match rule["unit"].as_str() {
            Some("money") | None => money(room),
            Some(unit) => format!("{} {unit}", room.normalize()),
        });
        match remaining {
            Some(room) if objective => {
                text.push_str(&format!("  {id}: {room} to go ({status})\n"));
            }
            Some(room) => text.push_str(&format!("  {id}: {room} room left ({status})\n")),
            None => text.push_str(&format!("  {id}: {status}\n")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[track_caller]
    fn check(value: Decimal, expected: &str) {
        assert_eq!(money(value), expected);
    }

    #[test]
    fn amounts_read_as_people_write_them() {
        check(dec!(95000), "95,000.00");
        check(dec!(-1234.567), "-1,234.57");
        check(dec!(0.004), "0.00");
        check(dec!(100), "100.00");
        check(dec!(1000000.5), "1,000,000.50");
        // The dashboard's rule (shared::format): a half cent rounds away from zero, in a
        // message exactly as on the page.
        check(dec!(0.025), "0.03");
        check(dec!(-2.345), "-2.35");
    }

    #[test]
    fn competition_messages_name_the_competition_and_the_standing() {
        let final_standings = tracker_event(
            "competition_final",
            serde_json::json!({"kind": "competition_final", "name": "Spring cup", "rank": 2,
                "entrants": 40, "return_percent": "3.25", "profit": "3250.00"}),
        );
        assert_eq!(
            final_standings.subject,
            "Competition final standings: FTMO 100k"
        );
        for line in [
            "Competition: Spring cup",
            "Final rank: 2 of 40",
            "Return: 3.25",
        ] {
            assert!(
                final_standings.text.contains(line),
                "{line:?} in {}",
                final_standings.text
            );
        }
        let disqualified = tracker_event(
            "competition_disqualified",
            serde_json::json!({"kind": "competition_disqualified", "name": "Spring cup",
                "evidence": "Maximum daily loss (daily_loss) broken"}),
        );
        assert!(
            disqualified
                .text
                .contains("Evidence: Maximum daily loss (daily_loss) broken"),
            "{}",
            disqualified.text
        );
    }

    fn tracker_event(kind: &str, body: serde_json::Value) -> Message {
        let time: chrono::DateTime<chrono::Utc> = "2026-03-02T23:00:00Z".parse().expect("time");
        let stored = StoredEvent {
            time,
            kind: kind.into(),
            rule: None,
            body: body.to_string(),
        };
        render(
            9,
            "ftmo-100k",
            "FTMO 100k",
            &stored,
            chrono_tz::Europe::Prague,
            None,
        )
    }

    #[track_caller]
    fn says(message: &Message, parts: &[&str]) {
        for part in parts {
            assert!(
                message.text.contains(part),
                "{part:?} not in {}",
                message.text
            );
        }
    }

    #[test]
    fn a_risk_tracker_message_says_which_threshold_how_much_and_when() {
        let message = tracker_event(
            "tracker_exceeded",
            serde_json::json!({
                "accountId": "ftmo-100k",
                "trackerId": "t1",
                "period": "day",
                "startBrokerTime": "2026-03-02 00:00:00.000",
                "endBrokerTime": "2026-03-02 23:59:59.999",
                "brokerTime": "2026-03-02 14:03:11.250",
                "absoluteDrawdown": 5123.4,
                "relativeDrawdown": 0.051234,
                "absoluteProfit": 0,
                "relativeProfit": 0,
                "exceededThresholdType": "drawdown"
            }),
        );
        says(
            &message,
            &[
                "Risk tracker threshold exceeded: FTMO 100k",
                "Exceeded: drawdown 5,123.40 (5.12%)",
                "Period: day from 2026-03-02 00:00:00.000 (broker time)",
                "At: 2026-03-02 14:03:11.250 (broker time)",
            ],
        );
    }

    #[test]
    fn feed_messages_say_why_and_since_when_in_the_firms_zone() {
        let stale = tracker_event(
            "feed_stale",
            serde_json::json!({
                "kind": "feed_stale",
                "detail": "the broker has not answered for 12 s",
                "last_data": "2026-03-02T22:59:48Z",
            }),
        );
        assert_eq!(stale.subject, "Feed stale: FTMO 100k");
        says(
            &stale,
            &[
                "No fresh data from the broker",
                "Last data: 2026-03-02 23:59:48 CET",
                "Why: the broker has not answered for 12 s",
                "Time: 2026-03-03 00:00:00 CET",
            ],
        );
        let recovered = tracker_event("feed_recovered", serde_json::json!({"detail": ""}));
        assert_eq!(recovered.subject, "Feed recovered: FTMO 100k");
        says(&recovered, &["flows again"]);
        assert!(!recovered.text.contains("Why:"), "{}", recovered.text);
    }

    #[test]
    fn a_daily_summary_has_the_days_numbers_and_every_rules_room() {
        let summary = tracker_event(
            "daily_summary",
            serde_json::json!({
                "date": "2026-03-02",
                "status": "active",
                "end_balance": "100250",
                "end_equity": "100100.5",
                "day_pl": "100.5",
                "closed_pl": "250",
                "min_equity": "99800",
                "rules": [
                    {"id": "daily_loss", "status": "ok", "remaining": "5100.5", "unit": "money",
                     "objective": false},
                    {"id": "min_trading_days", "status": "pending", "remaining": "3",
                     "unit": "days", "objective": true},
                    {"id": "max_positions", "status": "ok", "unit": "positions"},
                ],
            }),
        );
        assert_eq!(summary.subject, "Daily summary: FTMO 100k, 2026-03-02");
        says(
            &summary,
            &[
                "Status: active",
                "Closing balance: 100,250.00  Closing equity: 100,100.50",
                "Day P/L: +100.50 (closed trades: 250.00)",
                "Lowest equity: 99,800.00",
                "  daily_loss: 5,100.50 room left (ok)",
                "  min_trading_days: 3 days to go (pending)",
                "  max_positions: ok",
            ],
        );
        // Nothing readable: the headline and the time, no panic.
        let bare = tracker_event("daily_summary", serde_json::json!("garbage"));
        assert_eq!(bare.subject, "Daily summary: FTMO 100k");
    }

    #[test]
    fn a_breach_message_carries_rule_value_limit_room_local_time_and_link() {
        let time: chrono::DateTime<chrono::Utc> = "2026-03-02T14:30:00Z".parse().expect("time");
        let event = Event {
            time,
            kind: shared::engine::EventKind::Breach,
            rule: Some("daily_loss".into()),
            evidence: Some(Box::new(shared::engine::Evidence {
                time,
                rule: "daily_loss".into(),
                measured: dec!(94_999.5),
                limit: dec!(95_000),
                fraction: None,
                estimated: false,
                anchors: shared::engine::Anchors::default(),
                open_positions: Vec::new(),
                record: shared::engine::Record::new(time, shared::engine::RecordData::Tick {}),
                decided: None,
                unexplained: None,
                position_id: None,
                deal_id: None,
            })),
        };
        let body = serde_json::to_string(&event).expect("json");
        let stored = StoredEvent {
            time,
            kind: "breach".into(),
            rule: Some("daily_loss".into()),
            body,
        };
        let message = render(
            7,
            "ftmo-100k",
            "FTMO 100k",
            &stored,
            chrono_tz::Europe::Prague,
            Some("https://risk.example.com/"),
        );
        assert_eq!(message.subject, "Rule breached: daily_loss on FTMO 100k");
        for part in [
            "Rule: daily_loss",
            "Value: 94,999.50  Limit: 95,000.00",
            "Beyond the limit by: 0.50",
            "Time: 2026-03-02 15:30:00 CET",
            "Dashboard: https://risk.example.com/accounts/ftmo-100k",
        ] {
            assert!(
                message.text.contains(part),
                "{part:?} not in {}",
                message.text
            );
        }
        assert_eq!(message.payload.event_id, 7);
        assert_eq!(message.payload.kind, "breach");
        assert!(!message.text.contains("Position:"), "{}", message.text);
    }

    #[test]
    fn a_breach_about_one_trade_names_its_position_and_deal() {
        let time: chrono::DateTime<chrono::Utc> = "2026-03-03T10:00:00Z".parse().expect("time");
        let event = Event {
            time,
            kind: shared::engine::EventKind::Breach,
            rule: Some("trade_loss".into()),
            evidence: Some(Box::new(shared::engine::Evidence {
                time,
                rule: "trade_loss".into(),
                measured: dec!(-3500),
                limit: dec!(-3000),
                fraction: None,
                estimated: false,
                anchors: shared::engine::Anchors::default(),
                open_positions: Vec::new(),
                record: shared::engine::Record::new(time, shared::engine::RecordData::Tick {}),
                position_id: Some("p2".into()),
                deal_id: Some("2".into()),
                decided: None,
                unexplained: None,
            })),
        };
        let stored = StoredEvent {
            time,
            kind: "breach".into(),
            rule: Some("trade_loss".into()),
            body: serde_json::to_string(&event).expect("json"),
        };
        let message = render(1, "a", "A", &stored, chrono_tz::UTC, None);
        for part in [
            "Position: p2",
            "Deal: 2",
            "Value: -3,500.00  Limit: -3,000.00",
        ] {
            assert!(
                message.text.contains(part),
                "{part:?} not in {}",
                message.text
            );
        }
    }
}
