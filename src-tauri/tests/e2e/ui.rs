//! The few things the e2e test does to the window, each waiting the way a person would:
//! until the element is there, or the text says what it should.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};

use crate::TestResult;

/// Longest wait for anything: a commissioning run or the audit on a busy 2-core machine.
const PATIENCE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(150);

pub struct Ui<'c> {
    c: &'c Client,
    /// Whether [`Ui::shot`] writes the README's screenshots; one journey owns them.
    shots: bool,
}

impl<'c> Ui<'c> {
    pub fn new(c: &'c Client) -> Self {
        Self { c, shots: true }
    }

    /// A window whose screens are not saved.
    pub fn without_screenshots(c: &'c Client) -> Self {
        Self { c, shots: false }
    }

    pub async fn wait(&self, css: &str) -> TestResult<Element> {
        Ok(self
            .c
            .wait()
            .at_most(PATIENCE)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
            .map_err(|e| format!("waiting for {css}: {e}"))?)
    }

    pub async fn wait_gone(&self, css: &str) -> TestResult {
        let deadline = Instant::now() + PATIENCE;
        while self.c.find(Locator::Css(css)).await.is_ok() {
            if Instant::now() > deadline {
                return Err(format!("{css} still shown after {PATIENCE:?}").into());
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }

    pub async fn click(&self, css: &str) -> TestResult {
        let el = self.wait(css).await?;
        // Disabled while the app is busy: wait until it takes the click.
        let deadline = Instant::now() + PATIENCE;
        while !el.is_enabled().await? {
            if Instant::now() > deadline {
                return Err(format!("{css} stayed disabled").into());
            }
            tokio::time::sleep(POLL).await;
        }
        el.click()
            .await
            .map_err(|e| format!("clicking {css}: {e}"))?;
        Ok(())
    }

    pub async fn fill(&self, css: &str, text: &str) -> TestResult {
        let el = self.wait(css).await?;
        el.clear().await?;
        el.send_keys(text).await?;
        Ok(())
    }

    pub async fn select(&self, css: &str, value: &str) -> TestResult {
        let el = self.wait(css).await?;
        // Options may arrive after the select itself (they come from the backend).
        self.wait(&format!("{css} option[value='{value}']")).await?;
        el.select_by_value(value)
            .await
            .map_err(|e| format!("selecting {value} in {css}: {e}"))?;
        Ok(())
    }

    /// Scrolls the element into view (for a screenshot of what lies below the fold).
    pub async fn scroll_to(&self, css: &str) -> TestResult {
        let el = self.wait(css).await?;
        self.c
            .execute(
                "arguments[0].scrollIntoView({block: 'start'});",
                vec![serde_json::to_value(el)?],
            )
            .await?;
        Ok(())
    }

    pub async fn text(&self, css: &str) -> TestResult<String> {
        Ok(self.wait(css).await?.text().await?)
    }

    pub async fn attr(&self, css: &str, name: &str) -> TestResult<Option<String>> {
        Ok(self.wait(css).await?.attr(name).await?)
    }

    pub async fn attrs(&self, css: &str, name: &str) -> TestResult<Vec<String>> {
        let mut out = Vec::new();
        for el in self.c.find_all(Locator::Css(css)).await? {
            if let Some(v) = el.attr(name).await? {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Waits until `css` matches an element whose `name` attribute is not in `before`.
    pub async fn wait_for_new(
        &self,
        css: &str,
        name: &str,
        before: &[String],
    ) -> TestResult<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(new) = self
                .attrs(css, name)
                .await?
                .into_iter()
                .find(|v| !before.contains(v))
            {
                return Ok(new);
            }
            if Instant::now() > deadline {
                return Err(format!("no new {css} within {PATIENCE:?}").into());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn wait_text(&self, css: &str, ok: impl Fn(&str) -> bool) -> TestResult<String> {
        let deadline = Instant::now() + PATIENCE;
        let mut last = String::new();
        loop {
            if let Ok(el) = self.c.find(Locator::Css(css)).await {
                last = el.text().await.unwrap_or_default();
                if ok(&last) {
                    return Ok(last);
                }
            }
            if Instant::now() > deadline {
                return Err(format!("{css} never read as expected; last: {last:?}").into());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The `data-result` of the `.result` inside `container`, once the run has ended.
    pub async fn wait_result(&self, container: &str) -> TestResult<String> {
        let el = self
            .wait(&format!("{container} .result[data-result]"))
            .await?;
        Ok(el.attr("data-result").await?.unwrap_or_default())
    }

    /// Saves the window as `docs/screenshots/<name>.png` once WebKit has painted.
    pub async fn shot(&self, name: &str) -> TestResult {
        if !self.shots {
            return Ok(());
        }
        self.c
            .execute_async(
                "const done = arguments[arguments.length - 1];\n\
                 requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 250)));",
                vec![],
            )
            .await?;
        let path = screenshots().join(format!("{name}.png"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, self.c.screenshot().await?)?;
        eprintln!("screenshot: {}", path.display());
        Ok(())
    }
}

/// `docs/screenshots/` at the workspace root.
impl Ui<'_> {
    /// Saves page 1 of a PDF the app wrote (a report, a label) as a screenshot, with
    /// poppler's `pdftoppm`, for the README.
    pub fn pdf_shot(&self, pdf: &Path, name: &str) -> TestResult {
        if !self.shots {
            return Ok(());
        }
        let out = screenshots().join(name);
        let status = std::process::Command::new("pdftoppm")
            .args(["-png", "-r", "80", "-singlefile", "-f", "1", "-l", "1"])
            .arg(pdf)
            .arg(&out)
            .status()?;
        if !status.success() {
            return Err(format!("pdftoppm failed on {}", pdf.display()).into());
        }
        Ok(())
    }
}

/// The text of a PDF, by poppler's `pdftotext`.
pub fn pdf_text(pdf: &Path) -> TestResult<String> {
    let out = std::process::Command::new("pdftotext")
        .arg(pdf)
        .arg("-")
        .output()?;
    if !out.status.success() {
        return Err(format!("pdftotext failed on {}", pdf.display()).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn screenshots() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .unwrap_or(manifest_dir)
        .join("docs")
        .join("screenshots")
}
