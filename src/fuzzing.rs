//! The entry points that the fuzz targets (`fuzz/fuzz_targets/`) and the corpus replay
//! (`tests/integration/fuzz_corpora.rs`) share: one function per kind of untrusted input, each
//! reading arbitrary bytes the way the server reads that input, and returning nothing.
//!
//! None of them may panic, whatever the bytes: a panic is a bug in the reader, to be fixed there
//! and its input kept in `fuzz/corpus/<target>/` so the replay keeps it fixed. Besides not
//! panicking, a few promises the readers make of their results are asserted here, so that a
//! reader that answers wrongly fails as loudly as one that crashes.

use std::io::{self, Cursor};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue};

use crate::crypto::{
    ciphertext_len, open_from_slice, plaintext_len, sealed_segment_len, segment_count, segment_offset, DataKey,
    Keyring, ObjectId, Opener, WrappedKey, HEADER_LEN,
};
use crate::domain::batch::{BatchLimits, BatchReader};
use crate::domain::gias::{self, KnownSchool};
use crate::domain::organisation::OrgRef;
use crate::domain::routing::{check_own_number, numbers_in_name, route_by_name, EstablishmentKey};
use crate::domain::{DfeNumber, FileName};
use crate::web::mail::form::{FormReader, Part};

/// A fuzz target: its name (the folder of its corpus) and its entry point.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, for the replay and the stable-toolchain stand-in to walk.
pub const TARGETS: &[Target] = &[
    Target { name: "object_format", run: object_format },
    Target { name: "file_name_routing", run: file_name_routing },
    Target { name: "batch_zip", run: batch_zip },
    Target { name: "gias_csv", run: gias_csv },
    Target { name: "multipart_form", run: multipart_form },
    Target { name: "urlencoded_form", run: urlencoded_form },
    Target { name: "json_request_bodies", run: json_request_bodies },
];

/// The key and object id of the test vectors in `docs/object-format.md`, so the corpus can hold
/// objects that open and the fuzzer can mutate them past the header checks.
const VECTOR_KEY: [u8; 32] = {
    let mut key = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        key[i] = i as u8;
        i += 1;
    }
    key
};
const VECTOR_OBJECT_ID: ObjectId =
    [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];
/// The KEK of the `[wrapped key]` vector, under id `k1`.
const VECTOR_KEK: [u8; 32] = {
    let mut key = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        key[i] = 0x40 + i as u8;
        i += 1;
    }
    key
};

/// A stored object as a download reads it: whole, then segment by segment as a Range request
/// does; and the first bytes as a wrapped data key from a database row.
pub fn object_format(data: &[u8]) {
    let key = DataKey::from_bytes(VECTOR_KEY);
    if let Ok(plaintext) = open_from_slice(&key, &VECTOR_OBJECT_ID, data) {
        assert_eq!(ciphertext_len(plaintext.len() as u64), data.len() as u64, "an opened object's length disagrees");
    }
    if let (Ok(opener), Ok(len)) = (Opener::new(&key, &VECTOR_OBJECT_ID, data), plaintext_len(data.len() as u64)) {
        let count = segment_count(len);
        for index in 0..count {
            let at = usize::try_from(segment_offset(index)).expect("an offset inside an object in memory");
            let sealed =
                data.get(at..at + sealed_segment_len(index, len)).expect("the layout names bytes the object has");
            let _ = opener.open_segment(index, sealed, index + 1 == count);
        }
    }
    // A Range request names any segment: the index comes from the request, not the object.
    if let (Some(index), Some(rest)) = (data.get(..8), data.get(8..)) {
        let index = u64::from_le_bytes(index.try_into().expect("eight bytes"));
        if let Ok(opener) = Opener::new(&key, &VECTOR_OBJECT_ID, rest) {
            let body = rest.get(HEADER_LEN..).unwrap_or_default();
            let _ = opener.open_segment(index, body, index % 2 == 0);
        }
    }
    let keyring = Keyring::from_keys("k1", vec![("k1".to_owned(), VECTOR_KEK)]);
    let wrapped = WrappedKey { kek_id: "k1".to_owned(), bytes: data.iter().copied().take(72).collect() };
    let _ = keyring.unwrap(&wrapped, &VECTOR_OBJECT_ID);
}

