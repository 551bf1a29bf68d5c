//! How an observation becomes what the dashboard shows.

use crate::challenge::ChallengeRun;
use chrono::{DateTime, Utc};
use shared::api::AccountView;
use shared::domain::{AccountInfo, Money, Position};
use shared::peaks::Peaks;

/// What the dashboard shows, from one observation and the tracked peaks.
pub fn account_view(
    time: DateTime<Utc>,
    info: &AccountInfo,
    positions: &[Position],
    peaks: &Peaks,
) -> AccountView {
    AccountView {
        time,
        balance: info.balance,
        equity: info.equity,
        floating_pl: info.floating_pl(),
        starting_capital: peaks.starting_capital.unwrap_or(info.balance),
        peak_balance: peaks.peak_balance.unwrap_or(info.balance),
        peak_equity: peaks.peak_equity.unwrap_or(info.equity),
        drawdown: peaks.drawdown(info.equity),
        drawdown_percent: peaks.drawdown_percent(info.equity),
        open_positions: u32::try_from(positions.len()).unwrap_or(u32::MAX),
        challenge: None,
    }
}

/// What the dashboard shows for an observation: with a challenge, its engine's anchors are the
/// peaks shown (one source of truth) and its view comes along; without one, the tracked peaks.
pub(super) fn observation_view(
    time: DateTime<Utc>,
    info: &AccountInfo,
    positions: &[Position],
    peaks: &Peaks,
    challenge: Option<&ChallengeRun>,
) -> AccountView {
    match challenge {
        Some(run) => {
            let anchors = run.challenge().anchors();
            let peaks = Peaks {
                starting_capital: Some(anchors.initial_balance),
                peak_balance: Some(anchors.peak_balance),
                peak_equity: Some(anchors.peak_equity),
            };
            let mut view = account_view(time, info, positions, &peaks);
            view.challenge = Some(run.view());
            view
        }
        None => account_view(time, info, positions, peaks),
    }
}

/// The observation a restored challenge last saw: its balance and equity, in its currency.
pub(super) fn restored_info(balance: Money, equity: Money, currency: &str) -> AccountInfo {
    AccountInfo {
        balance,
        equity,
        margin: Money::ZERO,
        free_margin: equity,
        margin_level: None,
        currency: currency.to_owned(),
        leverage: None,
        credit: Money::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn time() -> DateTime<Utc> {
        "2026-03-02T08:00:00Z".parse().expect("time")
    }

    fn info(balance: i64, equity: i64) -> AccountInfo {
        AccountInfo {
            margin: 500.into(),
            ..restored_info(balance.into(), equity.into(), "USD")
        }
    }

    fn position() -> Position {
        Position {
            id: "1".to_owned(),
            symbol: "EURUSD".to_owned(),
            side: shared::domain::Side::Buy,
            volume: Decimal::ONE,
            open_price: Decimal::ONE,
            current_price: Decimal::ONE,
            stop_loss: None,
            take_profit: None,
            profit: Money::ZERO,
            swap: Money::ZERO,
            commission: Money::ZERO,
            open_time: time(),
        }
    }

    #[test]
    fn an_observation_becomes_a_view() {
        // (balance, equity, peaks, positions) -> (floating P/L, starting capital, peak balance,
        // peak equity, drawdown, drawdown %)
        #[track_caller]
        fn check(
            (balance, equity): (i64, i64),
            peaks: Peaks,
            positions: usize,
            expected: (i64, i64, i64, i64, i64, Option<&str>),
        ) {
            let positions = vec![position(); positions];
            let view = account_view(time(), &info(balance, equity), &positions, &peaks);
            let (floating, capital, peak_balance, peak_equity, drawdown, percent) = expected;
            assert_eq!(view.time, time());
            assert_eq!((view.balance, view.equity), (balance.into(), equity.into()));
            assert_eq!(view.floating_pl, floating.into());
            assert_eq!(view.starting_capital, capital.into());
            assert_eq!(view.peak_balance, peak_balance.into());
            assert_eq!(view.peak_equity, peak_equity.into());
            assert_eq!(view.drawdown, drawdown.into());
            let percent = percent.map(|p| p.parse::<Decimal>().expect("percent"));
            assert_eq!(view.drawdown_percent.map(|p| p.normalize()), percent);
            assert_eq!(view.open_positions as usize, positions.len());
            assert!(view.challenge.is_none());
        }
        // No peaks yet: the observation is its own starting capital and peaks.
        check(
            (10_000, 9_500),
            Peaks::default(),
            1,
            (-500, 10_000, 10_000, 9_500, 0, None),
        );
        let peaks = Peaks {
            starting_capital: Some(10_000.into()),
            peak_balance: Some(12_000.into()),
            peak_equity: Some(12_500.into()),
        };
        check(
            (11_000, 10_000),
            peaks.clone(),
            2,
            (-1_000, 10_000, 12_000, 12_500, 2_500, Some("20")),
        );
        check(
            (11_000, 12_500),
            peaks,
            0,
            (1_500, 10_000, 12_000, 12_500, 0, Some("0")),
        );
    }

    #[test]
    fn with_a_challenge_its_anchors_are_the_peaks_shown() {
        let challenge = shared::engine::Challenge::new(
            shared::engine::preset("ftmo-2step", 100_000.into()).expect("preset"),
        )
        .expect("challenge");
        let run = ChallengeRun::new(challenge, time());
        let tracked = Peaks {
            starting_capital: Some(1.into()),
            peak_balance: Some(2.into()),
            peak_equity: Some(3.into()),
        };
        let observed = info(100_000, 99_000);
        let view = observation_view(time(), &observed, &[], &tracked, Some(&run));
        assert_eq!(view.starting_capital, 100_000.into());
        assert_eq!(view.peak_balance, 100_000.into());
        assert_eq!(view.peak_equity, 100_000.into());
        assert_eq!(view.drawdown, 1_000.into());
        assert_eq!(view.challenge, Some(run.view()));
        let view = observation_view(time(), &observed, &[], &tracked, None);
        assert_eq!(view.starting_capital, 1.into());
        assert!(view.challenge.is_none());
    }
}
