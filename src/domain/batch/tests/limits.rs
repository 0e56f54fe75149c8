//! Archives built to exhaust the server: too many entries, bombs, archives inside archives.

use super::*;

/// 50 MB of zeros deflates to about 50 KB: a ratio near 1000.
const BOMB_LEN: usize = 50_000_000;

fn bomb() -> Vec<u8> {
    zip_of(&[("before.txt", b"fine"), ("zeros.bin", &vec![0u8; BOMB_LEN]), ("after.txt", b"fine")])
}

#[test]
fn more_entries_than_allowed_refuse_the_whole_archive() {
    let names: Vec<String> = (0..6).map(|i| format!("{i}.txt")).collect();
    let zip = zip_of(&names.iter().map(|n| (n.as_str(), &b"x"[..])).collect::<Vec<_>>());
    let limits = BatchLimits { max_entries: 5, ..BatchLimits::default() };
    let error = BatchReader::open(Cursor::new(&zip), limits).err();
    assert!(matches!(error, Some(BatchError::TooManyEntries { found: 6, limit: 5 })), "{error:?}");
    assert!(BatchReader::open(Cursor::new(&zip), BatchLimits { max_entries: 6, ..limits }).is_ok());
}

#[test]
fn a_zip_bomb_is_refused_by_its_ratio_without_unpacking_it() {
    let limits = BatchLimits { max_ratio: 100, ..BatchLimits::default() };
    let mut calls = Vec::new();
    let outcomes = BatchReader::open(Cursor::new(bomb()), limits)
        .expect("opens")
        .for_each(|info, _| {
            calls.push(info.raw_name.clone());
            Ok(())
        })
        .expect("the other entries are still read");
    assert!(
        matches!(outcomes[1].1, Err(EntryRefusal::RatioTooHigh { ratio, limit: 100 }) if ratio > 500),
        "{:?}",
        outcomes[1].1
    );
    assert_eq!(calls, ["before.txt", "after.txt"], "the bomb never reached the callback");
}

#[test]
fn a_bomb_lying_about_its_size_is_still_stopped_by_the_bytes_that_come_out() {
    let mut zip = bomb();
    let h = headers(&zip, "zeros.bin");
    lie_about_size(&mut zip, &h, 1024);
    let mut seen = Vec::new();
    let outcomes = BatchReader::open(Cursor::new(zip), BatchLimits::default())
        .expect("opens")
        .for_each(|info, reader| {
            let mut count = 0u64;
            let mut buf = [0u8; 8192];
            let result = loop {
                match reader.read(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(n) => count += n as u64,
                    Err(e) => break Err(e),
                }
            };
            seen.push((info.raw_name.clone(), count));
            result
        })
        .expect("the other entries are still read");
    let refusal = outcomes[1].1.clone().err();
    assert!(
        matches!(&refusal, Some(EntryRefusal::Corrupt(why)) if why.contains("more data than its header declares")),
        "{refusal:?}"
    );
    assert!(seen[1].1 <= 1024, "the callback got {} bytes of the bomb", seen[1].1);
    assert_eq!(outcomes[2].1, Ok(()));
}

#[test]
fn an_entry_over_the_entry_limit_is_refused() {
    let zip = zip_of(&[("big.bin", &noise(5000, 3)), ("small.bin", b"ok")]);
    let outcomes =
        read_all(&zip, BatchLimits { max_entry_uncompressed: 4096, ..BatchLimits::default() }).expect("reads");
    assert_eq!(outcomes[0].1, Err(EntryRefusal::TooLarge { limit: 4096 }));
    assert_eq!(outcomes[1].1, Ok(b"ok".to_vec()));
}

#[test]
fn entries_past_the_total_allowance_are_refused_and_later_ones_that_fit_delivered() {
    let four_k = noise(4000, 4);
    let zip = zip_of(&[("a", &four_k), ("b", &four_k), ("c", &four_k), ("d", &four_k), ("e", &four_k[..1000])]);
    let limits = BatchLimits { max_total_uncompressed: 10_000, ..BatchLimits::default() };
    let results: Vec<_> = read_all(&zip, limits).expect("reads").into_iter().map(|(_, r)| r.map(|v| v.len())).collect();
    let refused = Err(EntryRefusal::TotalTooLarge { limit: 10_000 });
    assert_eq!(results, [Ok(4000), Ok(4000), refused.clone(), refused, Ok(1000)]);
}

#[test]
fn a_zip_inside_is_refused_unless_allowed() {
    let inner = zip_of(&[("x.txt", b"inner")]);
    let zip = zip_of(&[("inner.zip", &inner), ("renamed.dat", &inner), ("budget.xlsx", &inner), ("a.txt", b"a")]);
    let outcomes = read_all(&zip, BatchLimits::default()).expect("reads");
    assert_eq!(refusal_of(&outcomes, "inner.zip"), Some(EntryRefusal::Nested));
    assert_eq!(refusal_of(&outcomes, "renamed.dat"), Some(EntryRefusal::Nested), "recognised by content");
    assert_eq!(outcomes[2].1.as_ref().ok(), Some(&inner), "Office files are zips and are documents");
    assert_eq!(outcomes[3].1, Ok(b"a".to_vec()));

    let allowed = read_all(&zip, BatchLimits { allow_nested_zip: true, ..BatchLimits::default() }).expect("reads");
    assert!(allowed.iter().all(|(_, result)| result.as_ref().is_ok_and(|bytes| !bytes.is_empty())));
    assert_eq!(allowed[0].1.as_ref().ok(), Some(&inner), "delivered as a file, not unpacked");
}

#[test]
fn a_hostile_entry_count_is_refused_from_the_end_record_before_parsing() {
    let mut zip = zip_of(&[("a.txt", b"a")]);
    let end = zip.len() - 22;
    for field in [end + 8, end + 10] {
        zip[field..field + 2].copy_from_slice(&60_000u16.to_le_bytes());
    }
    let error = BatchReader::open(Cursor::new(zip), BatchLimits::default()).err();
    assert!(matches!(error, Some(BatchError::TooManyEntries { found: 60_000, limit: 1000 })), "{error:?}");
}

#[test]
fn a_symbolic_link_is_not_delivered_as_a_file() {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer.add_symlink("passwd", "/etc/passwd", SimpleFileOptions::default()).expect("link added");
    let zip = writer.finish().expect("finished").into_inner();
    let outcomes = read_all(&zip, BatchLimits::default()).expect("reads");
    assert!(matches!(&outcomes[0].1, Err(EntryRefusal::Unsupported(what)) if what.contains("symbolic link")));
}
