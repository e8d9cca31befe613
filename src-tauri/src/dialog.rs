//! Where the operator picks files: the native dialog, or (for the end-to-end tests, where
//! WebDriver cannot reach a native window) a fixed directory named by `COMMISSIONER_DIALOG_DIR`.

#[cfg(feature = "test-seams")]
use std::path::Path;
use std::path::PathBuf;

use tauri::{AppHandle, Runtime};
use tauri_plugin_dialog::DialogExt;

/// Chooses a file to write or to read; `None` when the operator cancels.
pub trait FileChooser: Send + Sync {
    fn save(&self, suggested: &str, filter: (&str, &[&str])) -> Option<PathBuf>;
    fn open(&self, filter: (&str, &[&str])) -> Option<PathBuf>;
}

/// The native dialog. Its blocking calls are made from blocking threads, never the UI's.
pub struct NativeDialog<R: Runtime>(pub AppHandle<R>);

impl<R: Runtime> FileChooser for NativeDialog<R> {
    fn save(&self, suggested: &str, (name, ext): (&str, &[&str])) -> Option<PathBuf> {
        let picked = self
            .0
            .dialog()
            .file()
            .set_file_name(suggested)
            .add_filter(name, ext)
            .blocking_save_file()?;
        picked.into_path().ok()
    }

    fn open(&self, (name, ext): (&str, &[&str])) -> Option<PathBuf> {
        let picked = self
            .0
            .dialog()
            .file()
            .add_filter(name, ext)
            .blocking_pick_file()?;
        picked.into_path().ok()
    }
}

/// Answers without a window: saves to `dir/<suggested>`, opens the newest matching file.
/// Only in builds with the `test-seams` feature; `make package` leaves it out.
#[cfg(feature = "test-seams")]
pub struct FixedDir(pub PathBuf);

#[cfg(feature = "test-seams")]
impl FileChooser for FixedDir {
    fn save(&self, suggested: &str, _: (&str, &[&str])) -> Option<PathBuf> {
        Some(self.0.join(suggested))
    }

    fn open(&self, (_, ext): (&str, &[&str])) -> Option<PathBuf> {
        newest(&self.0, ext)
    }
}

#[cfg(feature = "test-seams")]
fn newest(dir: &Path, ext: &[&str]) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            e.path()
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| ext.contains(&x))
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}

#[cfg(all(test, feature = "test-seams"))]
mod tests {
    use super::*;

    #[test]
    fn fixed_dir_saves_under_the_suggested_name_and_opens_the_newest_match() {
        let dir = tempfile::tempdir().expect("temp dir");
        let chooser = FixedDir(dir.path().to_owned());
        let out = chooser.save("journal.csv", ("CSV", &["csv"]));
        assert_eq!(out, Some(dir.path().join("journal.csv")));
        std::fs::write(dir.path().join("a.csv"), "a").expect("write");
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.path().join("b.csv"), "b").expect("write");
        std::fs::write(dir.path().join("b.csv.manifest.json"), "{}").expect("write");
        assert_eq!(
            chooser.open(("CSV", &["csv"])),
            Some(dir.path().join("b.csv"))
        );
        assert_eq!(chooser.open(("PEM", &["pem"])), None);
    }
}
