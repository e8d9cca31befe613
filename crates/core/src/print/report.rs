//! The batch report of a work order: a printable PDF (summary, charts, one line per unit) and
//! the same data as CSV, for QA to sign and for the MES to read.

use std::io::Write;

use super::pdf::{Document, Sheet};
use crate::journal::batch::BatchSummary;
use crate::journal::stats::ParetoBar;

const A4: (f32, f32) = (210.0, 297.0);
const MARGIN: f32 = 15.0;
const LINE: f32 = 4.6;

/// Who signed the certificates, shown in the summary.
#[derive(Debug, Clone)]
pub struct ReportContext<'a> {
    /// The issuing CA's subject and short fingerprint.
    pub ca: &'a str,
    pub generated_at: &'a str,
}

/// The report as PDF bytes.
pub fn render_pdf(summary: &BatchSummary, ctx: &ReportContext<'_>) -> Vec<u8> {
    let mut doc = Document::default();
    let mut page = Sheet::new(A4.0, A4.1);
    let mut y = A4.1 - MARGIN - 5.0;
    page.text(
        MARGIN,
        y,
        16.0,
        true,
        &format!("Batch report: work order {}", summary.work_order),
    );
    y -= 8.0;
    for line in summary_lines(summary, ctx) {
        page.text(MARGIN, y, 9.0, false, &line);
        y -= LINE;
    }
    y -= 4.0;
    y = pass_rate_chart(&mut page, summary, y);
    y = pareto_chart(
        &mut page,
        "Failures by step",
        &summary.stats.failures_by_step,
        y,
    );
    y = pareto_chart(
        &mut page,
        "Failures by error code",
        &summary.stats.failures_by_code,
        y,
    );

    let header = |page: &mut Sheet, y: f32| {
        page.text(MARGIN, y, 8.0, true, "Device id");
        page.text(MARGIN + 40.0, y, 8.0, true, "Result");
        page.text(MARGIN + 58.0, y, 8.0, true, "Tries");
        page.text(MARGIN + 68.0, y, 8.0, true, "Certificate serial");
        page.text(
            MARGIN + 125.0,
            y,
            8.0,
            true,
            "SHA-256 fingerprint (first 16 bytes)",
        );
    };
    y -= 2.0;
    page.text(
        MARGIN,
        y,
        11.0,
        true,
        &format!("Units ({})", summary.units.len()),
    );
    y -= 6.0;
    header(&mut page, y);
    y -= LINE;
    for unit in &summary.units {
        if y < MARGIN {
            doc.push(page);
            page = Sheet::new(A4.0, A4.1);
            y = A4.1 - MARGIN - 5.0;
            header(&mut page, y);
            y -= LINE;
        }
        page.text(
            MARGIN,
            y,
            7.5,
            false,
            unit.device_id.as_deref().unwrap_or("(unidentified)"),
        );
        page.text(
            MARGIN + 40.0,
            y,
            7.5,
            unit.result != "pass",
            &unit.result.to_uppercase(),
        );
        page.text(MARGIN + 58.0, y, 7.5, false, &unit.attempts.to_string());
        page.text(
            MARGIN + 68.0,
            y,
            7.5,
            false,
            unit.serial.as_deref().unwrap_or("-"),
        );
        let fp = unit
            .sha256
            .as_deref()
            .map_or_else(|| "-".to_owned(), |h| h.chars().take(32).collect());
        page.text(MARGIN + 125.0, y, 7.5, false, &fp);
        y -= LINE;
    }
    doc.push(page);
    doc.to_bytes(&format!("Batch report {}", summary.work_order))
}

fn summary_lines(s: &BatchSummary, ctx: &ReportContext<'_>) -> Vec<String> {
    let t = &s.stats.tally;
    vec![
        format!(
            "Sessions: {}   pass {}   fail {}   interrupted {}   running {}",
            t.total, t.pass, t.fail, t.interrupted, t.running
        ),
        format!(
            "Units: {}   yield {:.1} %   units per hour {:.1}",
            s.units.len(),
            t.yield_ratio() * 100.0,
            s.stats.units_per_hour
        ),
        format!(
            "Time span: {} to {}",
            s.stats.first_started.as_deref().unwrap_or("-"),
            s.stats.last_started.as_deref().unwrap_or("-")
        ),
        format!("Stations: {}", s.stations.join(", ")),
        format!("Operators: {}", s.operators.join(", ")),
        format!("Issuing CA: {}", ctx.ca),
        format!(
            "Journal chain head: entry {} hash {}",
            s.chain_head.seq, s.chain_head.hash
        ),
        format!("Generated: {}", ctx.generated_at),
    ]
}

/// Pass rate per hour as bars, 0-100 %.
fn pass_rate_chart(page: &mut Sheet, s: &BatchSummary, top: f32) -> f32 {
    let height = 30.0;
    let width = page.width() - 2.0 * MARGIN;
    page.text(MARGIN, top, 11.0, true, "Pass rate per hour");
    let base = top - 4.0 - height;
    page.fill(MARGIN, base, width, height, 0.95);
    let points = &s.stats.over_time;
    if !points.is_empty() {
        let bar = (width / points.len() as f32).min(12.0);
        for (i, p) in points.iter().enumerate() {
            let h = height * p.tally.yield_ratio() as f32;
            page.fill(MARGIN + i as f32 * bar + 0.5, base, bar - 1.0, h, 0.35);
        }
        if let (Some(first), Some(last)) = (points.first(), points.last()) {
            page.text(MARGIN, base - 4.0, 7.0, false, &first.at);
            page.text(MARGIN + width - 30.0, base - 4.0, 7.0, false, &last.at);
        }
    }
    base - 10.0
}

/// Horizontal bars, most frequent first, with counts and cumulative share.
fn pareto_chart(page: &mut Sheet, title: &str, bars: &[ParetoBar], top: f32) -> f32 {
    page.text(MARGIN, top, 11.0, true, title);
    let mut y = top - 5.0;
    let Some(max) = bars.iter().map(|b| b.count).max() else {
        page.text(MARGIN, y, 8.0, false, "no failures");
        return y - 7.0;
    };
    for b in bars.iter().take(8) {
        let w = 80.0 * b.count as f32 / max as f32;
        page.text(MARGIN, y, 8.0, false, b.key.as_deref().unwrap_or("(none)"));
        page.fill(MARGIN + 45.0, y - 0.5, w.max(0.5), 3.0, 0.35);
        page.text(
            MARGIN + 130.0,
            y,
            8.0,
            false,
            &format!("{}  ({:.0} % cumulative)", b.count, b.cumulative * 100.0),
        );
        y -= LINE;
    }
    y - 4.0
}

/// One row per unit, the same lines as the PDF's table, with the work order and the chain
/// head on every row so that a row cut out of the file still says where it came from.
pub fn write_csv(summary: &BatchSummary, out: impl Write) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "work_order",
        "device_id",
        "result",
        "attempts",
        "last_started",
        "certificate_serial",
        "certificate_sha256",
        "error_code",
        "chain_head_seq",
        "chain_head_hash",
    ])?;
    let seq = summary.chain_head.seq.to_string();
    for u in &summary.units {
        w.write_record([
            summary.work_order.as_str(),
            u.device_id.as_deref().unwrap_or(""),
            &u.result,
            &u.attempts.to_string(),
            &u.last_started,
            u.serial.as_deref().unwrap_or(""),
            u.sha256.as_deref().unwrap_or(""),
            u.error_code.as_deref().unwrap_or(""),
            &seq,
            &summary.chain_head.hash,
        ])?;
    }
    w.flush()?;
    Ok(())
}
