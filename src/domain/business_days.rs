//! Business days: Monday to Friday, except bank holidays.
//!
//! Deadlines people are held to ("answer within 3 business days") must not run over weekends and
//! bank holidays, or a request made before Easter looks overdue when nobody has been at work.
//! The holidays come from `config/bank-holidays.txt`, shipped in the binary, which an
//! administrator extends as GOV.UK publishes future years; [`Calendar::covers`] lets the caller
//! warn when the list runs out rather than silently treat a future Christmas as a working day.
//!
//! Counting is arithmetic on Julian day numbers rather than a walk from day to day, so a range of
//! any length costs the same.

use std::collections::BTreeSet;
use std::ops::Bound::{Excluded, Included};

use time::{Date, Month, Weekday};

/// The England and Wales list as shipped. The file is plain lines rather than TOML because no
/// TOML parser is a direct dependency, and a line each is what an administrator edits most easily.
const ENGLAND_AND_WALES: &str = include_str!("../../config/bank-holidays.txt");

/// The days that are not business days besides weekends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Calendar {
    holidays: BTreeSet<Date>,
}

/// A line of a holiday list that could not be read, named so the administrator can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} of the bank holiday list: {problem}")]
pub struct CalendarError {
    pub line: usize,
    pub problem: String,
}

impl Calendar {
    /// England and Wales bank holidays from the list shipped in the binary (2024 to 2028 at least).
    pub fn england_and_wales() -> Calendar {
        // The shipped list is a constant that the tests parse, so it cannot fail at run time.
        Self::parse(ENGLAND_AND_WALES).expect("the shipped bank holiday list parses")
    }

    /// Reads a list of one day a line: `2026-12-25  Christmas Day`. The name is for the reader
    /// and optional; blank lines and lines starting with `#` are skipped. A weekend date is
    /// refused, because it can only be a holiday listed instead of its substitute weekday.
    pub fn parse(text: &str) -> Result<Calendar, CalendarError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut holidays = BTreeSet::new();
        for (i, line) in text.lines().enumerate() {
            let err = |problem: String| CalendarError { line: i + 1, problem };
            let line = line.trim();
            let Some(first) = line.split_whitespace().next().filter(|_| !line.starts_with('#')) else {
                continue;
            };
            let date = parse_date(first).ok_or_else(|| {
                err(format!(
                    "'{first}' is not a date: write the date as YYYY-MM-DD, then its name (2026-12-25  Christmas Day)"
                ))
            })?;
            if !is_weekday(date) {
                return Err(err(format!(
                    "{first} is a {}: list the weekday that replaces it (the substitute day) instead",
                    date.weekday()
                )));
            }
            holidays.insert(date);
        }
        Ok(Calendar { holidays })
    }

    /// The same calendar with more days off, such as a one-off bank holiday or an LA closure day.
    pub fn with_extra(mut self, dates: impl IntoIterator<Item = Date>) -> Calendar {
        self.holidays.extend(dates);
        self
    }

    /// Monday to Friday and not a holiday.
    pub fn is_business_day(&self, d: Date) -> bool {
        is_weekday(d) && !self.holidays.contains(&d)
    }

    /// Whole business days elapsed from `from` to `to`: the business days after `from` up to and
    /// including `to`, so 0 if `to` is on the same day or earlier. A request made on Friday
    /// afternoon is 0 business days old over the weekend and 1 on Monday; one made on Saturday
    /// counts as if made on Friday afternoon.
    pub fn business_days_between(&self, from: Date, to: Date) -> u32 {
        if to <= from {
            return 0;
        }
        let days = weekdays_through(to) - weekdays_through(from) - self.weekday_holidays(from, to);
        u32::try_from(days).unwrap_or(u32::MAX)
    }

    /// The date `n` business days after `from`: the earliest `d` with
    /// `business_days_between(from, d) == n`, so `from` itself when `n` is 0 and a business day
    /// otherwise. Saturates at [`Date::MAX`] for an `n` that runs past the end of the calendar.
    pub fn add_business_days(&self, from: Date, n: u32) -> Date {
        let mut date = from;
        let mut remaining = i64::from(n);
        // Move `remaining` weekdays on, then again by as many as were holidays, until none were.
        while remaining > 0 {
            let Some(next) = nth_weekday(weekdays_through(date) + remaining) else {
                return Date::MAX;
            };
            remaining = self.weekday_holidays(date, next);
            date = next;
        }
        date
    }

    /// Whether the list has any holiday in `year`. When it has none, the caller should warn that
    /// business days that year are counted without bank holidays.
    pub fn covers(&self, year: i32) -> bool {
        let (Ok(first), Ok(last)) =
            (Date::from_calendar_date(year, Month::January, 1), Date::from_calendar_date(year, Month::December, 31))
        else {
            return false;
        };
        self.holidays.range(first..=last).next().is_some()
    }

    /// Holidays on weekdays after `from` up to and including `to` (extra days may be weekends).
    fn weekday_holidays(&self, from: Date, to: Date) -> i64 {
        let count = self.holidays.range((Excluded(from), Included(to))).filter(|&&d| is_weekday(d)).count();
        i64::try_from(count).unwrap_or(i64::MAX)
    }
}

