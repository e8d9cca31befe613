//! Serial port discovery with USB identity.

use serde::Serialize;
use ts_rs::TS;

use super::DeviceError;

/// A serial port as the operator chooses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PortInfo {
    pub path: String,
    /// `usb`, `pci`, `bluetooth`, `unknown`, or `simulated` for a simulator entry.
    pub kind: String,
    pub vid: Option<u16>,
    pub pid: Option<u16>,
    pub serial_number: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
}

impl PortInfo {
    /// A port known only by its path.
    pub fn bare(path: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            kind: kind.into(),
            vid: None,
            pid: None,
            serial_number: None,
            manufacturer: None,
            product: None,
        }
    }
}

/// Lists the serial ports of this machine.
pub fn list_ports() -> Result<Vec<PortInfo>, DeviceError> {
    let ports = serialport::available_ports().map_err(DeviceError::Enumerate)?;
    Ok(ports
        .into_iter()
        .map(|p| match p.port_type {
            serialport::SerialPortType::UsbPort(usb) => PortInfo {
                path: p.port_name,
                kind: "usb".into(),
                vid: Some(usb.vid),
                pid: Some(usb.pid),
                serial_number: usb.serial_number,
                manufacturer: usb.manufacturer,
                product: usb.product,
            },
            serialport::SerialPortType::PciPort => PortInfo::bare(p.port_name, "pci"),
            serialport::SerialPortType::BluetoothPort => PortInfo::bare(p.port_name, "bluetooth"),
            serialport::SerialPortType::Unknown => PortInfo::bare(p.port_name, "unknown"),
        })
        .collect())
}
