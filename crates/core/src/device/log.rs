//! The device log kept per step, bounded. A unit controls every byte it sends, and everything
//! it prints between frames is kept in the journal; a babbling or hostile unit must not fill
//! the station's disk or the QA screens. What is cut is counted, never silently lost.

/// Most lines kept per step.
pub const MAX_LINES: usize = 200;
/// Most bytes kept per step, over all its lines.
pub const MAX_BYTES: usize = 32 * 1024;
/// Longest single line kept; the rest of the line is cut and counted.
pub const MAX_LINE_BYTES: usize = 1024;

/// Device log lines of the current step, within [`MAX_LINES`] and [`MAX_BYTES`].
#[derive(Debug, Default)]
pub struct DeviceLog {
    lines: Vec<String>,
    bytes: usize,
    dropped_lines: usize,
    dropped_bytes: usize,
}

impl DeviceLog {
    pub fn push(&mut self, line: impl Into<String>) {
        let mut line = line.into();
        if self.lines.len() >= MAX_LINES || self.bytes >= MAX_BYTES {
            self.dropped_lines += 1;
            self.dropped_bytes += line.len();
            return;
        }
        let room = MAX_LINE_BYTES.min(MAX_BYTES - self.bytes);
        if line.len() > room {
            let cut = floor_char_boundary(&line, room);
            self.dropped_bytes += line.len() - cut;
            line.truncate(cut);
            line.push_str(" [cut]");
        }
        self.bytes += line.len();
        self.lines.push(line);
    }

    /// The step's lines, with a closing line that says what was not kept; starts a new step.
    pub fn take(&mut self) -> Vec<String> {
        let mut lines = std::mem::take(&mut self.lines);
        if self.dropped_lines > 0 || self.dropped_bytes > 0 {
            lines.push(format!(
                "[station] device log limit reached: {} more line(s) and {} byte(s) from the unit not kept",
                self.dropped_lines, self.dropped_bytes
            ));
        }
        *self = Self::default();
        lines
    }
}

/// `str::floor_char_boundary` is not stable: the largest index <= `at` on a char boundary.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut i = at.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_cut_and_counted() {
        let mut log = DeviceLog::default();
        // 1 MiB in 16 KiB lines, as a unit flooding the line would send it.
        for _ in 0..64 {
            log.push("x".repeat(16 * 1024));
        }
        let lines = log.take();
        let kept: usize = lines.iter().map(String::len).sum();
        assert!(kept <= MAX_BYTES + 200, "{kept}");
        let last = lines.last().expect("summary");
        assert!(last.contains("line(s)"), "{last}");
        // Every byte the unit sent is accounted for: kept (without the markers) or counted.
        assert!(last.contains(&format!("{} more line(s)", 64 - (lines.len() - 1))));
        assert!(log.take().is_empty(), "a new step starts empty");
    }

    #[test]
    fn many_short_lines_stop_at_the_line_limit_and_cuts_respect_utf8() {
        let mut log = DeviceLog::default();
        for i in 0..MAX_LINES + 5 {
            log.push(format!("line {i}"));
        }
        let lines = log.take();
        assert_eq!(lines.len(), MAX_LINES + 1);
        assert!(lines[MAX_LINES].contains("5 more line(s)"));
        let mut log = DeviceLog::default();
        log.push("é".repeat(MAX_LINE_BYTES));
        assert!(log.take()[0].ends_with(" [cut]"));
    }
}
