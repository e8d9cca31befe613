//! Plug and unplug events, and the station profile's mapping from USB VID:PID to models.
//!
//! The watcher polls the port list on a thread of its own: sysfs has no portable change
//! notification that `serialport` exposes, and a poll every few hundred milliseconds is far
//! below what a technician notices.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::discovery::{list_ports, PortInfo};
use super::DeviceError;

/// A USB identity filter: a vendor, and a product or any product (`*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UsbId {
    pub vid: u16,
    pub pid: Option<u16>,
}

/// A `usb` filter that is not `VID:PID` in hex.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("'{0}' is not a USB filter: write VID:PID in hex, like 1915:520f or 1915:*")]
pub struct BadUsbId(pub String);

impl TryFrom<String> for UsbId {
    type Error = BadUsbId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let bad = || BadUsbId(s.clone());
        let (vid, pid) = s.split_once(':').ok_or_else(bad)?;
        let hex = |h: &str| {
            (h.len() <= 4)
                .then(|| u16::from_str_radix(h, 16).ok())
                .flatten()
        };
        Ok(Self {
            vid: hex(vid.trim()).ok_or_else(bad)?,
            pid: match pid.trim() {
                "*" => None,
                p => Some(hex(p).ok_or_else(bad)?),
            },
        })
    }
}

impl From<UsbId> for String {
    fn from(id: UsbId) -> Self {
        match id.pid {
            Some(pid) => format!("{:04x}:{pid:04x}", id.vid),
            None => format!("{:04x}:*", id.vid),
        }
    }
}

/// One entry of the station profile's `[[models]]`: units behind this USB identity are this
/// model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFilter {
    pub usb: UsbId,
    pub model: String,
    /// The device family these units speak (see `device::family`); the reference family when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

/// The profile entry for a port; an exact VID:PID wins over a vendor wildcard.
fn filter_for<'a>(filters: &'a [ModelFilter], port: &PortInfo) -> Option<&'a ModelFilter> {
    let (vid, pid) = (port.vid?, port.pid?);
    let exact = filters
        .iter()
        .find(|f| f.usb.vid == vid && f.usb.pid == Some(pid));
    exact.or_else(|| {
        filters
            .iter()
            .find(|f| f.usb.vid == vid && f.usb.pid.is_none())
    })
}

/// The family the station profile names for a port, if any.
pub fn family_for<'a>(filters: &'a [ModelFilter], port: &PortInfo) -> Option<&'a str> {
    filter_for(filters, port).and_then(|f| f.family.as_deref())
}

/// The model the station profile gives a port; an exact VID:PID wins over a vendor wildcard.
pub fn model_for<'a>(filters: &'a [ModelFilter], port: &PortInfo) -> Option<&'a str> {
    filter_for(filters, port).map(|f| f.model.as_str())
}

/// A change in the set of serial ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum PortEvent {
    /// A port appeared; `model` is what the station profile maps its VID:PID to.
    Plugged {
        port: PortInfo,
        model: Option<String>,
    },
    Unplugged {
        path: String,
    },
}

/// The events that turn port list `before` into `after`. A path whose USB identity changed
/// between two polls (another unit on the same node) is an unplug followed by a plug.
pub fn diff(before: &[PortInfo], after: &[PortInfo], filters: &[ModelFilter]) -> Vec<PortEvent> {
    let mut events = Vec::new();
    for old in before {
        if !after.iter().any(|p| p == old) {
            events.push(PortEvent::Unplugged {
                path: old.path.clone(),
            });
        }
    }
    for new in after {
        if !before.iter().any(|p| p == new) {
            events.push(PortEvent::Plugged {
                port: new.clone(),
                model: model_for(filters, new).map(str::to_owned),
            });
        }
    }
    events
}

/// Watches the port list until dropped; every port present at the start is reported as
/// plugged first, so the listener needs no separate initial scan.
#[derive(Debug)]
pub struct PortWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PortWatcher {
    /// Watches this machine's serial ports.
    pub fn system(
        interval: Duration,
        filters: Vec<ModelFilter>,
        on_event: impl FnMut(PortEvent) + Send + 'static,
    ) -> std::io::Result<Self> {
        Self::spawn(interval, filters, list_ports, on_event)
    }

