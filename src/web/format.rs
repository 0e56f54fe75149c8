//! How pages write times and sizes: UK time with the date first, sizes as Windows shows them.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

/// The time as a person in England reads it: "7 Dec 2026, 18:30" (GMT or BST as the date
/// falls).
pub fn uk_time(at: OffsetDateTime) -> String {
    let local = at.to_offset(london_offset(at));
    format!(
        "{} {} {}, {:02}:{:02}",
        local.day(),
        short_month(local.month()),
        local.year(),
        local.hour(),
        local.minute()
    )
}

/// The date alone, as [`uk_time`] writes it.
pub fn uk_date(at: OffsetDateTime) -> String {
    let local = at.to_offset(london_offset(at));
    format!("{} {} {}", local.day(), short_month(local.month()), local.year())
}

/// British Summer Time runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
/// last Sunday of October (the Summer Time Order 2002): a rule, not a table, so no time-zone
/// database is needed.
pub fn london_offset(at: OffsetDateTime) -> UtcOffset {
    let at = at.to_offset(UtcOffset::UTC);
    let year = at.year();
    let starts = last_sunday_one_am(year, Month::March);
    let ends = last_sunday_one_am(year, Month::October);
    if at >= starts && at < ends {
        UtcOffset::from_hms(1, 0, 0).unwrap_or(UtcOffset::UTC)
    } else {
        UtcOffset::UTC
    }
}

fn last_sunday_one_am(year: i32, month: Month) -> OffsetDateTime {
    let last_day = time::util::days_in_month(month, year);
    let mut day = Date::from_calendar_date(year, month, last_day).unwrap_or(Date::MIN);
    while day.weekday() != Weekday::Sunday {
        day = day.previous_day().unwrap_or(Date::MIN);
    }
    PrimitiveDateTime::new(day, Time::from_hms(1, 0, 0).unwrap_or(Time::MIDNIGHT)).assume_utc()
}

fn short_month(m: Month) -> &'static str {
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][m as usize - 1]
}

/// "512 bytes", "12 KB", "3.4 MB", "1.2 GB", in the 1,024-byte units Windows uses.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return if bytes == 1 { "1 byte".into() } else { format!("{bytes} bytes") };
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// A name as it was sent, made to read as it is: control characters and the direction
/// overrides that make "cod\u{202e}fdp.exe" show as "codexe.pdf" are written as their code
/// points. Escaping for HTML is the template's job; this is about what the reader sees.
pub fn visible_name(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            let hidden = c.is_control()
                || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if hidden {
                format!("[U+{:04X}]", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_and_control_characters_in_a_name_are_written_as_code_points() {
        assert_eq!(visible_name("cod\u{202e}fdp.exe"), "cod[U+202E]fdp.exe");
        assert_eq!(visible_name("a\tb\u{0}.pdf"), "a[U+0009]b[U+0000].pdf");
        assert_eq!(visible_name("Été 2026.pdf"), "Été 2026.pdf");
        assert_eq!(visible_name("8252001_SC3.xml"), "8252001_SC3.xml");
    }
    use time::macros::datetime;

    #[test]
    fn winter_times_are_gmt_and_summer_times_bst() {
        assert_eq!(uk_time(datetime!(2026-12-07 18:30 UTC)), "7 Dec 2026, 18:30");
        assert_eq!(uk_time(datetime!(2026-07-01 08:05 UTC)), "1 Jul 2026, 09:05");
    }

    #[test]
    fn the_clocks_change_at_one_in_the_morning_utc_on_the_last_sundays() {
        // 2026: the last Sunday of March is the 29th, of October the 25th.
        assert_eq!(uk_time(datetime!(2026-03-29 00:59 UTC)), "29 Mar 2026, 00:59");
        assert_eq!(uk_time(datetime!(2026-03-29 01:00 UTC)), "29 Mar 2026, 02:00");
        assert_eq!(uk_time(datetime!(2026-10-25 00:59 UTC)), "25 Oct 2026, 01:59");
        assert_eq!(uk_time(datetime!(2026-10-25 01:00 UTC)), "25 Oct 2026, 01:00");
    }

    #[test]
    fn late_evening_in_summer_is_the_next_day_in_london() {
        assert_eq!(uk_date(datetime!(2026-06-30 23:30 UTC)), "1 Jul 2026");
    }

    #[test]
    fn sizes_are_written_in_the_units_people_see_in_windows() {
        assert_eq!(size(0), "0 bytes");
        assert_eq!(size(1), "1 byte");
        assert_eq!(size(1023), "1023 bytes");
        assert_eq!(size(1024), "1.0 KB");
        assert_eq!(size(12 * 1024 + 300), "12 KB");
        assert_eq!(size(500 * 1024 * 1024), "500 MB");
        assert_eq!(size(3 * 1024 * 1024 + 400 * 1024), "3.4 MB");
        assert_eq!(size(1 << 30), "1.0 GB");
    }
}
