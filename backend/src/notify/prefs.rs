//! A person's notification preferences: where they want messages and which events. Stored as
//! JSON per user; the webhook key is sealed under `secret_key` (like broker tokens, with the
//! user as context, so a sealed key copied to another person's row does not open) and never
//! sent back. Rows written before keys were sealed hold the key in plain text: they are read as
//! they are, and sealed the next time they are saved.

use serde::{Deserialize, Serialize};
use shared::api::{NotificationPreferences, UserId};
use store::secrets::{SealedSecret, Secret, SecretKey};

/// The shortest webhook key accepted.
pub const MIN_SECRET_CHARS: usize = 16;
/// The longest URL, address or key accepted.
const MAX_TEXT_CHARS: usize = 2_048;
/// The most rules one person may pick.
const MAX_RULES: usize = 64;

/// Preferences as read (the webhook key opened), and as stored (the key sealed).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stored {
    /// Telegram chat id.
    pub telegram_chat_id: Option<String>,
    /// Webhook URL.
    pub webhook_url: Option<String>,
    /// Webhook key, in plain text in memory. Stored only by rows written before keys were
    /// sealed: it is read from them, never written.
    #[serde(skip_serializing)]
    pub webhook_secret: Option<String>,
    /// Webhook key as stored: sealed (`v1.`...), opened into `webhook_secret` when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_secret_sealed: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Event kinds; empty means all.
    pub kinds: Vec<String>,
    /// Rule ids; empty means all.
    pub rules: Vec<String>,
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.view(), f)
    }
}

/// The context a user's webhook key is sealed for.
fn context(user: UserId) -> String {
    format!("notifications:user:{user}:webhook_secret")
}

impl Stored {
    /// Reads `user`'s stored JSON, opening the sealed webhook key with `key`; what cannot be
    /// read counts as no preferences, and a key that cannot be opened as no key (both logged).
    pub fn parse(json: Option<&str>, key: Option<&SecretKey>, user: UserId) -> Self {
        let mut stored: Self = json.map_or_else(Self::default, |text| {
            serde_json::from_str(text).unwrap_or_else(|error| {
                tracing::warn!(%error, "unreadable notification preferences; ignoring them");
                Self::default()
            })
        });
        if let Some(sealed) = stored.webhook_secret_sealed.take() {
            let sealed = SealedSecret::from_stored(sealed);
            stored.webhook_secret = match key.map(|key| key.open(&context(user), &sealed)) {
                Some(Ok(secret)) => Some(secret.expose().to_owned()),
                Some(Err(error)) => {
                    tracing::warn!(%user, %error, "cannot open a webhook key; it counts as unset");
                    None
                }
                None => {
                    tracing::warn!(%user, "a webhook key is sealed but no secret_key is configured");
                    None
                }
            };
        }
        stored
    }

    /// The JSON to store for `user`: the webhook key sealed under `key`. Without a key a
    /// webhook key cannot be stored; the message says what to fix.
    pub fn to_json(&self, key: Option<&SecretKey>, user: UserId) -> Result<String, String> {
        let mut stored = self.clone();
        if let Some(secret) = stored.webhook_secret.take() {
            let key = key.ok_or(
                "webhook_secret: this server has no secret_key, so it cannot store webhook keys: \
                 ask the operator to set secret_key in the config file or RISKDECK_SECRET_KEY \
                 (e.g. the output of `openssl rand -hex 32`), or leave the webhook out",
            )?;
            let sealed = key
                .seal(&context(user), &Secret::new(secret))
                .map_err(|e| format!("cannot seal the webhook key: {e}"))?;
            stored.webhook_secret_sealed = Some(sealed.as_str().to_owned());
        }
        serde_json::to_string(&stored).map_err(|e| format!("cannot write preferences: {e}"))
    }

    /// What the person sees (the key left out).
    pub fn view(&self) -> NotificationPreferences {
        NotificationPreferences {
            telegram_chat_id: self.telegram_chat_id.clone(),
            webhook_url: self.webhook_url.clone(),
            webhook_secret: None,
            webhook_secret_set: self.webhook_secret.is_some(),
            email: self.email.clone(),
            kinds: self.kinds.clone(),
            rules: self.rules.clone(),
        }
    }

    /// Whether an event of `kind` about `rule` is wanted.
    pub fn wants(&self, kind: &str, rule: Option<&str>) -> bool {
        wants(&self.kinds, &self.rules, kind, rule)
    }

