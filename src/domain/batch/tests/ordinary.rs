//! Honest batches: what an automated job or an LA officer actually sends.

use super::*;

#[test]
fn a_batch_of_300_small_files_is_delivered_whole_and_in_order() {
    let names: Vec<String> = (0..300).map(|i| format!("82{i:05}_checking.csv")).collect();
    let contents: Vec<Vec<u8>> = (0..300).map(|i| format!("URN,Pupils\n{i},{}\n", i * 3).into_bytes()).collect();
    let entries: Vec<(&str, &[u8])> =
        names.iter().map(String::as_str).zip(contents.iter().map(Vec::as_slice)).collect();
    let zip = zip_of(&entries);

    let reader = BatchReader::open(Cursor::new(&zip), BatchLimits::default()).expect("opens");
    assert_eq!(reader.len(), 300);
    let outcomes = read_all(&zip, BatchLimits::default()).expect("reads");
    assert_eq!(outcomes.len(), 300);
    for (i, (label, result)) in outcomes.iter().enumerate() {
        let info = label.info().expect("a usable name");
        assert_eq!((info.index, info.file_name.as_str()), (i, names[i].as_str()));
        assert_eq!(info.declared_size, contents[i].len() as u64);
        assert_eq!(result.as_ref().ok(), Some(&contents[i]));
    }
}

#[test]
fn folders_inside_the_zip_are_flattened_and_not_reported() {
    let zip = zip_of(&[
        ("Returns/", b""),
        ("Returns/Primary/", b""),
        ("Returns/Primary/8252001.xml", b"<census/>"),
        ("Returns\\8252002.xml", b"<census/>"),
        ("__MACOSX/Returns/._8252001.xml", b"resource fork"),
    ]);
    let outcomes = read_all(&zip, BatchLimits::default()).expect("reads");
    let delivered: Vec<(&str, &str)> = outcomes
        .iter()
        .map(|(label, _)| (label.raw_name(), label.file_name().map_or("", |name| name.as_str())))
        .collect();
    assert_eq!(delivered, [("Returns/Primary/8252001.xml", "8252001.xml"), ("Returns\\8252002.xml", "8252002.xml")]);
    assert!(outcomes.iter().all(|(_, result)| result.is_ok()));
}

#[test]
fn stored_and_deflated_entries_read_the_same() {
    let content = noise(70_000, 1);
    for method in [STORED, DEFLATED] {
        let outcomes = read_all(&zip_with(method, &[("a.bin", &content)]), BatchLimits::default()).expect("reads");
        assert_eq!(outcomes[0].1.as_ref().ok(), Some(&content), "{method}");
    }
}

#[test]
fn an_empty_archive_and_empty_files_are_fine() {
    assert!(read_all(&zip_of(&[]), BatchLimits::default()).expect("reads").is_empty());
    let outcomes = read_all(&zip_of(&[("empty.txt", b"")]), BatchLimits::default()).expect("reads");
    assert_eq!(outcomes[0].1, Ok(Vec::new()));
}

#[test]
fn the_callback_may_stop_reading_early() {
    let zip = zip_of(&[("a.csv", &noise(50_000, 2)), ("b.csv", b"second")]);
    let mut reader = BatchReader::open(Cursor::new(zip), BatchLimits::default()).expect("opens");
    let outcomes = reader
        .for_each(|_, entry| {
            let mut first = [0u8; 6];
            entry.read_exact(&mut first)?;
            Ok(first)
        })
        .expect("reads");
    assert_eq!(outcomes[1].1, Ok(*b"second"));
    assert!(outcomes[0].1.is_ok());
}

#[test]
fn a_failing_callback_stops_the_batch_as_the_servers_problem() {
    let zip = zip_of(&[("a.csv", b"one"), ("b.csv", b"two")]);
    let mut reader = BatchReader::open(Cursor::new(zip), BatchLimits::default()).expect("opens");
    let mut calls = 0;
    let result = reader.for_each(|_, _| -> io::Result<()> {
        calls += 1;
        Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
    });
    assert!(matches!(result, Err(BatchError::Io(e)) if e.kind() == io::ErrorKind::StorageFull));
    assert_eq!(calls, 1);
}

#[test]
fn the_reader_can_be_moved_to_a_blocking_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<BatchReader<std::fs::File>>();
}

#[test]
fn errors_for_the_whole_archive_say_what_to_do() {
    let messages = [
        BatchError::NotAZip("Could not find EOCD".into()).to_string(),
        BatchError::TooManyEntries { found: 1001, limit: 1000 }.to_string(),
        BatchError::Io(io::Error::other("disk")).to_string(),
    ];
    assert!(messages[0].starts_with("the file is not a zip archive") && messages[0].contains("upload the new archive"));
    assert!(messages[1].contains("1001 entries") && messages[1].contains("split it"));
    assert!(messages[2].contains("service desk"));
}
