//! Whether a file's content plausibly is what its extension says.
//!
//! Recipients open files by extension, and channels expect types (a census return is `.xml`,
//! a budget `.xlsx`). A PDF renamed `.xlsx`, or a CSV saved with the wrong extension, fails only
//! when someone at the other end opens it, days later. Checking the first bytes at upload lets
//! the sender fix it while they still have the file open. The check is deliberately loose: it
//! looks for what each format must start with, not for a valid file, so it never refuses a file
//! the format allows (an Excel file written by another program, XML without a declaration).

/// How much of the start of a file [`check`] looks at; callers read this much (or the whole
/// file, if shorter). Longer input is cut to this length, so the answer does not depend on it.
pub const HEAD_LEN: usize = 8 * 1024;

/// Why the content does not match the extension, in words the sender can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// Checks the first bytes of a file against its extension (with or without the dot, any case).
/// Extensions this module does not know are accepted: it only refuses what it can tell is wrong.
pub fn check(extension: &str, head: &[u8]) -> Result<(), Mismatch> {
    let head = &head[..head.len().min(HEAD_LEN)];
    let ext = extension.trim_start_matches('.').to_ascii_lowercase();
    let (noun, result) = match ext.as_str() {
        "xml" => ("an XML file", xml(head)),
        "pdf" => ("a PDF document", pdf(head)),
        "zip" => ("a zip archive", zip(head)),
        "xlsx" | "xlsm" => ("an Excel workbook", office(head, Office::Excel)),
        "docx" => ("a Word document", office(head, Office::Word)),
        "pptx" => ("a PowerPoint presentation", office(head, Office::PowerPoint)),
        "xls" => ("an Excel 97-2003 workbook", xls(head)),
        "csv" => ("a CSV file", text(head)),
        "txt" | "tsv" => ("a text file", text(head)),
        "json" => ("a JSON file", json(head)),
        _ => return Ok(()),
    };
    result.map_err(|why| {
        let fix = match ext.as_str() {
            "pdf" => "save or print it again as PDF".to_owned(),
            "zip" => "compress it again as a .zip archive".to_owned(),
            "xls" => "open it in Excel and save it again as .xls or .xlsx".to_owned(),
            "csv" => "save it again as CSV UTF-8 (Comma delimited)".to_owned(),
            "txt" | "tsv" => "save it again as plain text (UTF-8)".to_owned(),
            "xml" | "json" => format!("export it again as .{ext}"),
            _ => format!("save it again as .{ext}"),
        };
        Mismatch(format!("the file is named .{ext} but is not {noun} ({why}): {fix}"))
    })
}

/// What a check found wrong, completing "the file is named .x but is not y (...)".
type Why = String;

const ZIP: &[u8] = b"PK\x03\x04";
const ZIP_EMPTY: &[u8] = b"PK\x05\x06";
const OLE2: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
const CONTENT_TYPES: &[u8] = b"[Content_Types].xml";
/// The start of the `mimetype` entry LibreOffice stores, uncompressed, first in its archives.
const OPEN_DOCUMENT: &[u8] = b"application/vnd.oasis.opendocument";

/// Why content is not of a binary format: what it is instead, when that can be told.
fn not_binary(head: &[u8], otherwise: &str) -> Why {
    if head.is_empty() {
        "it is empty".to_owned()
    } else if let Some(what) = recognise(head) {
        what.to_owned()
    } else if is_web_page(head) {
        "it is a web page".to_owned()
    } else if text_problem(head).is_none() {
        "it is plain text, perhaps a CSV file".to_owned()
    } else {
        otherwise.to_owned()
    }
}

/// Why text is not of a text format (XML, JSON): that it is some other format, or `otherwise`.
fn not_text_format(head: &[u8], otherwise: &str) -> Why {
    match recognise(head) {
        _ if head.is_empty() => "it is empty".to_owned(),
        Some(what) => what.to_owned(),
        None => otherwise.to_owned(),
    }
}

/// An optional byte order mark and white space, then `<?xml`, a processing instruction, a
/// comment, a DOCTYPE or an element: everything a well-formed document may start with.
fn xml(head: &[u8]) -> Result<(), Why> {
    if looks_like_xml(head) {
        Ok(())
    } else {
        Err(not_text_format(head, "it does not start with an XML tag"))
    }
}