fn is_weekday(d: Date) -> bool {
    !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// Weekdays from Julian day 0 (a Monday) up to and including `d`. The difference between two
/// dates' counts is the number of weekdays after the first up to and including the second.
fn weekdays_through(d: Date) -> i64 {
    let j = i64::from(d.to_julian_day());
    j.div_euclid(7) * 5 + (j.rem_euclid(7) + 1).min(5)
}

/// The weekday at which [`weekdays_through`] reaches `count`; `None` beyond the supported dates.
fn nth_weekday(count: i64) -> Option<Date> {
    let c = count - 1;
    let julian = c.div_euclid(5) * 7 + c.rem_euclid(5);
    Date::from_julian_day(i32::try_from(julian).ok()?).ok()
}

/// `YYYY-MM-DD`, exactly: the list is read by people, so one spelling of a date is enough.
fn parse_date(s: &str) -> Option<Date> {
    let field = |from: usize, to: usize| {
        s.get(from..to).filter(|p| p.bytes().all(|b| b.is_ascii_digit())).and_then(|p| p.parse::<u16>().ok())
    };
    if s.len() != 10 || s.as_bytes()[4] != b'-' || s.as_bytes()[7] != b'-' {
        return None;
    }
    let month = Month::try_from(u8::try_from(field(5, 7)?).ok()?).ok()?;
    Date::from_calendar_date(i32::from(field(0, 4)?), month, u8::try_from(field(8, 10)?).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn d(year: i32, month: u8, day: u8) -> Date {
        Date::from_calendar_date(year, Month::try_from(month).unwrap(), day).unwrap()
    }

    fn ew() -> Calendar {
        Calendar::england_and_wales()
    }

    /// Easter Sunday by the anonymous Gregorian algorithm (Meeus/Jones/Butcher).
    fn easter(year: i32) -> Date {
        let (a, b, c) = (year % 19, year / 100, year % 100);
        let (dd, e) = (b / 4, b % 4);
        let f = (b + 8) / 25;
        let g = (b - f + 1) / 3;
        let h = (19 * a + b - dd - g + 15) % 30;
        let (i, k) = (c / 4, c % 4);
        let l = (32 + 2 * e + 2 * i - h - k) % 7;
        let m = (a + 11 * h + 22 * l) / 451;
        let month = (h + l - 7 * m + 114) / 31;
        let day = (h + l - 7 * m + 114) % 31 + 1;
        d(year, month as u8, day as u8)
    }

    /// The first `weekday` on or after `date`.
    fn on_or_after(date: Date, weekday: Weekday) -> Date {
        (0..7).map(|i| date + time::Duration::days(i)).find(|x| x.weekday() == weekday).unwrap()
    }

    /// The regular England and Wales bank holidays of `year`, by the rules GOV.UK applies.
    fn by_the_rules(year: i32) -> Vec<Date> {
        let new_year =
            Some(d(year, 1, 1)).filter(|&x| is_weekday(x)).unwrap_or(on_or_after(d(year, 1, 1), Weekday::Monday));
        let easter = easter(year);
        let (christmas, boxing) = match d(year, 12, 25).weekday() {
            Weekday::Friday => (d(year, 12, 25), d(year, 12, 28)),
            Weekday::Saturday => (d(year, 12, 27), d(year, 12, 28)),
            Weekday::Sunday => (d(year, 12, 27), d(year, 12, 26)),
            _ => (d(year, 12, 25), d(year, 12, 26)),
        };
        let mut days = vec![
            new_year,
            easter - time::Duration::days(2),
            easter + time::Duration::days(1),
            on_or_after(d(year, 5, 1), Weekday::Monday),
            on_or_after(d(year, 5, 25), Weekday::Monday),
            on_or_after(d(year, 8, 25), Weekday::Monday),
            christmas,
            boxing,
        ];
        days.sort();
        days
    }

    #[test]
    fn easter_by_the_algorithm_matches_known_dates() {
        assert_eq!(easter(2024), d(2024, 3, 31));
        assert_eq!(easter(2025), d(2025, 4, 20));
        assert_eq!(easter(2026), d(2026, 4, 5));
        assert_eq!(easter(2027), d(2027, 3, 28));
        assert_eq!(easter(2028), d(2028, 4, 16));
    }

    #[test]
    fn the_shipped_list_is_exactly_the_regular_holidays_of_2024_to_2028() {
        let shipped: Vec<Date> = ew().holidays.into_iter().collect();
        let expected: Vec<Date> = (2024..=2028).flat_map(by_the_rules).collect();
        assert_eq!(shipped, expected);
    }

    #[test]
    fn julian_day_zero_is_a_monday_as_the_weekday_arithmetic_assumes() {
        assert_eq!(Date::from_julian_day(0).unwrap().weekday(), Weekday::Monday);
    }

    #[test]
    fn a_request_made_on_friday_is_no_older_over_the_weekend_and_one_day_old_on_monday() {
        let cal = ew();
        let friday = d(2026, 1, 23);
        assert_eq!(cal.business_days_between(friday, friday), 0);
        assert_eq!(cal.business_days_between(friday, d(2026, 1, 24)), 0);
        assert_eq!(cal.business_days_between(friday, d(2026, 1, 25)), 0);
        assert_eq!(cal.business_days_between(friday, d(2026, 1, 26)), 1);
        assert_eq!(cal.business_days_between(friday, d(2026, 1, 30)), 5);
        assert_eq!(cal.business_days_between(d(2026, 1, 24), d(2026, 1, 26)), 1, "Saturday counts as Friday");
    }

    #[test]
    fn a_later_date_before_an_earlier_one_is_zero_days() {
        assert_eq!(ew().business_days_between(d(2026, 3, 10), d(2026, 3, 2)), 0);
    }

    #[test]
    fn weekends_and_bank_holidays_are_not_business_days() {
        let cal = ew();
        assert!(cal.is_business_day(d(2026, 1, 2)));
        assert!(!cal.is_business_day(d(2026, 1, 3)), "Saturday");
        assert!(!cal.is_business_day(d(2026, 1, 4)), "Sunday");
        assert!(!cal.is_business_day(d(2026, 1, 1)), "New Year's Day");
        assert!(!cal.is_business_day(d(2026, 8, 31)), "Summer bank holiday");
        assert!(cal.is_business_day(d(2026, 8, 28)));
    }

    #[test]
    fn easter_takes_out_good_friday_and_easter_monday() {
        let cal = ew();
        // Thursday 2 April 2026; Good Friday is 3 April and Easter Monday 6 April.
        assert_eq!(cal.business_days_between(d(2026, 4, 2), d(2026, 4, 6)), 0);
        assert_eq!(cal.business_days_between(d(2026, 4, 2), d(2026, 4, 7)), 1);
        assert_eq!(cal.add_business_days(d(2026, 4, 2), 1), d(2026, 4, 7));
    }

    #[test]
    fn christmas_on_a_friday_moves_boxing_day_to_monday() {
        let cal = ew();
        // 2026: Christmas is a Friday, Boxing Day a Saturday, substituted on Monday 28 December.
        assert!(!cal.is_business_day(d(2026, 12, 25)));
        assert!(!cal.is_business_day(d(2026, 12, 28)));
        assert!(cal.is_business_day(d(2026, 12, 29)));
        // A request on Wednesday 23 December: 24, 29 and 30 December are business days.
        assert_eq!(cal.business_days_between(d(2026, 12, 23), d(2026, 12, 30)), 3);
        assert_eq!(cal.add_business_days(d(2026, 12, 23), 3), d(2026, 12, 30));
    }

    #[test]
    fn christmas_on_a_saturday_takes_the_following_monday_and_tuesday() {
        let cal = ew();
        assert!(!cal.is_business_day(d(2027, 12, 27)));
        assert!(!cal.is_business_day(d(2027, 12, 28)));
        assert!(cal.is_business_day(d(2027, 12, 29)));
        assert_eq!(cal.business_days_between(d(2027, 12, 24), d(2027, 12, 29)), 1);
    }

    #[test]
    fn counting_runs_across_the_year_end_and_a_new_years_substitute_day() {
        let cal = ew();
        // 1 January 2028 is a Saturday, so Monday 3 January is the holiday.
        assert!(!cal.is_business_day(d(2028, 1, 3)));
        // After Friday 24 December 2027: 29, 30, 31 December and 4 January.
        assert_eq!(cal.business_days_between(d(2027, 12, 24), d(2028, 1, 4)), 4);
        assert_eq!(cal.add_business_days(d(2027, 12, 24), 4), d(2028, 1, 4));
    }

    #[test]
    fn adding_no_business_days_is_the_same_day_even_at_a_weekend() {
        assert_eq!(ew().add_business_days(d(2026, 1, 24), 0), d(2026, 1, 24));
    }

    #[test]
    fn adding_business_days_lands_on_a_business_day() {
        assert_eq!(ew().add_business_days(d(2026, 1, 23), 1), d(2026, 1, 26));
        assert_eq!(ew().add_business_days(d(2026, 1, 24), 1), d(2026, 1, 26));
    }

    #[test]
    fn the_extremes_of_the_supported_dates_neither_panic_nor_overflow() {
        let cal = ew();
        assert_eq!(cal.add_business_days(d(2026, 1, 1), u32::MAX), Date::MAX);
        assert_eq!(cal.add_business_days(Date::MAX, 1), Date::MAX);
        let all = cal.business_days_between(Date::MIN, Date::MAX);
        assert_eq!(all, naive_between(&cal, Date::MIN, Date::MAX));
    }

    #[test]
    fn the_list_covers_2024_to_2028_and_says_when_it_runs_out() {
        let cal = ew();
        assert!((2024..=2028).all(|y| cal.covers(y)));
        assert!(!cal.covers(2023));
        assert!(!cal.covers(2029));
        assert!(!cal.covers(i32::MAX), "a year beyond the supported dates is simply not covered");
    }

    #[test]
    fn extra_days_are_not_business_days() {
        let cal = ew().with_extra([d(2029, 5, 7)]);
        assert!(!cal.is_business_day(d(2029, 5, 7)));
        assert!(cal.covers(2029));
        let weekend = Calendar::default().with_extra([d(2026, 1, 24)]);
        assert_eq!(
            weekend.business_days_between(d(2026, 1, 23), d(2026, 1, 26)),
            1,
            "a weekend extra is not counted twice"
        );
    }

    #[test]
    fn the_list_format_allows_notes_blank_lines_and_days_without_a_name() {
        let cal = Calendar::parse("\u{feff}# note\n\n  2026-12-25  Christmas Day  \n2026-12-28\r\n").unwrap();
        assert_eq!(cal.holidays.into_iter().collect::<Vec<_>>(), vec![d(2026, 12, 25), d(2026, 12, 28)]);
    }

    #[test]
    fn a_line_that_is_not_a_date_is_named_in_the_error() {
        for bad in
            ["2026-13-01 x", "2026-02-30", "26-12-25", "2026/12/25", "Christmas 2026-12-25", "2026-1-05", "2026-12-25é"]
        {
            let err = Calendar::parse(&format!("# list\n2026-12-25 ok\n{bad}\n")).unwrap_err();
            assert_eq!(err.line, 3, "{bad:?}");
            assert!(err.to_string().starts_with("line 3 of the bank holiday list: '"), "{err}");
            assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
        }
    }

    #[test]
    fn a_weekend_date_is_refused_in_favour_of_its_substitute() {
        let err = Calendar::parse("2027-12-25  Christmas Day").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1 of the bank holiday list: 2027-12-25 is a Saturday: list the weekday that replaces it \
             (the substitute day) instead"
        );
    }

    /// Day by day, to check the arithmetic against.
    fn naive_between(cal: &Calendar, from: Date, to: Date) -> u32 {
        let mut count = 0;
        let mut day = from;
        while day < to {
            day = day.next_day().unwrap();
            count += u32::from(cal.is_business_day(day));
        }
        count
    }

    fn date_2024_to_2028() -> impl Strategy<Value = Date> {
        let (first, last) = (d(2024, 1, 1).to_julian_day(), d(2028, 12, 31).to_julian_day());
        (first..=last).prop_map(|j| Date::from_julian_day(j).unwrap())
    }

    proptest! {
        #[test]
        fn adding_business_days_is_the_inverse_of_counting_them(from in date_2024_to_2028(), n in 0u32..400) {
            let cal = ew();
            let to = cal.add_business_days(from, n);
            prop_assert_eq!(cal.business_days_between(from, to), n);
            if n > 0 {
                prop_assert!(cal.is_business_day(to));
                let day_before = to.previous_day().unwrap();
                prop_assert_eq!(cal.business_days_between(from, day_before), n - 1, "the earliest such day");
            }
        }

        #[test]
        fn counting_agrees_with_walking_day_by_day(from in date_2024_to_2028(), to in date_2024_to_2028()) {
            let cal = ew();
            prop_assert_eq!(cal.business_days_between(from, to), naive_between(&cal, from, to));
            let back = cal.add_business_days(from, cal.business_days_between(from, to));
            prop_assert!(back <= to.max(from));
        }
    }
}