    /// Applies a request on top of what is stored, checked: blank fields clear a channel, a
    /// left-out webhook key keeps the stored one. The message says what to fix.
    pub fn update(&self, request: NotificationPreferences) -> Result<Self, String> {
        let blank_is_none =
            |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let telegram_chat_id = blank_is_none(request.telegram_chat_id);
        let webhook_url = blank_is_none(request.webhook_url);
        let email = blank_is_none(request.email);
        let webhook_secret = match request.webhook_secret {
            Some(secret) if secret.is_empty() => None,
            Some(secret) => Some(secret),
            None => self.webhook_secret.clone(),
        };
        if let Some(chat) = &telegram_chat_id {
            check_chat_id(chat).map_err(|m| format!("telegram_chat_id: {m}"))?;
        }
        if let Some(url) = &webhook_url {
            check_url(url).map_err(|m| format!("webhook_url: {m}"))?;
            match &webhook_secret {
                None => {
                    return Err(format!(
                        "webhook_secret: a webhook needs a key of at least {MIN_SECRET_CHARS} \
                         characters to sign its messages with"
                    ));
                }
                Some(secret)
                    if secret.chars().count() < MIN_SECRET_CHARS
                        || secret.chars().count() > MAX_TEXT_CHARS =>
                {
                    return Err(format!(
                        "webhook_secret: must be {MIN_SECRET_CHARS} to {MAX_TEXT_CHARS} \
                         characters (e.g. the output of `openssl rand -hex 24`)"
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some(address) = &email {
            check_email(address).map_err(|m| format!("email: {m}"))?;
        }
        let mut kinds = request.kinds;
        for kind in &kinds {
            if !super::KINDS.contains(&kind.as_str()) {
                return Err(format!(
                    "kinds: {:?} is not one of {}",
                    truncate(kind),
                    super::KINDS.join(", ")
                ));
            }
        }
        kinds.sort();
        kinds.dedup();
        let mut rules = request.rules;
        if rules.len() > MAX_RULES {
            return Err(format!("rules: at most {MAX_RULES} rules"));
        }
        for rule in &rules {
            if rule.is_empty()
                || rule.len() > 64
                || !rule
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                return Err(format!(
                    "rules: {:?} is not a rule id (letters, digits, '_', '-', '.'; e.g. \
                     \"daily_loss\")",
                    truncate(rule)
                ));
            }
        }
        rules.sort();
        rules.dedup();
        Ok(Self {
            telegram_chat_id,
            webhook_secret: webhook_url.as_ref().and(webhook_secret),
            webhook_secret_sealed: None,
            webhook_url,
            email,
            kinds,
            rules,
        })
    }
}

/// Whether an event of `kind` about `rule` passes a kinds and rules filter (empty lists let
/// everything through; an event about no rule passes any rules filter).
pub fn wants(kinds: &[String], rules: &[String], kind: &str, rule: Option<&str>) -> bool {
    let kind_ok = kinds.is_empty() || kinds.iter().any(|k| k == kind);
    let rule_ok = match rule {
        Some(rule) => rules.is_empty() || rules.iter().any(|r| r == rule),
        None => true,
    };
    kind_ok && rule_ok
}

fn truncate(text: &str) -> String {
    text.chars().take(40).collect()
}

/// A Telegram chat id: an integer (negative for groups) or `@channel_name`.
pub fn check_chat_id(chat: &str) -> Result<(), String> {
    let digits = chat.strip_prefix('-').unwrap_or(chat);
    let numeric =
        !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit());
    let channel = chat.strip_prefix('@').is_some_and(|name| {
        (5..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if numeric || channel {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a chat id: give the number (negative for a group) or @channel_name",
            truncate(chat)
        ))
    }
}

/// An `http(s)://` URL of a reasonable length.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_TEXT_CHARS {
        return Err(format!("must be at most {MAX_TEXT_CHARS} characters"));
    }
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(())
        }
        _ => Err(format!(
            "{:?} is not an http(s) URL (e.g. \"https://example.com/hooks/riskdeck\")",
            truncate(url)
        )),
    }
}

