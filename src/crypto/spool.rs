//! A sealed scratch file for an upload that must be read back before it can be stored, such as
//! a zip batch (a zip's directory is at its end, so it cannot be unpacked as it arrives).
//!
//! The spool is written in object format v1 under a key that exists only in this process's
//! memory, and its file is unlinked as soon as it is created: the open handle is the only way to
//! it. So a spooled batch of pupil data is never on disk in the clear, and a crash leaves
//! nothing behind to clean up or to read (the kernel frees the blocks, and even a disk image
//! taken meanwhile holds only ciphertext under a key that died with the process).
//!
//! [`SpoolReader`] gives random access (`Read + Seek`), decrypting one segment at a time.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::data_key::DataKey;
use super::segment::{sealed_segment_len, segment_count, segment_offset, Opener, Sealer, HEADER_LEN, SEGMENT_SIZE};

/// Object ids are associated data of every segment; a spool is its own object.
const SPOOL_OBJECT_ID: [u8; 16] = *b"pigeonpost-spool";

/// Writes plaintext into a new spool. Memory is one segment.
pub struct SpoolWriter {
    file: File,
    key: DataKey,
    sealer: Sealer,
    plain: Vec<u8>,
    sealed: Vec<u8>,
    len: u64,
}

fn sealing_failed(e: super::FormatError) -> io::Error {
    io::Error::other(format!("could not seal the spool: {e}"))
}

impl SpoolWriter {
    /// Creates the spool in `dir` (which must exist) and unlinks it at once.
    pub fn create(dir: &Path) -> io::Result<SpoolWriter> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join(format!("spool-{}", uuid::Uuid::new_v4().simple()));
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path)?;
        std::fs::remove_file(&path)?;
        let key = DataKey::generate();
        let sealer = Sealer::new(&key, &SPOOL_OBJECT_ID);
        let mut writer = SpoolWriter {
            file,
            key,
            sealer,
            plain: Vec::with_capacity(SEGMENT_SIZE),
            sealed: Vec::with_capacity(SEGMENT_SIZE + 16),
            len: 0,
        };
        let header = writer.sealer.header();
        writer.file.write_all(&header)?;
        Ok(writer)
    }

    /// Plaintext bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn write(&mut self, mut chunk: &[u8]) -> io::Result<()> {
        self.len += chunk.len() as u64;
        while !chunk.is_empty() {
            // A full segment is sealed only once more data shows it is not the last one.
            if self.plain.len() == SEGMENT_SIZE {
                self.seal(false)?;
            }
            let take = (SEGMENT_SIZE - self.plain.len()).min(chunk.len());
            self.plain.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
        }
        Ok(())
    }

    fn seal(&mut self, last: bool) -> io::Result<()> {
        self.sealed.clear();
        self.sealer.seal_next(&self.plain, last, &mut self.sealed).map_err(sealing_failed)?;
        self.file.write_all(&self.sealed)?;
        self.plain.clear();
        Ok(())
    }

    /// Seals the final segment and opens the spool for reading from its start.
    pub fn finish(mut self) -> io::Result<SpoolReader> {
        self.seal(true)?;
        let mut header = [0u8; HEADER_LEN];
        self.file.seek(SeekFrom::Start(0))?;
        self.file.read_exact(&mut header)?;
        let opener = Opener::new(&self.key, &SPOOL_OBJECT_ID, &header)
            .map_err(|e| io::Error::other(format!("could not open the spool: {e}")))?;
        Ok(SpoolReader { file: self.file, opener, len: self.len, pos: 0, segment: None, buf: Vec::new() })
    }
}

/// Reads a finished spool, with seeking.
pub struct SpoolReader {
    file: File,
    opener: Opener,
    len: u64,
    pos: u64,
    /// Index of the segment whose plaintext is in `plain`.
    segment: Option<u64>,
    buf: Vec<u8>,
}

impl SpoolReader {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn load(&mut self, index: u64) -> io::Result<()> {
        if self.segment == Some(index) {
            return Ok(());
        }
        self.segment = None;
        let sealed_len = sealed_segment_len(index, self.len);
        let mut sealed = vec![0u8; sealed_len];
        self.file.seek(SeekFrom::Start(segment_offset(index)))?;
        self.file.read_exact(&mut sealed)?;
        let last = index + 1 == segment_count(self.len);
        self.buf.clear();
        self.opener
            .open_segment_into(index, &sealed, last, &mut self.buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("the spool is damaged: {e}")))?;
        self.segment = Some(index);
        Ok(())
    }
}

impl Read for SpoolReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || out.is_empty() {
            return Ok(0);
        }
        let index = self.pos / SEGMENT_SIZE as u64;
        self.load(index)?;
        let within = (self.pos - index * SEGMENT_SIZE as u64) as usize;
        let n = (self.buf.len() - within).min(out.len());
        out[..n].copy_from_slice(&self.buf[within..within + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SpoolReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target =
            target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the spool"))?;
        self.pos = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn spooled(data: &[u8], dir: &Path) -> SpoolReader {
        let mut w = SpoolWriter::create(dir).unwrap();
        for chunk in data.chunks(10_000) {
            w.write(chunk).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn what_is_spooled_reads_back_whole_and_from_any_position() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE + 77] {
            let data = pattern(len);
            let mut r = spooled(&data, dir.path());
            let mut back = Vec::new();
            r.read_to_end(&mut back).unwrap();
            assert_eq!(back, data, "len {len}");
            for start in [0, len / 3, len.saturating_sub(5), len] {
                r.seek(SeekFrom::Start(start as u64)).unwrap();
                let mut tail = Vec::new();
                r.read_to_end(&mut tail).unwrap();
                assert_eq!(tail, &data[start..], "len {len} from {start}");
            }
            if len > 10 {
                r.seek(SeekFrom::End(-10)).unwrap();
                let mut end = Vec::new();
                r.read_to_end(&mut end).unwrap();
                assert_eq!(end, &data[len - 10..]);
            }
        }
    }

    #[test]
    fn the_spool_leaves_no_file_behind_and_holds_no_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let secret = b"Pupil: Ada Lovelace, UPN A123456789012".repeat(4000);
        let mut w = SpoolWriter::create(dir.path()).unwrap();
        w.write(&secret).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "unlinked at creation");
        let mut r = w.finish().unwrap();
        let mut raw = Vec::new();
        r.file.seek(SeekFrom::Start(0)).unwrap();
        r.file.read_to_end(&mut raw).unwrap();
        assert!(!raw.windows(12).any(|w| w == b"Ada Lovelace"), "the bytes on disk are sealed");
    }

    #[test]
    fn a_damaged_spool_fails_to_read_rather_than_returning_wrong_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = spooled(&pattern(2 * SEGMENT_SIZE), dir.path());
        // Flip one bit of the first segment's ciphertext, so the byte always changes.
        let at = SeekFrom::Start(HEADER_LEN as u64 + 5);
        let mut byte = [0u8; 1];
        r.file.seek(at).unwrap();
        r.file.read_exact(&mut byte).unwrap();
        r.file.seek(at).unwrap();
        r.file.write_all(&[byte[0] ^ 0x01]).unwrap();
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
