//! When a delivered file counts as unclaimed: nobody in the recipient organisation has
//! downloaded it, and it has waited longer than its channel allows (or than the LA asked).

use time::{Duration, OffsetDateTime};

use super::channel::{Catalogue, DEFAULT_UNCLAIMED_AFTER_DAYS};

/// The latest upload time that counts as unclaimed, per channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cutoffs {
    pub by_channel: Vec<(String, OffsetDateTime)>,
    /// For files on channels the catalogue no longer has; None when only named channels count.
    pub otherwise: Option<OffsetDateTime>,
}

/// Files waiting `older_than_days` or more when given, otherwise each channel's own threshold;
/// only on `channel` when one is named.
pub fn cutoffs(
    catalogue: &Catalogue,
    channel: Option<&str>,
    older_than_days: Option<u32>,
    now: OffsetDateTime,
) -> Cutoffs {
    // Saturating: a caller may ask for files older than four billion days (none are).
    let before = |days: u32| now.saturating_sub(Duration::days(i64::from(days)));
    let by_channel = catalogue
        .channels
        .iter()
        .filter(|c| channel.is_none_or(|only| c.slug == only))
        .map(|c| (c.slug.clone(), before(older_than_days.unwrap_or_else(|| c.unclaimed_threshold_days()))))
        .collect();
    let otherwise = channel.is_none().then(|| before(older_than_days.unwrap_or(DEFAULT_UNCLAIMED_AFTER_DAYS)));
    Cutoffs { by_channel, otherwise }
}

/// Whole days a file has waited; never negative, however the clocks of two nodes disagree.
pub fn age_days(created_at: OffsetDateTime, now: OffsetDateTime) -> u32 {
    u32::try_from((now - created_at).whole_days()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::channel::Channel;

    fn channel(slug: &str, unclaimed_after_days: Option<u32>) -> Channel {
        let mut c: Channel = serde_json::from_value(serde_json::json!({
            "slug": slug, "name": slug, "description": "", "route": [{"from": "any", "to": "explicit"}]
        }))
        .unwrap();
        c.unclaimed_after_days = unclaimed_after_days;
        c
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap()
    }

    fn catalogue() -> Catalogue {
        Catalogue { channels: vec![channel("census", Some(3)), channel("general", None)] }
    }

    #[test]
    fn each_channel_waits_its_own_threshold_and_others_wait_fourteen_days() {
        let c = cutoffs(&catalogue(), None, None, now());
        assert_eq!(
            c.by_channel,
            vec![("census".to_owned(), now() - Duration::days(3)), ("general".to_owned(), now() - Duration::days(14))]
        );
        assert_eq!(c.otherwise, Some(now() - Duration::days(14)), "files on a channel since removed");
    }

    #[test]
    fn an_age_asked_for_applies_to_every_channel() {
        let c = cutoffs(&catalogue(), None, Some(0), now());
        assert!(c.by_channel.iter().all(|(_, at)| *at == now()));
        assert_eq!(c.otherwise, Some(now()));
    }

    #[test]
    fn naming_a_channel_leaves_out_every_other() {
        let c = cutoffs(&catalogue(), Some("census"), None, now());
        assert_eq!(c.by_channel, vec![("census".to_owned(), now() - Duration::days(3))]);
        assert_eq!(c.otherwise, None);
    }

    #[test]
    fn age_counts_whole_days_and_never_goes_below_zero() {
        assert_eq!(age_days(now() - Duration::hours(47), now()), 1);
        assert_eq!(age_days(now() - Duration::days(20), now()), 20);
        assert_eq!(age_days(now() + Duration::minutes(5), now()), 0);
    }

    #[test]
    fn a_cutoff_further_back_than_time_goes_is_the_earliest_time_not_a_panic() {
        let cut = cutoffs(&catalogue(), None, Some(u32::MAX), now());
        let earliest = now().saturating_sub(Duration::MAX);
        assert_eq!(cut.otherwise, Some(earliest));
        assert!(cut.by_channel.iter().all(|(_, at)| *at == earliest));
    }
}