/// A file name as an upload gives it, routed by the establishment number it carries.
pub fn file_name_routing(data: &[u8]) {
    let name = String::from_utf8_lossy(data);
    let _ = FileName::parse(&name);
    let found = numbers_in_name(&name);
    if let Ok(routed) = route_by_name(&name) {
        assert!(!routed.stripped_name.is_empty(), "a routed name was stripped to nothing");
        assert_eq!(found.first(), Some(&routed.key), "the routed number is not the first the name carries");
        assert_eq!(found.len(), 1, "a name carrying two numbers was routed");
    }
    for key in &found {
        if let EstablishmentKey::Dfe(number) = key {
            let _ = check_own_number(&name, *number);
            assert_eq!(number.compact().parse::<DfeNumber>().ok(), Some(*number), "a DfE number does not read back");
        }
    }
    if let Ok(number) = name.parse::<DfeNumber>() {
        assert_eq!(number.to_string().parse::<DfeNumber>().ok(), Some(number), "a DfE number does not read back");
    }
    if let Ok(reference) = name.parse::<OrgRef>() {
        assert_eq!(reference.to_string().parse::<OrgRef>().ok(), Some(reference), "an organisation does not read back");
    }
}

/// A batch archive as the server reads its spool: opened, every entry streamed to its end, and
/// each delivered file routed by its name. The limits are small so one input stays cheap.
pub fn batch_zip(data: &[u8]) {
    let limits = BatchLimits {
        max_entries: 64,
        max_total_uncompressed: 4 << 20,
        max_entry_uncompressed: 1 << 20,
        ..BatchLimits::default()
    };
    let Ok(mut reader) = BatchReader::open(Cursor::new(data), limits) else { return };
    let outcomes = reader.for_each(|info, entry| {
        let copied = io::copy(entry, &mut io::sink())?;
        let _ = route_by_name(info.file_name.as_str());
        Ok(copied)
    });
    if let Ok(outcomes) = outcomes {
        let delivered: u64 = outcomes.iter().filter_map(|(_, r)| r.as_ref().ok()).sum();
        assert!(delivered <= limits.max_total_uncompressed, "a batch unpacked past its allowance");
    }
}

/// A GIAS establishments export, and a links export after the first NUL byte if there is one
/// (CSV text holds none), planned against no schools and then against the schools it names.
pub fn gias_csv(data: &[u8]) {
    let (establishments, links) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let Ok(plan) = gias::plan_import_files(&[], establishments, links, None) else { return };
    let Ok((rows, _)) = gias::parse_establishments(establishments) else { return };
    let known: Vec<KnownSchool> = rows.iter().map(KnownSchool::from).collect();
    let la = rows.first().map(|e| e.dfe.la_code());
    let _ = gias::plan_import_files(&known, establishments, links, la);
    let _ = plan.summary();
}

/// A page's multipart form: the first line is the Content-Type header, the rest the body. Read
/// as the upload and reply pages read it, text fields whole and file parts streamed.
pub fn multipart_form(data: &[u8]) {
    let (content_type, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    let body = Body::from(body.to_vec());
    block_on(async move {
        let Ok(mut form) = FormReader::start(&headers, body) else { return };
        while let Ok(Some(part)) = form.next().await {
            if let Part::File(mut field) = part {
                while let Ok(Some(_)) = field.chunk().await {}
            }
        }
    });
}

/// A page's small form (`application/x-www-form-urlencoded`).
pub fn urlencoded_form(data: &[u8]) {
    let fields = crate::web::form::parse(data);
    let _ = crate::web::form::first(&fields, "csrf");
    let _ = crate::web::form::all(&fields, "file").count();
    let pairs = data.split(|&b| b == b'&').filter(|pair| !pair.is_empty()).count();
    assert_eq!(fields.len(), pairs, "a form read more or fewer fields than it has");
}

/// The same bytes as the body of every API request that takes JSON, each read by its handler's
/// extractor and checked as its handler checks it.
pub fn json_request_bodies(data: &[u8]) {
    block_on(crate::http::request_bodies::read_each(data));
}

/// Runs a future that needs no I/O or timers to completion, on a runtime kept per thread.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}
