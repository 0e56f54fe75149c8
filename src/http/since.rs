//! The `since=` query value of listings and reports: an RFC 3339 time, or a date meaning its
//! midnight UTC.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

use super::error::ApiError;

/// The time `since=` names, if it was given.
pub(super) fn since_param(raw: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    raw.map(|raw| {
        parse(raw).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_since",
                format!(
                    "since='{raw}' is neither a date nor a time: use a date such as 2026-09-01, or an \
                     RFC 3339 time such as 2026-09-01T08:00:00Z (write a + offset as %2B)"
                ),
            )
        })
    })
    .transpose()
}

fn parse(raw: &str) -> Option<OffsetDateTime> {
    let raw = raw.trim();
    if let Ok(date) = Date::parse(raw, format_description!("[year]-[month]-[day]")) {
        return Some(date.with_time(Time::MIDNIGHT).assume_utc());
    }
    // An unencoded `+` in a query string arrives as a space: read it as the offset it was.
    OffsetDateTime::parse(raw, &Rfc3339).or_else(|_| OffsetDateTime::parse(&raw.replace(' ', "+"), &Rfc3339)).ok()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_date_is_its_midnight_utc_and_a_time_is_itself() {
        assert_eq!(parse("2026-09-01"), Some(datetime!(2026-09-01 00:00 UTC)));
        assert_eq!(parse("2026-09-01T08:30:00Z"), Some(datetime!(2026-09-01 08:30 UTC)));
        assert_eq!(parse("2026-09-01T08:30:00+01:00"), Some(datetime!(2026-09-01 07:30 UTC)));
        assert_eq!(parse("2026-09-01T08:30:00 01:00"), Some(datetime!(2026-09-01 07:30 UTC)), "a decoded +");
    }

    #[test]
    fn anything_else_is_refused_with_400() {
        for bad in ["", "yesterday", "2026-13-01", "2026-02-30", "01/09/2026", "2026-09-01T08:30:00", "1790000000"] {
            assert!(parse(bad).is_none(), "{bad}");
            let e = since_param(Some(bad)).unwrap_err();
            assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        }
        assert_eq!(since_param(None).unwrap(), None);
    }
}
