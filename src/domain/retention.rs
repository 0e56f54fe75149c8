//! Retention rules: when a transfer's file must go, and when its recipients should hear that
//! it is about to. Pure functions of the server's own times (the upload, each recipient's first
//! download) and the channel's rule; nothing a client sends moves these clocks.

use std::fmt;

use time::{Duration, OffsetDateTime};

use super::channel::Retention;

/// Why a transfer expires when it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryReason {
    /// `days` after it was uploaded.
    Uploaded { days: u32 },
    /// `days` after the last of its recipient organisations first downloaded it.
    Downloaded { days: u32 },
}

impl fmt::Display for ExpiryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpiryReason::Uploaded { days } => write!(f, "{days} days after upload"),
            ExpiryReason::Downloaded { days } => write!(f, "{days} days after every recipient downloaded it"),
        }
    }
}

impl ExpiryReason {
    /// A stable code for programs and the audit trail.
    pub fn code(&self) -> &'static str {
        match self {
            ExpiryReason::Uploaded { .. } => "after_upload",
            ExpiryReason::Downloaded { .. } => "after_download",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub at: OffsetDateTime,
    pub reason: ExpiryReason,
}

/// When a transfer expires under `rule`, or None when the rule keeps it (no limit applies yet).
///
/// `first_downloads` has one entry per recipient organisation still holding the delivery: the
/// time of its first download, or None if it has not downloaded it. The after-download clock
/// starts only once every one of them has (a distribution to thirty schools waits for the
/// thirtieth); with no recipients at all (a file held in its sender's quarantine) only the
/// upload clock runs. When both clocks run, the earlier expiry wins.
pub fn expiry(
    uploaded_at: OffsetDateTime,
    first_downloads: &[Option<OffsetDateTime>],
    rule: &Retention,
) -> Option<Expiry> {
    let by_upload = rule.purge_after_upload_days.map(|days| Expiry {
        at: uploaded_at + Duration::days(i64::from(days)),
        reason: ExpiryReason::Uploaded { days },
    });
    let all_downloaded = if first_downloads.is_empty() {
        None
    } else {
        first_downloads.iter().copied().collect::<Option<Vec<_>>>().and_then(|t| t.into_iter().max())
    };
    let by_download = rule.purge_after_download_days.zip(all_downloaded).map(|(days, last)| Expiry {
        at: last + Duration::days(i64::from(days)),
        reason: ExpiryReason::Downloaded { days },
    });
    match (by_upload, by_download) {
        (Some(u), Some(d)) => Some(if d.at < u.at { d } else { u }),
        (u, d) => u.or(d),
    }
}

/// From when the recipients of a file that some of them have not downloaded should be warned
/// that it expires at `expiry`; None when the rule asks for no warning.
pub fn warn_from(expiry: &Expiry, rule: &Retention) -> Option<OffsetDateTime> {
    rule.warn_days_before_expiry.map(|days| expiry.at - Duration::days(i64::from(days)))
}

/// What a legal hold covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldScope {
    /// One transfer.
    Transfer,
    /// Everything an organisation sent or received.
    Organisation,
    /// Everything on a channel.
    Channel,
}

impl HoldScope {
    pub fn as_str(&self) -> &'static str {
        match self {
            HoldScope::Transfer => "transfer",
            HoldScope::Organisation => "organisation",
            HoldScope::Channel => "channel",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "transfer" => Some(HoldScope::Transfer),
            "organisation" => Some(HoldScope::Organisation),
            "channel" => Some(HoldScope::Channel),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_772_442_005).unwrap()
    }

    fn rule(upload: Option<u32>, download: Option<u32>) -> Retention {
        Retention {
            purge_after_upload_days: upload,
            purge_after_download_days: download,
            warn_days_before_expiry: None,
        }
    }

    fn days(n: i64) -> Duration {
        Duration::days(n)
    }

    #[test]
    fn a_channel_with_no_rule_keeps_its_files() {
        assert_eq!(expiry(t0(), &[Some(t0())], &rule(None, None)), None);
        assert_eq!(expiry(t0(), &[], &rule(None, None)), None);
    }

    #[test]
    fn a_file_expires_the_given_days_after_upload() {
        let e = expiry(t0(), &[None], &rule(Some(30), None)).unwrap();
        assert_eq!(e.at, t0() + days(30));
        assert_eq!(e.reason, ExpiryReason::Uploaded { days: 30 });
    }

    #[test]
    fn a_file_nobody_downloaded_is_kept_by_a_download_only_rule() {
        assert_eq!(expiry(t0(), &[None], &rule(None, Some(7))), None);
    }

    #[test]
    fn a_downloaded_file_expires_the_given_days_after_its_first_download() {
        let first = t0() + days(2);
        let e = expiry(t0(), &[Some(first)], &rule(Some(30), Some(7))).unwrap();
        assert_eq!(e.at, first + days(7));
        assert_eq!(e.reason, ExpiryReason::Downloaded { days: 7 });
    }

    #[test]
    fn the_earlier_of_the_two_clocks_wins() {
        // Downloaded on day 28: seven days later is day 35, after the upload limit of 30.
        let late = expiry(t0(), &[Some(t0() + days(28))], &rule(Some(30), Some(7))).unwrap();
        assert_eq!((late.at, late.reason), (t0() + days(30), ExpiryReason::Uploaded { days: 30 }));
        // Downloaded on day 1: day 8 comes first.
        let early = expiry(t0(), &[Some(t0() + days(1))], &rule(Some(30), Some(7))).unwrap();
        assert_eq!((early.at, early.reason), (t0() + days(8), ExpiryReason::Downloaded { days: 7 }));
    }

    #[test]
    fn a_distribution_waits_until_every_recipient_has_downloaded_it() {
        let some = [Some(t0() + days(1)), None, Some(t0() + days(3))];
        assert_eq!(expiry(t0(), &some, &rule(None, Some(7))), None);
        let upload_too = expiry(t0(), &some, &rule(Some(90), Some(7))).unwrap();
        assert_eq!(upload_too.reason, ExpiryReason::Uploaded { days: 90 });
        let all = [Some(t0() + days(1)), Some(t0() + days(5)), Some(t0() + days(3))];
        let e = expiry(t0(), &all, &rule(Some(90), Some(7))).unwrap();
        assert_eq!(e.at, t0() + days(5) + days(7), "the clock starts at the last first download");
    }

    #[test]
    fn a_file_with_no_recipients_runs_only_the_upload_clock() {
        assert_eq!(expiry(t0(), &[], &rule(None, Some(7))), None);
        assert_eq!(expiry(t0(), &[], &rule(Some(60), Some(7))).unwrap().at, t0() + days(60));
    }

    #[test]
    fn the_warning_comes_the_given_days_before_expiry() {
        let mut r = rule(Some(60), None);
        let e = expiry(t0(), &[None], &r).unwrap();
        assert_eq!(warn_from(&e, &r), None);
        r.warn_days_before_expiry = Some(7);
        assert_eq!(warn_from(&e, &r), Some(t0() + days(53)));
    }

    #[test]
    fn hold_scopes_read_back_as_written() {
        for s in [HoldScope::Transfer, HoldScope::Organisation, HoldScope::Channel] {
            assert_eq!(HoldScope::parse(s.as_str()), Some(s));
        }
        assert_eq!(HoldScope::parse("school"), None);
    }
}