fn looks_like_xml(head: &[u8]) -> bool {
    let units: Vec<u32> = if let Some(rest) = head.strip_prefix(b"\xFF\xFE") {
        rest.chunks_exact(2).map(|u| u32::from(u16::from_le_bytes([u[0], u[1]]))).collect()
    } else if let Some(rest) = head.strip_prefix(b"\xFE\xFF") {
        rest.chunks_exact(2).map(|u| u32::from(u16::from_be_bytes([u[0], u[1]]))).collect()
    } else {
        head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head).iter().map(|&b| u32::from(b)).collect()
    };
    let start = units.iter().position(|&u| !matches!(u, 0x20 | 0x09 | 0x0A | 0x0D)).unwrap_or(units.len());
    let s = &units[start..];
    let is = |i: usize, c: u8| s.get(i) == Some(&u32::from(c));
    // A name may start with a letter, '_', ':' or any non-ASCII character.
    let name_start = |i: usize| {
        s.get(i).is_some_and(|&u| u >= 0x80 || matches!(char::from_u32(u), Some('A'..='Z' | 'a'..='z' | '_' | ':')))
    };
    let starts_with = |text: &[u8]| s.len() >= text.len() && s.iter().zip(text).all(|(&u, &b)| u == u32::from(b));
    is(0, b'<')
        && (name_start(1) || (is(1, b'?') && name_start(2)) || starts_with(b"<!--") || starts_with(b"<!DOCTYPE"))
}

/// `%PDF-`, which Adobe's readers accept anywhere in the first 1024 bytes (some producers put
/// a few bytes before it), so this does too.
fn pdf(head: &[u8]) -> Result<(), Why> {
    if is_pdf(head) {
        Ok(())
    } else {
        Err(not_binary(head, "it does not start with %PDF-"))
    }
}

fn is_pdf(head: &[u8]) -> bool {
    head[..head.len().min(1024)].windows(5).any(|w| w == b"%PDF-")
}

fn zip(head: &[u8]) -> Result<(), Why> {
    if head.starts_with(ZIP) || head.starts_with(ZIP_EMPTY) {
        Ok(())
    } else {
        Err(not_binary(head, "it does not start like a zip archive"))
    }
}

/// The Office Open XML formats, told apart by the folder their main part is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Office {
    Excel,
    Word,
    PowerPoint,
}

impl Office {
    const ALL: [Office; 3] = [Office::Excel, Office::Word, Office::PowerPoint];

    fn folder(self) -> &'static [u8] {
        match self {
            Office::Excel => b"xl/",
            Office::Word => b"word/",
            Office::PowerPoint => b"ppt/",
        }
    }

    fn described(self) -> &'static str {
        match self {
            Office::Excel => "it is an Excel workbook (.xlsx)",
            Office::Word => "it is a Word document (.docx)",
            Office::PowerPoint => "it is a PowerPoint presentation (.pptx)",
        }
    }
}

/// A zip archive whose entries are those of an Office document. Excel writes
/// `[Content_Types].xml` first, but other writers (LibreOffice, openpyxl, .NET) start with
/// `_rels/`, `docProps/` or the main folder and write it last, so any of those will do. When the
/// head is too short to hold the first entry's name, the zip signature alone is accepted.
fn office(head: &[u8], expected: Office) -> Result<(), Why> {
    if !head.starts_with(ZIP) {
        return Err(not_binary(head, "it does not start like a zip archive"));
    }
    let names = zip_entry_names(head);
    let Some(first) = names.first() else {
        return Ok(());
    };
    let has = |folder: &[u8]| names.iter().any(|n| n.starts_with(folder));
    if !has(expected.folder()) {
        if let Some(other) = Office::ALL.into_iter().find(|o| has(o.folder())) {
            return Err(other.described().to_owned());
        }
    }
    let package_part = |n: &&[u8]| {
        *n == CONTENT_TYPES || [b"_rels/" as &[u8], b"docProps/", b"customXml/"].iter().any(|p| n.starts_with(p))
    };
    if names.iter().any(package_part) || has(expected.folder()) || contains(head, CONTENT_TYPES) {
        return Ok(());
    }
    if contains(head, OPEN_DOCUMENT) {
        return Err("it is an OpenDocument file (such as .ods or .odt)".to_owned());
    }
    let shown: String = String::from_utf8_lossy(first).chars().take(60).collect();
    Err(format!("it is a zip archive whose first file, '{shown}', is not part of an Office document"))
}

