//! Unit labels: the device id, the certificate's short fingerprint and a QR code that encodes
//! both, as ZPL for a Zebra-compatible printer (sent over raw TCP, port 9100) or as PDF.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use qrcode::{Color, EcLevel, QrCode};
use serde::{Deserialize, Serialize};

use super::pdf::{Document, Sheet};
use super::PrintError;

/// `[label]` in station.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelProfile {
    /// `host:port` of a ZPL printer (raw TCP, usually port 9100); none: PDF only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printer: Option<String>,
    /// Print a label for every unit that passes, without a click.
    #[serde(default)]
    pub auto: bool,
    /// Where PDF labels are written (relative to the station directory); none: no PDF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf_dir: Option<std::path::PathBuf>,
    /// ZPL with `{device_id}`, `{fingerprint}` and `{qr}` (the QR payload) placeholders;
    /// none: [`DEFAULT_ZPL`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zpl_template: Option<String>,
    /// PDF label size in millimetres.
    #[serde(default = "default_size")]
    pub size_mm: (f32, f32),
}

fn default_size() -> (f32, f32) {
    (62.0, 29.0)
}

/// A 2x1 inch label at 203 dpi: id and fingerprint on the left, the QR code on the right.
/// `^BQN,2,4`: QR model 2, magnification 4; `QA,` in the field data: error correction Q,
/// automatic input mode.
pub const DEFAULT_ZPL: &str = "^XA^CI28\n^FO20,25^A0N,34,34^FD{device_id}^FS\n^FO20,75^A0N,24,24^FDcert {fingerprint}^FS\n^FO270,5^BQN,2,4^FDQA,{qr}^FS\n^XZ\n";

/// What goes on one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelData {
    pub device_id: String,
    /// The certificate's SHA-256, hex.
    pub sha256: String,
}

impl LabelData {
    /// The short fingerprint printed for people: the first 8 bytes, colon-separated pairs.
    pub fn short_fingerprint(&self) -> String {
        let hex: Vec<char> = self.sha256.chars().take(16).collect();
        hex.chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(":")
    }

    /// What the QR code encodes: a scanner reads the unit and the certificate to look up.
    pub fn qr_payload(&self) -> String {
        format!(
            "CMSN1;id={};sha256={}",
            self.device_id,
            self.sha256.chars().take(32).collect::<String>()
        )
    }
}

/// Text that must not reach ZPL as a command: `^` and `~` start commands.
fn zpl_safe(s: &str) -> Result<&str, PrintError> {
    if s.contains(['^', '~']) || s.chars().any(char::is_control) {
        return Err(PrintError::Template(format!(
            "'{s}' holds a ZPL command character and cannot be printed"
        )));
    }
    Ok(s)
}

/// The label as ZPL from `template` (or [`DEFAULT_ZPL`]).
pub fn zpl(data: &LabelData, template: Option<&str>) -> Result<String, PrintError> {
    let template = template.unwrap_or(DEFAULT_ZPL);
    if !template.contains("{qr}") {
        return Err(PrintError::Template(
            "the ZPL template has no {qr} placeholder".into(),
        ));
    }
    Ok(template
        .replace("{device_id}", zpl_safe(&data.device_id)?)
        .replace("{fingerprint}", &data.short_fingerprint())
        .replace("{qr}", zpl_safe(&data.qr_payload())?))
}

/// Sends ZPL to a printer over raw TCP and waits until the bytes are handed over.
pub fn send_zpl(addr: &str, zpl: &str) -> Result<(), PrintError> {
    let err = |source| PrintError::Printer {
        addr: addr.to_owned(),
        source,
    };
    let target = addr
        .to_socket_addrs()
        .map_err(err)?
        .next()
        .ok_or_else(|| err(std::io::Error::other("the address resolves to nothing")))?;
    let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(5)).map_err(err)?;
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(err)?;
    stream.write_all(zpl.as_bytes()).map_err(err)?;
    stream.flush().map_err(err)?;
    stream.shutdown(std::net::Shutdown::Write).map_err(err)
}

/// The label as a one-page PDF of `size_mm`.
pub fn pdf(data: &LabelData, size_mm: (f32, f32)) -> Result<Vec<u8>, PrintError> {
    let (w, h) = size_mm;
    let code = QrCode::with_error_correction_level(data.qr_payload().as_bytes(), EcLevel::Q)
        .map_err(|e| PrintError::Template(format!("cannot encode the QR code: {e}")))?;
    let mut sheet = Sheet::new(w, h);
    let side = h - 4.0;
    let modules = code.width();
    let cell = side / modules as f32;
    let (qx, qy) = (w - side - 2.0, 2.0);
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == Color::Dark {
            let (col, row) = (i % modules, i / modules);
            // QR rows run top-down, PDF y bottom-up.
            let y = qy + side - (row + 1) as f32 * cell;
            sheet.fill(qx + col as f32 * cell, y, cell, cell, 0.0);
        }
    }
    sheet.text(2.0, h - 8.0, 9.0, true, &data.device_id);
    sheet.text(2.0, h - 14.0, 6.5, false, "certificate SHA-256");
    sheet.text(2.0, h - 18.0, 6.5, false, &data.short_fingerprint());
    let mut doc = Document::default();
    doc.push(sheet);
    Ok(doc.to_bytes(&format!("Label {}", data.device_id)))
}
