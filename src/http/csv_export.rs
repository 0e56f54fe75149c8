//! CSV files for spreadsheets: cells that a spreadsheet would run as a formula are neutralised,
//! and the file goes out as a download.

use std::borrow::Cow;

use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// A cell as it is safe to open in a spreadsheet. Text starting with `=`, `+`, `-`, `@`, a tab
/// or a carriage return would be read as a formula (OWASP "CSV injection"), and a school's or
/// person's name is text someone else typed; such a cell gets a leading `'`, which spreadsheets
/// show as text and do not display.
pub fn safe_cell(value: &str) -> Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// Writes one row of cells, each made [`safe_cell`].
pub fn write_row<W, S>(out: &mut csv::Writer<W>, cells: impl IntoIterator<Item = S>) -> csv::Result<()>
where
    W: std::io::Write,
    S: AsRef<str>,
{
    out.write_record(cells.into_iter().map(|c| safe_cell(c.as_ref()).into_owned()))
}

/// `bytes` as a CSV attachment named `filename` (a fixed ASCII name chosen by the server).
pub fn attachment(bytes: Vec<u8>, filename: &'static str) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from(bytes),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_written_with_every_cell_neutralised() {
        let mut out = csv::Writer::from_writer(Vec::new());
        write_row(&mut out, ["825/2001", "=1+1", "St Mary's, Upper End"]).unwrap();
        let text = String::from_utf8(out.into_inner().unwrap()).unwrap();
        assert_eq!(text, "825/2001,'=1+1,\"St Mary's, Upper End\"\n");
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_neutralised_and_others_kept() {
        for risky in ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(safe_cell(risky), format!("'{risky}"));
        }
        for plain in ["Ashby Green Primary", "825/2001", "2026-09-01T08:00:00Z", "", "a=b", " =1"] {
            assert_eq!(safe_cell(plain), plain);
        }
    }
}
