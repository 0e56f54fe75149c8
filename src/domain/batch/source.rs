//! The spooled archive, watched for failures of the storage under it.
//!
//! The zip crate turns every error into "this entry is bad", but a disk that fails while the
//! server reads its own temporary file says nothing about the sender's archive. Putting the
//! sender's files in quarantine as "damaged" would blame them for the server's fault, so the
//! reader remembers its first failure and the batch stops with [`super::BatchError::Io`].

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, OnceLock};

/// The first failure of the underlying reader: its kind and message (an `io::Error` cannot be
/// cloned, and the zip crate keeps the original).
pub(super) type SourceFailure = Arc<OnceLock<(io::ErrorKind, String)>>;

/// A reader that records its first error in a [`SourceFailure`] shared with the batch reader.
/// `Arc` (not `Rc`) keeps the batch reader `Send`, so callers can run it on a blocking thread.
pub(super) struct Watched<R> {
    inner: R,
    failure: SourceFailure,
}

impl<R> Watched<R> {
    pub(super) fn new(inner: R) -> (Self, SourceFailure) {
        let failure = SourceFailure::default();
        (Self { inner, failure: Arc::clone(&failure) }, failure)
    }

    fn note<T>(&self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            // `Interrupted` is retried by every caller; `InvalidInput` means a seek before the start,
            // an argument worked out from the archive's own (possibly hostile) offsets.
            if !matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::InvalidInput) {
                // Only the first failure is kept: later ones are usually its consequences.
                let _ = self.failure.set((e.kind(), e.to_string()));
            }
        }
        result
    }
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = self.inner.read(buf);
        self.note(result)
    }
}

impl<R: Seek> Seek for Watched<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let result = self.inner.seek(pos);
        self.note(result)
    }
}

/// The recorded failure as an error for the caller, if the storage failed.
pub(super) fn failed(failure: &SourceFailure) -> Option<io::Error> {
    failure.get().map(|(kind, message)| io::Error::new(*kind, message.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }

    #[test]
    fn the_first_failure_is_remembered_and_success_is_not() {
        let (mut ok, failure) = Watched::new(io::Cursor::new(vec![1, 2, 3]));
        let mut buf = [0; 8];
        assert_eq!(ok.read(&mut buf).ok(), Some(3));
        assert!(failed(&failure).is_none());

        let (mut broken, failure) = Watched::new(Broken);
        assert!(broken.read(&mut buf).is_err());
        assert_eq!(failed(&failure).map(|e| e.to_string()).as_deref(), Some("disk on fire"));
    }
}
