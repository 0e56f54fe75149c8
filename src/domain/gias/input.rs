//! Reading a GIAS CSV export: character set, columns by header name, and the few value formats
//! GIAS uses. Shared by the establishments and links parsers.

use std::borrow::Cow;

use time::{Date, Month};

use super::GiasError;

/// GIAS exports are Windows-1252, but files that went through Excel or a script are often UTF-8,
/// sometimes with a byte order mark. A Windows-1252 file with accented letters or curly
/// apostrophes is practically never valid UTF-8, so valid UTF-8 is read as UTF-8 and anything
/// else as Windows-1252 (which decodes every byte, so reading never fails here).
pub(super) fn decode(bytes: &[u8]) -> Cow<'_, str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0,
    }
}

/// One data row: the required columns, in the order asked for, trimmed.
pub(super) struct Row {
    /// Line where the row starts, counting the header as line 1.
    pub line: u64,
    pub fields: Vec<String>,
    /// Set when the row as a whole cannot be trusted (its fields may be shifted).
    pub problem: Option<String>,
}

/// A CSV export whose columns are found by header name, so extra columns and any column order
/// are fine (GIAS adds columns from time to time).
pub(super) struct Table<'a> {
    text: &'a str,
    reader: csv::Reader<&'a [u8]>,
    columns: Vec<usize>,
    width: usize,
}

impl<'a> Table<'a> {
    pub fn open(file: &'static str, text: &'a str, required: &[&'static str]) -> Result<Self, GiasError> {
        if text.trim().is_empty() {
            return Err(GiasError::Empty { file });
        }
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
        let headers = reader.headers().map_err(|e| GiasError::Unreadable { file, message: e.to_string() })?.clone();
        let mut columns = Vec::with_capacity(required.len());
        let mut missing = Vec::new();
        for name in required {
            match headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name)) {
                Some(i) => columns.push(i),
                None => missing.push((*name).to_owned()),
            }
        }
        if !missing.is_empty() {
            return Err(GiasError::MissingColumns { file, missing });
        }
        Ok(Table { text, reader, columns, width: headers.len() })
    }

    pub fn rows(self) -> impl Iterator<Item = Row> + 'a {
        let Table { text, reader, columns, width } = self;
        let mut lines = LineCounter::new(text);
        reader.into_records().map(move |record| match record {
            Ok(record) => {
                let line = lines.line_at(record.position());
                let fields = columns.iter().map(|&i| record.get(i).unwrap_or("").trim().to_owned()).collect();
                let problem = (record.len() != width).then(|| {
                    format!(
                        "the row has {} fields but the header has {width}: a field with a comma \
                         in it is probably not in quotes",
                        record.len()
                    )
                });
                Row { line, fields, problem }
            }
            Err(e) => Row {
                line: lines.line_at(e.position()),
                fields: vec![String::new(); columns.len()],
                problem: Some(format!("the row cannot be read as CSV: {e}")),
            },
        })
    }
}

/// Line numbers from byte offsets. The csv crate's own line numbers are off by one after CRLF
/// line ends and blank lines, and a person looking for "line 14" opens the file in an editor.
struct LineCounter<'a> {
    text: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter { text: text.as_bytes(), offset: 0, line: 1 }
    }

    /// The line of the record the csv reader places at `position`. It places a record after the
    /// previous one's end, before the `\n` of a CRLF and before skipped blank lines, so those
    /// are stepped over first. Offsets only grow, so the text is scanned once.
    fn line_at(&mut self, position: Option<&csv::Position>) -> u64 {
        let offset = position.map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
        let mut start = offset.min(self.text.len());
        while matches!(self.text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if start >= self.offset {
            let skipped = &self.text[self.offset..start];
            self.line += skipped.iter().filter(|&&b| b == b'\n').count() as u64;
            self.offset = start;
        }
        self.line
    }
}

/// A URN: a positive whole number (six digits today).
pub(super) fn parse_urn(column: &str, value: &str) -> Result<u32, String> {
    if value.is_empty() {
        return Err(format!("{column} is empty"));
    }
    match digits(value, 9) {
        Some(urn) if urn > 0 => Ok(urn),
        _ => Err(format!("{column} '{value}' is not a URN (a whole number such as 100001)")),
    }
}

/// A number of at most `max_len` ASCII digits. `str::parse` alone would also take "+12".
pub(super) fn digits(value: &str, max_len: usize) -> Option<u32> {
    let ok = (1..=max_len).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| value.parse().ok()).flatten()
}

/// GIAS writes dates as dd-mm-yyyy; Excel re-saves them as dd/mm/yyyy, so both are read.
/// An empty field is no date.
pub(super) fn parse_date(column: &str, value: &str) -> Result<Option<Date>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let bad = || format!("{column} '{value}' is not a date written dd-mm-yyyy");
    let parts: Vec<&str> = value.split(['-', '/']).collect();
    let [day, month, year] = parts.as_slice() else {
        return Err(bad());
    };
    if year.len() != 4 {
        return Err(bad());
    }
    let (Some(day), Some(month), Some(year)) = (digits(day, 2), digits(month, 2), digits(year, 4)) else {
        return Err(bad());
    };
    let month = u8::try_from(month).ok().and_then(|m| Month::try_from(m).ok()).ok_or_else(bad)?;
    let (Ok(year), Ok(day)) = (i32::try_from(year), u8::try_from(day)) else {
        return Err(bad());
    };
    Date::from_calendar_date(year, month, day).map(Some).map_err(|_| bad())
}
