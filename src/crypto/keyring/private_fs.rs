//! Private files done carefully: 0600 files, 0700 directories, permission checks, and atomic
//! replacement that survives a crash at any point.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use anyhow::{bail, Context};
use rand::rngs::OsRng;
use rand::RngCore;

/// Writes `contents` to `path` so that readers see the old file or the new one, never a mix,
/// even across a crash: temp file (0600) + fsync + rename/link + fsync of the directory.
///
/// With `replace == false` an existing file is left alone and `Ok(false)` is returned.
pub(super) fn write_atomic(path: &Path, contents: &[u8], replace: bool) -> anyhow::Result<bool> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut suffix = [0u8; 8];
    OsRng.fill_bytes(&mut suffix);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // Hidden, unique, and in the same directory so the final rename stays on one filesystem.
    let tmp = dir.join(format!(".{name}.tmp-{}", hex::encode(suffix)));
    let result = write_then_install(&tmp, path, contents, replace);
    // After a rename the temp name is gone; after a link or a failure it must not linger.
    let _ = fs::remove_file(&tmp);
    let installed = result?;
    if installed {
        sync_dir(dir).with_context(|| format!("cannot fsync directory {}", dir.display()))?;
    }
    Ok(installed)
}

fn write_then_install(tmp: &Path, path: &Path, contents: &[u8], replace: bool) -> anyhow::Result<bool> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(file);
    if replace {
        fs::rename(tmp, path).with_context(|| format!("cannot move {} into place", tmp.display()))?;
        return Ok(true);
    }
    // A hard link fails if the target exists, which a rename would silently overwrite.
    match fs::hard_link(tmp, path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        // Some filesystems have no hard links; fall back to the (tiny) race of check + rename.
        Err(_) if !path.exists() => {
            fs::rename(tmp, path).with_context(|| format!("cannot move {} into place", tmp.display()))?;
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}

#[cfg(unix)]
pub(super) fn check_private(path: &Path, metadata: &fs::Metadata) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "keyring file {} is accessible by group/others (mode {mode:03o}); it holds the keys \
             to every stored object. Run `chmod 600 {}` (and check who may have copied it)",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn check_private(_path: &Path, _metadata: &fs::Metadata) -> anyhow::Result<()> {
    Ok(())
}

pub(super) fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("cannot create data directory {}", dir.display()))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creating_never_replaces_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        assert!(write_atomic(&path, b"first", false).unwrap());
        assert!(!write_atomic(&path, b"second", false).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert!(write_atomic(&path, b"third", true).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"third");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp files left");
    }
}
