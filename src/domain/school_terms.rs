//! English school terms, as far as the LA's collection reports need them: when the current
//! term began.
//!
//! Schools set their own term dates (and academies their own again), so the rule is the
//! national pattern rather than any one school's calendar:
//!
//! - the **autumn** term from 1 September,
//! - the **spring** term from 1 January,
//! - the **summer** term from the Tuesday after Easter Monday (the Easter holiday is, for most
//!   schools, the fortnight around Easter; whatever is sent before then belongs to spring).
//!
//! Each term starts at midnight UTC on its first day. Easter is computed (the Gregorian
//! computus), not looked up in the bank holiday list, so the rule holds for any year even when
//! `config/bank-holidays.txt` has not been extended to it.

use time::{Date, Month, OffsetDateTime, Time};

/// The first day of the school term that `today` falls in.
pub fn term_start(today: Date) -> Date {
    let year = today.year();
    let autumn = first_of(year, Month::September);
    if today >= autumn {
        return autumn;
    }
    let summer = summer_start(year);
    if today >= summer {
        return summer;
    }
    first_of(year, Month::January)
}

/// The start of the current term as a time: midnight UTC on its first day.
pub fn term_start_at(now: OffsetDateTime) -> OffsetDateTime {
    term_start(now.date()).with_time(Time::MIDNIGHT).assume_utc()
}

/// The Tuesday after Easter Monday.
fn summer_start(year: i32) -> Date {
    easter_sunday(year).saturating_add(time::Duration::days(2))
}

fn first_of(year: i32, month: Month) -> Date {
    // Day 1 exists in every month of every year `Date` can hold.
    Date::from_calendar_date(year, month, 1).unwrap_or(Date::MIN)
}

/// Easter Sunday in the Gregorian calendar (the anonymous Gregorian algorithm of Meeus).
fn easter_sunday(year: i32) -> Date {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    let month = if month == 3 { Month::March } else { Month::April };
    // The algorithm yields 22 March to 25 April, which always exist.
    Date::from_calendar_date(year, month, day as u8).unwrap_or(Date::MIN)
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;
    use crate::domain::business_days::Calendar;

    #[test]
    fn easter_falls_on_the_known_sundays() {
        for (year, sunday) in [
            (2000, date!(2000 - 04 - 23)),
            (2008, date!(2008 - 03 - 23)),
            (2011, date!(2011 - 04 - 24)),
            (2024, date!(2024 - 03 - 31)),
            (2025, date!(2025 - 04 - 20)),
            (2026, date!(2026 - 04 - 05)),
            (2027, date!(2027 - 03 - 28)),
            (2038, date!(2038 - 04 - 25)),
        ] {
            assert_eq!(easter_sunday(year), sunday, "{year}");
        }
    }

    #[test]
    fn easter_monday_agrees_with_the_shipped_bank_holidays() {
        let holidays = Calendar::england_and_wales();
        for year in 2024..=2028 {
            let monday = easter_sunday(year).next_day().unwrap();
            assert!(!holidays.is_business_day(monday), "Easter Monday {monday} is a bank holiday");
            let good_friday = easter_sunday(year).saturating_sub(time::Duration::days(2));
            assert!(!holidays.is_business_day(good_friday), "Good Friday {good_friday} is a bank holiday");
        }
    }

    #[test]
    fn each_term_starts_on_its_rule_day_and_runs_until_the_next() {
        // 2026: Easter Sunday 5 April, so the summer term starts on Tuesday 7 April.
        assert_eq!(term_start(date!(2026 - 01 - 01)), date!(2026 - 01 - 01));
        assert_eq!(term_start(date!(2026 - 03 - 02)), date!(2026 - 01 - 01));
        assert_eq!(term_start(date!(2026 - 04 - 06)), date!(2026 - 01 - 01), "Easter Monday is still spring");
        assert_eq!(term_start(date!(2026 - 04 - 07)), date!(2026 - 04 - 07));
        assert_eq!(term_start(date!(2026 - 08 - 31)), date!(2026 - 04 - 07));
        assert_eq!(term_start(date!(2026 - 09 - 01)), date!(2026 - 09 - 01));
        assert_eq!(term_start(date!(2026 - 12 - 31)), date!(2026 - 09 - 01));
        // 2025: a late Easter (20 April) keeps most of April in the spring term.
        assert_eq!(term_start(date!(2025 - 04 - 15)), date!(2025 - 01 - 01));
        assert_eq!(term_start(date!(2025 - 04 - 22)), date!(2025 - 04 - 22));
    }

    #[test]
    fn the_term_starts_at_midnight_utc() {
        assert_eq!(term_start_at(datetime!(2026-10-01 23:59:59 UTC)), datetime!(2026-09-01 00:00 UTC));
        assert_eq!(term_start_at(datetime!(2026-09-01 00:00 UTC)), datetime!(2026-09-01 00:00 UTC));
    }
}