/// One email address (`name@example.com`).
pub fn check_email(address: &str) -> Result<(), String> {
    if address.len() <= 254 && address.parse::<lettre::Address>().is_ok() {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not an email address (e.g. \"jane@example.com\")",
            truncate(address)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(request: NotificationPreferences, expected: Result<(), &str>) {
        match (Stored::default().update(request), expected) {
            (Ok(_), Ok(())) => {}
            (Err(message), Err(part)) => assert!(message.contains(part), "{message:?}"),
            (other, expected) => panic!("{other:?} is not {expected:?}"),
        }
    }

    fn prefs() -> NotificationPreferences {
        NotificationPreferences::default()
    }

    #[test]
    fn preferences_are_checked_with_messages_that_say_what_to_fix() {
        check(prefs(), Ok(()));
        check(
            NotificationPreferences {
                telegram_chat_id: Some("-1001234".into()),
                email: Some("jane@example.com".into()),
                kinds: vec!["breach".into(), "warning".into()],
                rules: vec!["daily_loss".into()],
                ..prefs()
            },
            Ok(()),
        );
        check(
            NotificationPreferences {
                telegram_chat_id: Some("jane".into()),
                ..prefs()
            },
            Err("telegram_chat_id"),
        );
        check(
            NotificationPreferences {
                webhook_url: Some("ftp://x".into()),
                ..prefs()
            },
            Err("webhook_url"),
        );
        check(
            NotificationPreferences {
                webhook_url: Some("https://example.com/h".into()),
                ..prefs()
            },
            Err("webhook_secret"),
        );
        check(
            NotificationPreferences {
                webhook_url: Some("https://example.com/h".into()),
                webhook_secret: Some("short".into()),
                ..prefs()
            },
            Err("webhook_secret"),
        );
        check(
            NotificationPreferences {
                email: Some("not an address".into()),
                ..prefs()
            },
            Err("email"),
        );
        check(
            NotificationPreferences {
                kinds: vec!["everything".into()],
                ..prefs()
            },
            Err("kinds"),
        );
        check(
            NotificationPreferences {
                rules: vec!["daily loss".into()],
                ..prefs()
            },
            Err("rules"),
        );
    }

    #[test]
    fn a_left_out_webhook_key_is_kept_and_never_shown() {
        let first = Stored::default()
            .update(NotificationPreferences {
                webhook_url: Some("https://example.com/h".into()),
                webhook_secret: Some("0123456789abcdef-key".into()),
                ..prefs()
            })
            .expect("valid");
        let second = first
            .update(NotificationPreferences {
                webhook_url: Some("https://example.com/other".into()),
                ..prefs()
            })
            .expect("valid");
        assert_eq!(
            second.webhook_secret.as_deref(),
            Some("0123456789abcdef-key")
        );
        let view = second.view();
        assert!(view.webhook_secret_set);
        assert_eq!(view.webhook_secret, None);
        let json = serde_json::to_string(&view).expect("json");
        assert!(!json.contains("0123456789abcdef-key"), "{json}");
        assert!(!format!("{second:?}").contains("0123456789abcdef-key"));
    }

    #[test]
    fn the_webhook_key_is_stored_sealed_for_its_user_and_old_plain_rows_still_read() {
        let key = SecretKey::parse(&"ab".repeat(32)).expect("key");
        let plain = "0123456789abcdef-key";
        let prefs = Stored::default()
            .update(NotificationPreferences {
                webhook_url: Some("https://example.com/h".into()),
                webhook_secret: Some(plain.into()),
                kinds: vec!["breach".into()],
                ..NotificationPreferences::default()
            })
            .expect("valid");
        let json = prefs.to_json(Some(&key), UserId(7)).expect("sealed");
        assert!(!json.contains(plain), "{json}");
        assert!(json.contains("\"webhook_secret_sealed\":\"v1."), "{json}");
        let read = Stored::parse(Some(&json), Some(&key), UserId(7));
        assert_eq!(read.webhook_secret.as_deref(), Some(plain));
        assert_eq!(read, prefs);
        // Another user's row, or no key: no webhook key.
        assert_eq!(
            Stored::parse(Some(&json), Some(&key), UserId(8)).webhook_secret,
            None
        );
        assert_eq!(
            Stored::parse(Some(&json), None, UserId(7)).webhook_secret,
            None
        );
        // Without a key it is not stored at all; without a webhook nothing needs one.
        let refused = prefs.to_json(None, UserId(7)).expect_err("no key");
        assert!(refused.contains("secret_key"), "{refused}");
        assert!(Stored::default().to_json(None, UserId(7)).is_ok());
        // A row from before sealing: the key in plain text, read as it is, sealed when saved.
        let old =
            format!(r#"{{"webhook_url":"https://example.com/h","webhook_secret":"{plain}"}}"#);
        let read = Stored::parse(Some(&old), Some(&key), UserId(7));
        assert_eq!(read.webhook_secret.as_deref(), Some(plain));
        let resaved = read.to_json(Some(&key), UserId(7)).expect("sealed");
        assert!(!resaved.contains(plain), "{resaved}");
    }

    #[test]
    fn filters_let_through_what_was_asked_for() {
        let kinds = vec!["breach".to_owned()];
        let rules = vec!["daily_loss".to_owned()];
        assert!(wants(&[], &[], "warning", Some("x")));
        assert!(wants(&kinds, &rules, "breach", Some("daily_loss")));
        assert!(!wants(&kinds, &rules, "breach", Some("max_loss")));
        assert!(!wants(&kinds, &rules, "warning", Some("daily_loss")));
        assert!(wants(&[], &rules, "passed", None));
    }
}