    /// Watches whatever `list` reports (a fake in tests). A failed listing skips a round
    /// rather than reporting every port unplugged.
    pub fn spawn(
        interval: Duration,
        filters: Vec<ModelFilter>,
        mut list: impl FnMut() -> Result<Vec<PortInfo>, DeviceError> + Send + 'static,
        mut on_event: impl FnMut(PortEvent) + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("port-watcher".into())
            .spawn(move || {
                let mut known: Vec<PortInfo> = Vec::new();
                while !flag.load(Ordering::Relaxed) {
                    match list() {
                        Ok(now) => {
                            diff(&known, &now, &filters)
                                .into_iter()
                                .for_each(&mut on_event);
                            known = now;
                        }
                        Err(e) => tracing::warn!("cannot list serial ports: {e}"),
                    }
                    // Sleep in slices so that dropping the watcher returns promptly.
                    let mut left = interval;
                    while !left.is_zero() && !flag.load(Ordering::Relaxed) {
                        let nap = left.min(Duration::from_millis(20));
                        std::thread::sleep(nap);
                        left -= nap;
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for PortWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::sync::Mutex;

    use super::*;

    fn usb(path: &str, vid: u16, pid: u16, serial: &str) -> PortInfo {
        PortInfo {
            vid: Some(vid),
            pid: Some(pid),
            serial_number: Some(serial.into()),
            ..PortInfo::bare(path, "usb")
        }
    }

    fn filters() -> Vec<ModelFilter> {
        toml::from_str::<std::collections::BTreeMap<String, Vec<ModelFilter>>>(
            r#"
            [[models]]
            usb = "1915:520F"
            model = "CM-SENSOR-1"
            family = "nrf91-at"
            [[models]]
            usb = "1915:*"
            model = "nordic-other"
            "#,
        )
        .expect("filters parse")
        .remove("models")
        .unwrap_or_default()
    }

    #[test]
    fn filters_parse_and_the_exact_one_wins() {
        let f = filters();
        assert_eq!(String::from(f[0].usb), "1915:520f");
        assert_eq!(
            model_for(&f, &usb("/dev/a", 0x1915, 0x520f, "1")),
            Some("CM-SENSOR-1")
        );
        assert_eq!(
            model_for(&f, &usb("/dev/a", 0x1915, 0x0001, "1")),
            Some("nordic-other")
        );
        assert_eq!(model_for(&f, &usb("/dev/a", 0x0403, 0x6001, "1")), None);
        // The family comes with the entry that named the model; none where the entry has none.
        assert_eq!(
            family_for(&f, &usb("/dev/a", 0x1915, 0x520f, "1")),
            Some("nrf91-at")
        );
        assert_eq!(family_for(&f, &usb("/dev/a", 0x1915, 0x0001, "1")), None);
        assert_eq!(model_for(&f, &PortInfo::bare("/dev/ttyS0", "pci")), None);
        for bad in ["1915", "1915:xyz", "12345:1", ""] {
            assert!(UsbId::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn watcher_reports_plugs_and_unplugs() {
        let a = usb("/dev/ttyACM0", 0x1915, 0x520f, "A");
        let b = usb("/dev/ttyACM1", 0x0403, 0x6001, "B");
        let a2 = usb("/dev/ttyACM0", 0x1915, 0x520f, "A2");
        let rounds = Mutex::new(
            vec![
                Ok(vec![a.clone()]),
                Err(DeviceError::Protocol {
                    op: "list",
                    reason: "sysfs busy".into(),
                }),
                Ok(vec![a.clone(), b.clone()]),
                Ok(vec![b.clone()]),
                Ok(vec![a2.clone(), b.clone()]),
            ]
            .into_iter(),
        );
        let (tx, rx) = mpsc::channel();
        let (last_a, last_b) = (a2.clone(), b.clone());
        let watcher = PortWatcher::spawn(
            Duration::from_millis(1),
            filters(),
            move || {
                let mut r = rounds.lock().unwrap_or_else(|p| p.into_inner());
                r.next()
                    .unwrap_or_else(|| Ok(vec![last_a.clone(), last_b.clone()]))
            },
            move |e| {
                let _ = tx.send(e);
            },
        )
        .expect("watcher");
        let events: Vec<PortEvent> = rx.iter().take(4).collect();
        drop(watcher);
        let plugged = |p: &PortInfo, m: Option<&str>| PortEvent::Plugged {
            port: p.clone(),
            model: m.map(str::to_owned),
        };
        assert_eq!(
            events,
            [
                plugged(&a, Some("CM-SENSOR-1")),
                plugged(&b, None),
                PortEvent::Unplugged {
                    path: "/dev/ttyACM0".into()
                },
                plugged(
                    &usb("/dev/ttyACM0", 0x1915, 0x520f, "A2"),
                    Some("CM-SENSOR-1")
                ),
            ]
        );
    }
}