/// The names of the zip entries whose local headers lie wholly in `head`, in order. The walk
/// stops where the next header's position is unknown (sizes deferred to a data descriptor).
fn zip_entry_names(head: &[u8]) -> Vec<&[u8]> {
    let u16_at = |i: usize| head.get(i..i + 2).map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])));
    let u32_at = |i: usize| head.get(i..i + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let mut names = Vec::new();
    let mut at = 0;
    while head.get(at..).is_some_and(|h| h.starts_with(ZIP)) && at + 30 <= head.len() {
        let name_end = at + 30 + u16_at(at + 26);
        let Some(name) = head.get(at + 30..name_end) else { break };
        names.push(name);
        let deferred_sizes = u16_at(at + 6) & 0x08 != 0;
        let Ok(data_len) = usize::try_from(u32_at(at + 18)) else { break };
        match name_end.checked_add(u16_at(at + 28)).and_then(|n| n.checked_add(data_len)) {
            Some(next) if !deferred_sizes => at = next,
            _ => break,
        }
    }
    names
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The compound-file signature every Excel 97-2003 workbook starts with.
fn xls(head: &[u8]) -> Result<(), Why> {
    if head.starts_with(OLE2) {
        Ok(())
    } else {
        Err(not_binary(head, "it does not start like an Excel 97-2003 file"))
    }
}

/// Text as the rest of Pigeonpost reads it: UTF-8, or else Windows-1252, which is what Excel
/// and most school systems write. Either way there are no NUL bytes and no control characters
/// but tab, line feed, carriage return and form feed. Empty is fine: an empty CSV is still text.
fn text(head: &[u8]) -> Result<(), Why> {
    match recognise(head).map(str::to_owned).or_else(|| text_problem(head)) {
        None => Ok(()),
        Some(why) => Err(why),
    }
}

fn text_problem(head: &[u8]) -> Option<Why> {
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return Some("it is UTF-16 text, which is not read here".to_owned());
    }
    if let Some(&b) = head.iter().find(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C)) || b == 0x7F) {
        return Some(if b == 0 {
            "it contains NUL bytes, so it is not text".to_owned()
        } else {
            format!("it contains the control character 0x{b:02X}, so it is not text")
        });
    }
    // A multi-byte character cut off by the end of the head is not the file's fault.
    let utf8 = std::str::from_utf8(head).map_or_else(|e| e.error_len().is_none(), |_| true);
    // Bytes Windows-1252 leaves undefined do not occur in Windows-1252 text.
    let windows_1252 = !head.iter().any(|b| matches!(b, 0x81 | 0x8D | 0x8F | 0x90 | 0x9D));
    (!utf8 && !windows_1252).then(|| "it is neither UTF-8 nor Windows-1252 text".to_owned())
}

/// Text whose first character after an optional byte order mark and white space opens an
/// object or an array.
fn json(head: &[u8]) -> Result<(), Why> {
    text(head)?;
    let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') => Ok(()),
        _ => Err(not_text_format(head, "it does not start with { or [")),
    }
}

/// What the content is, when its first bytes show it is a known format: the most useful thing
/// to tell a sender who picked the wrong file or renamed one. Only signatures at the very start
/// count, so no text file is ever taken for one of these.
fn recognise(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"%PDF-") {
        Some("it is a PDF document")
    } else if head.starts_with(ZIP) || head.starts_with(ZIP_EMPTY) {
        let names = zip_entry_names(head);
        let has = |folder: &[u8]| names.iter().any(|n| n.starts_with(folder));
        Some(match Office::ALL.into_iter().find(|o| has(o.folder())) {
            Some(office) => office.described(),
            None if contains(head, OPEN_DOCUMENT) => "it is an OpenDocument file (such as .ods or .odt)",
            None if contains(head, CONTENT_TYPES) => "it is an Office document (.xlsx, .docx or .pptx)",
            None => "it is a zip archive",
        })
    } else if head.starts_with(OLE2) {
        Some("it is an older Office file (such as .xls or .doc) or a password-protected Office document")
    } else if head.starts_with(b"\x1F\x8B") {
        Some("it is a gzip archive")
    } else if head.starts_with(b"\x89PNG") || head.starts_with(b"\xFF\xD8\xFF") {
        Some("it is an image")
    } else if head.starts_with(b"{\\rtf") {
        Some("it is a Rich Text document")
    } else {
        None
    }
}

