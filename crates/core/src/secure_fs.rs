//! Station files only the station's OS user can read, written without following links.
//!
//! Another local account on the same machine must not read the journal (operators' PIN hashes,
//! tokens), lab keys or the station profile, nor trick the station into writing through a
//! symbolic link it planted (`journal.sqlite -> /home/victim/.bashrc`). So: directories 0700,
//! files 0600, every write to a fresh file (`O_EXCL`, which also refuses a link at that name)
//! renamed into place, which replaces a link instead of following it.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Directories of the station: owner only.
pub const DIR_MODE: u32 = 0o700;
/// Files of the station: owner only.
pub const FILE_MODE: u32 = 0o600;

/// From here on, every file and directory this process creates (SQLite's WAL and shared
/// memory, logs, anything a library writes) is its user's only. Called first thing by the
/// CLI and the app.
pub fn restrict_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Creates `dir` and its missing parents as 0700, and makes `dir` itself 0700 if it existed
/// with looser rights.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    tighten(dir, DIR_MODE)
}

/// Sets `path`'s mode to `mode` when it has any bit beyond it; a missing path is left alone.
/// Links are not followed: a link where a station file should be is refused.
pub fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        return Err(io::Error::other(format!(
            "{} is a symbolic link; a station file must be a plain file",
            path.display()
        )));
    }
    if meta.permissions().mode() & 0o777 & !mode != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Creates an empty file readable by its owner only; fails if anything (a link included)
/// already has that name.
pub fn create_new(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Writes `bytes` to `path` as a 0600 file, atomically: to a fresh temporary file beside it,
/// synced, then renamed over `path`. A crash leaves the old file or the new one, never half.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_beside(path);
    // A leftover from a crash (or a planted link): gone, not followed.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let result = (|| {
        let mut f = create_new(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn temp_beside(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).expect("meta").permissions().mode() & 0o777
    }

    #[test]
    fn files_and_dirs_are_owner_only_and_links_are_not_followed() {
        let dir = tempfile::tempdir().expect("dir");
        let station = dir.path().join("a/b");
        create_dir(&station).expect("dir");
        assert_eq!(mode(&station), 0o700);

        let file = station.join("station.toml");
        write(&file, b"one").expect("write");
        assert_eq!(mode(&file), 0o600);

        // Another account plants a link where the station writes: the write replaces the
        // link, and the link's target is untouched.
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").expect("victim");
        let linked = station.join("lab.key");
        std::os::unix::fs::symlink(&victim, &linked).expect("link");
        write(&linked, b"key").expect("write");
        assert_eq!(fs::read_to_string(&victim).expect("read"), "precious");
        assert!(!fs::symlink_metadata(&linked)
            .expect("meta")
            .file_type()
            .is_symlink());

        // A link at the temporary name is removed, not followed.
        std::os::unix::fs::symlink(&victim, temp_beside(&file)).expect("link");
        write(&file, b"two").expect("write");
        assert_eq!(fs::read_to_string(&victim).expect("read"), "precious");

        // Loose rights are tightened; a link is refused.
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("chmod");
        tighten(&file, FILE_MODE).expect("tighten");
        assert_eq!(mode(&file), 0o600);
        std::os::unix::fs::symlink(&victim, station.join("journal.sqlite")).expect("link");
        assert!(tighten(&station.join("journal.sqlite"), FILE_MODE).is_err());
        assert!(create_new(&station.join("journal.sqlite")).is_err());
    }
}
