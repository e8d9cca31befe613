//! Progress on long work (journal verify, export, archive, report, sync): a spinner on stderr
//! naming what runs and for how long, only when stderr is a terminal, so that logs, pipes and
//! the tests' captured output stay exactly what they were.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Work under way; the spinner goes away when this is dropped.
pub struct Working(Option<ProgressBar>);

impl Working {
    pub fn start(what: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        Self(Some(bar))
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}