fn is_web_page(head: &[u8]) -> bool {
    let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = body.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(body.len());
    let lower = body[start..body.len().min(start + 15)].to_ascii_lowercase();
    lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A zip local file header and its data, as written by hand from the zip specification.
    fn entry(name: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = ZIP.to_vec();
        bytes.extend_from_slice(&[0x14, 0x00, 0x06, 0x00, 0x08, 0x00]); // version 2.0, flags, deflate
        bytes.extend_from_slice(&[0x00, 0x00, 0x21, 0x00]); // time, date: 1980-01-01 00:00
        bytes.extend_from_slice(&[0xAB, 0xCD, 0xEF, 0x01]); // CRC-32 (not checked)
        let len = u32::try_from(data.len()).unwrap().to_le_bytes();
        bytes.extend_from_slice(&len); // compressed size
        bytes.extend_from_slice(&len); // uncompressed size (the same will do here)
        bytes.extend_from_slice(&u16::try_from(name.len()).unwrap().to_le_bytes());
        bytes.extend_from_slice(&[0x00, 0x00]); // no extra field
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    fn archive(names: &[&str]) -> Vec<u8> {
        names.iter().flat_map(|n| entry(n, &[0x8D, 0x52, 0xCB, 0x6E, 0xC2, 0x30, 0x10])).collect()
    }

    /// The head of a workbook as Excel writes it.
    fn excel_head() -> Vec<u8> {
        archive(&["[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels"])
    }

    const PDF: &[u8] = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n";

    fn refused(ext: &str, head: &[u8]) -> String {
        check(ext, head).expect_err("should be refused").0
    }

    #[test]
    fn a_workbook_as_excel_writes_it_is_an_xlsx() {
        assert_eq!(check("xlsx", &excel_head()), Ok(()));
        assert_eq!(check(".XLSX", &excel_head()), Ok(()), "the extension may have a dot and any case");
        assert_eq!(check("xlsm", &excel_head()), Ok(()));
    }

    #[test]
    fn a_workbook_that_writes_its_content_types_last_is_an_xlsx() {
        assert_eq!(check("xlsx", &archive(&["docProps/app.xml", "docProps/core.xml", "xl/theme/theme1.xml"])), Ok(()));
        assert_eq!(check("xlsx", &archive(&["_rels/.rels"])), Ok(()));
        assert_eq!(check("xlsx", &archive(&["xl/workbook.xml"])), Ok(()));
    }

    #[test]
    fn a_head_too_short_to_name_the_first_entry_is_accepted_on_the_zip_signature() {
        let head = excel_head();
        for len in [4, 29, 30, 40] {
            assert_eq!(check("xlsx", &head[..len]), Ok(()), "{len} bytes");
        }
    }

    #[test]
    fn a_head_cut_after_the_first_entry_name_is_judged_on_that_name() {
        let head = entry("[Content_Types].xml", &[0; 500]);
        assert_eq!(check("xlsx", &head[..60]), Ok(()));
        let head = entry("pupils.csv", &[0; 500]);
        assert!(refused("xlsx", &head[..60]).contains("'pupils.csv'"));
    }

    #[test]
    fn a_pdf_renamed_xlsx_is_refused_saying_what_it_is() {
        assert_eq!(
            refused("xlsx", PDF),
            "the file is named .xlsx but is not an Excel workbook (it is a PDF document): save it again as .xlsx"
        );
    }

    #[test]
    fn an_xlsx_that_is_not_a_zip_is_refused_as_the_example_says() {
        assert_eq!(
            refused("xlsx", b"\x00\x01\x02\x03 garbage"),
            "the file is named .xlsx but is not an Excel workbook (it does not start like a zip archive): \
             save it again as .xlsx"
        );
    }

    #[test]
    fn other_zips_renamed_xlsx_are_refused() {
        let msg = refused("xlsx", &archive(&["pupils.csv", "staff.csv"]));
        assert!(
            msg.contains("it is a zip archive whose first file, 'pupils.csv', is not part of an Office document"),
            "{msg}"
        );
        let msg = refused("xlsx", &archive(&["[Content_Types].xml", "_rels/.rels", "word/document.xml"]));
        assert!(msg.contains("(it is a Word document (.docx))"), "{msg}");
        let mut ods = entry("mimetype", b"application/vnd.oasis.opendocument.spreadsheet");
        ods.extend(entry("content.xml", b"x"));
        assert!(refused("xlsx", &ods).contains("OpenDocument"));
        assert!(refused("xlsx", ZIP_EMPTY).contains("(it is a zip archive)"));
    }

    #[test]
    fn a_docx_is_told_from_a_workbook() {
        let docx = archive(&["[Content_Types].xml", "_rels/.rels", "word/document.xml"]);
        assert_eq!(check("docx", &docx), Ok(()));
        assert!(refused("docx", &excel_head()).contains("(it is an Excel workbook (.xlsx))"));
        assert_eq!(check("pptx", &archive(&["[Content_Types].xml", "ppt/presentation.xml"])), Ok(()));
    }

    #[test]
    fn a_password_protected_or_old_workbook_named_xlsx_is_refused_with_both_possibilities() {
        let msg = refused("xlsx", OLE2);
        assert!(msg.contains("older Office file (such as .xls or .doc) or a password-protected"), "{msg}");
    }

    #[test]
    fn empty_content_is_refused_for_binary_formats_and_accepted_as_text() {
        for ext in ["pdf", "xlsx", "xml", "zip", "xls", "docx", "json"] {
            assert!(refused(ext, b"").contains("(it is empty)"), "{ext}");
        }
        for ext in ["csv", "txt", "tsv"] {
            assert_eq!(check(ext, b""), Ok(()), "{ext}");
        }
    }

    #[test]
    fn xml_may_start_with_a_declaration_a_bom_white_space_a_comment_or_an_element() {
        for head in [
            &b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><CensusReturn/>"[..],
            b"\xEF\xBB\xBF<?xml version=\"1.0\"?>",
            b" \r\n\t<CensusReturn>",
            b"<!-- exported by SIMS --><Return/>",
            b"<!DOCTYPE note><note/>",
            b"<_x/>",
            b"<\xC3\x89l\xC3\xA8ve/>",
            b"<?xml-stylesheet href=\"a.xsl\"?><a/>",
        ] {
            assert_eq!(check("xml", head), Ok(()), "{:?}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn xml_in_utf16_with_a_byte_order_mark_is_xml() {
        let le: Vec<u8> = "\u{feff}  <?xml version=\"1.0\"?>".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = "\u{feff}<Return/>".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(check("xml", &le), Ok(()));
        assert_eq!(check("xml", &be), Ok(()));
    }

    #[test]
    fn content_that_does_not_open_with_a_tag_is_not_xml() {
        assert!(refused("xml", b"UPN,Surname\nA123,Smith\n").contains("(it does not start with an XML tag)"));
        assert!(refused("xml", b"\0\0\0").contains("(it does not start with an XML tag)"));
        assert!(refused("xml", b"< Return>").contains("it does not start with an XML tag"));
        assert!(refused("xml", b"<1/>").contains("it does not start with an XML tag"));
        assert!(refused("xml", b"<").contains("it does not start with an XML tag"));
        assert!(refused("xml", b"   ").contains("it does not start with an XML tag"));
        assert!(refused("xml", &excel_head()).contains("(it is an Excel workbook (.xlsx))"));
        let msg = refused("xml", PDF);
        assert!(msg.starts_with("the file is named .xml but is not an XML file (it is a PDF document)"), "{msg}");
    }

    #[test]
    fn a_pdf_starts_with_its_header_within_the_first_kilobyte() {
        assert_eq!(check("pdf", PDF), Ok(()));
        assert_eq!(check("pdf", &[b"\r\n junk \r\n".as_slice(), PDF].concat()), Ok(()));
        let late = [vec![b' '; 1024], PDF.to_vec()].concat();
        assert!(refused("pdf", &late).contains("is not a PDF document (it is plain text, perhaps a CSV file)"));
        assert!(refused("pdf", b"\x01\x02").contains("(it does not start with %PDF-)"));
        assert!(
            refused("pdf", &excel_head()).contains("(it is an Excel workbook (.xlsx)): save or print it again as PDF")
        );
        assert!(refused("pdf", b"<html><body>Not found</body></html>").contains("(it is a web page)"));
    }

    #[test]
    fn a_zip_starts_with_a_local_header_or_is_an_empty_archive() {
        assert_eq!(check("zip", &archive(&["a.csv"])), Ok(()));
        assert_eq!(check("zip", b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"), Ok(()));
        assert!(refused("zip", b"PK").contains("(it is plain text, perhaps a CSV file)"));
        assert!(refused("zip", b"PK\x01\x02").contains("(it does not start like a zip archive)"));
        assert!(refused("zip", b"\x1F\x8B\x08\x00").contains("(it is a gzip archive)"));
    }

    #[test]
    fn an_xls_is_a_compound_file() {
        assert_eq!(check("xls", &[OLE2, &[0u8; 100][..]].concat()), Ok(()));
        assert!(refused("xls", &excel_head()).contains("(it is an Excel workbook (.xlsx))"));
        assert!(
            refused("xls", b"<html xmlns:x=\"urn:schemas-microsoft-com:office:excel\">").contains("(it is a web page)")
        );
        assert!(refused("xls", b"Name\tYear\nAsh\t6\n").contains("(it is plain text, perhaps a CSV file)"));
    }

    #[test]
    fn csv_may_be_utf8_with_or_without_a_bom_or_windows_1252() {
        for head in [
            &b"UPN,Surname,Forename\r\nA123,O'Brien,Zo\xC3\xAB\r\n"[..],
            b"\xEF\xBB\xBFUPN,Surname\n",
            b"Name,Fee\nAsh,\xA3100\nSt Mary\x92s,\x80 5\n",
            b"a\tb\x0cc",
        ] {
            assert_eq!(check("csv", head), Ok(()), "{:?}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn a_character_cut_off_by_the_end_of_the_head_is_allowed() {
        assert_eq!(check("csv", b"Zo\xC3"), Ok(()));
        assert_eq!(check("txt", b"\xE2\x80"), Ok(()));
        let mut long = vec![b'a'; HEAD_LEN - 1];
        long.extend_from_slice("é and then a NUL\0".as_bytes());
        assert_eq!(check("csv", &long), Ok(()), "only the first HEAD_LEN bytes are looked at");
    }

    #[test]
    fn binary_content_is_not_text() {
        assert!(refused("csv", b"a,b\0c").contains("(it contains NUL bytes, so it is not text)"));
        assert!(refused("txt", b"a\x1bb").contains("(it contains the control character 0x1B, so it is not text)"));
        assert!(refused("csv", b"a\x7Fb").contains("0x7F"));
        assert!(refused("csv", b"caf\xC3x \x81").contains("(it is neither UTF-8 nor Windows-1252 text)"));
        let msg = refused("csv", &excel_head());
        assert!(msg.contains("(it is an Excel workbook (.xlsx)): save it again as CSV UTF-8"), "{msg}");
        assert!(
            refused("csv", b"%PDF-1.4\n").contains("(it is a PDF document)"),
            "even a PDF with no binary in its head"
        );
    }

    #[test]
    fn utf16_text_is_refused_with_a_way_to_save_it_as_utf8() {
        let head: Vec<u8> = "\u{feff}Name\tYear".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(
            refused("txt", &head),
            "the file is named .txt but is not a text file (it is UTF-16 text, which is not read here): \
             save it again as plain text (UTF-8)"
        );
    }

    #[test]
    fn json_is_text_that_opens_an_object_or_an_array() {
        for head in [&b"{\"a\": 1}"[..], b"\n  [1, 2]", b"\xEF\xBB\xBF{}"] {
            assert_eq!(check("json", head), Ok(()), "{:?}", String::from_utf8_lossy(head));
        }
        assert!(refused("json", b"\"just a string\"").contains("it does not start with { or ["));
        assert!(refused("json", b"{\0}").contains("NUL"));
        assert!(refused("json", PDF).contains("(it is a PDF document)"));
    }

    #[test]
    fn extensions_this_module_does_not_know_are_accepted() {
        for ext in ["", "png", "docm", "odt", "exe", "tar.gz"] {
            assert_eq!(check(ext, PDF), Ok(()), "{ext}");
            assert_eq!(check(ext, b"\0\0\0"), Ok(()), "{ext}");
        }
    }

    proptest! {
        #[test]
        fn checking_never_panics(
            ext in prop::sample::select(vec!["xml", "pdf", "zip", "xlsx", "docx", "xls", "csv", "txt", "json", "x"]),
            head in prop::collection::vec(any::<u8>(), 0..200),
            zip_prefix in any::<bool>(),
        ) {
            let head = if zip_prefix { [ZIP, &head].concat() } else { head };
            let _ = check(ext, &head);
        }

        #[test]
        fn printable_text_in_any_language_is_a_csv(text in "[^\\p{Cc}]*(\r?\n[^\\p{Cc}]*){0,5}") {
            prop_assert_eq!(check("csv", text.as_bytes()), Ok(()));
        }

        #[test]
        fn a_truncated_excel_head_is_always_an_xlsx(len in 0usize..200) {
            let head = excel_head();
            let cut = &head[..len.min(head.len())];
            if len >= 4 {
                prop_assert_eq!(check("xlsx", cut), Ok(()));
            } else {
                prop_assert!(check("xlsx", cut).is_err());
            }
        }
    }
}
