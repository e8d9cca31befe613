//! The nRF91 AT family's driver: Nordic's modem AT commands (`+CGSN`, `%DEVICEUUID`, `+CGMR`,
//! `+CFUN`, `%KEYGEN`, `%CMNG`, `%ATTESTTOKEN`) over a raw AT UART or Zephyr's AT shell.

pub mod at;
pub mod error;
pub mod keygen;
#[cfg(test)]
mod tests;
pub mod unit;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use at::{AtLink, AtMode, AtReply};
pub use error::Nrf91Error;
pub use keygen::KeygenReply;

use crate::device::Interrupt;

/// `%CMNG` credential types the station writes.
pub const ROOT_CA_CERT: u8 = 0;
pub const CLIENT_CERT: u8 = 1;

/// The first modem firmware with `%KEYGEN` (mfw 1.3.0).
pub const MIN_KEYGEN_FIRMWARE: (u32, u32, u32) = (1, 3, 0);

/// How long ordinary commands may take, and key generation (seconds on a real modem).
#[derive(Debug, Clone, Copy)]
pub struct AtTimeouts {
    pub command: Duration,
    pub keygen: Duration,
}

impl Default for AtTimeouts {
    fn default() -> Self {
        Self {
            command: Duration::from_secs(3),
            keygen: Duration::from_secs(30),
        }
    }
}

/// Who the modem says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModemIdentity {
    pub imei: String,
    /// From `%DEVICEUUID`, where the firmware has it.
    pub device_uuid: Option<String>,
    /// The `+CGMR` string, e.g. `mfw_nrf9160_1.3.5`.
    pub firmware: String,
}

pub struct Nrf91<P> {
    link: AtLink<P>,
    timeouts: AtTimeouts,
    /// The functional mode found before credential work, restored after it.
    restore_cfun: Option<u8>,
}

impl<P: Read + Write> Nrf91<P> {
    /// Finds out whether the port is a raw AT UART or a Zephyr shell, and turns on numeric
    /// `+CME ERROR` codes.
    pub fn connect(port: P, timeouts: AtTimeouts) -> Result<Self, Nrf91Error> {
        let mut link = AtLink::new(port, AtMode::Shell);
        let probe = timeouts.command.min(Duration::from_secs(1));
        let mut found = None;
        // The shell form first: a raw modem refuses it at once with ERROR, while a shell given
        // the raw form only prints "command not found" and leaves us waiting.
        'probe: for mode in [AtMode::Shell, AtMode::Raw] {
            link.mode = mode;
            for _ in 0..2 {
                if let Ok(reply) = link.command("AT+CGSN", probe) {
                    if reply.lines.iter().any(|l| imei_in(l).is_some()) {
                        found = Some(mode);
                        break 'probe;
                    }
                }
            }
        }
        link.mode = found.ok_or(Nrf91Error::NoAtClient)?;
        let mut modem = Self {
            link,
            timeouts,
            restore_cfun: None,
        };
        modem.cmd("AT+CMEE=1")?;
        modem.link.watch_reboot = true;
        Ok(modem)
    }

    /// Lets the operator's stop or a step deadline end a command in flight.
    pub fn with_interrupt(mut self, interrupt: Arc<Interrupt>) -> Self {
        self.link.set_interrupt(interrupt);
        self
    }

    pub fn mode(&self) -> AtMode {
        self.link.mode
    }

    pub fn take_log(&mut self) -> Vec<String> {
        self.link.take_log()
    }

    fn cmd(&mut self, cmd: &str) -> Result<AtReply, Nrf91Error> {
        self.link.command(cmd, self.timeouts.command)
    }

    /// IMEI, device UUID (where the firmware has `%DEVICEUUID`) and modem firmware; refuses
    /// firmware without `%KEYGEN`.
    pub fn identify(&mut self) -> Result<ModemIdentity, Nrf91Error> {
        let reply = self.cmd("AT+CGSN")?;
        let imei =
            reply
                .lines
                .iter()
                .find_map(|l| imei_in(l))
                .ok_or_else(|| Nrf91Error::BadReply {
                    cmd: "AT+CGSN".into(),
                    reason: "no 15-digit IMEI".into(),
                })?;
        let device_uuid = match self.cmd("AT%DEVICEUUID") {
            Ok(r) => r
                .value("%DEVICEUUID")
                .map(|v| v.trim_matches('"').to_ascii_lowercase()),
            // Older firmware has no such command; the UUID then comes from %KEYGEN's COSE.
            Err(Nrf91Error::Error { .. } | Nrf91Error::Cme { .. }) => None,
            Err(e) => return Err(e),
        };
        let reply = self.cmd("AT+CGMR")?;
        // The version line, not whatever else the application printed before it.
        let firmware = reply
            .lines
            .iter()
            .find(|l| firmware_version(l).is_some())
            .or(reply.lines.first())
            .cloned()
            .ok_or_else(|| Nrf91Error::BadReply {
                cmd: "AT+CGMR".into(),
                reason: "no firmware version".into(),
            })?;
        match firmware_version(&firmware) {
            Some(v) if v >= MIN_KEYGEN_FIRMWARE => {}
            _ => {
                return Err(Nrf91Error::FirmwareTooOld {
                    version: firmware.clone(),
                })
            }
        }
        Ok(ModemIdentity {
            imei,
            device_uuid,
            firmware,
        })
    }

    /// The current `+CFUN` mode.
    pub fn cfun(&mut self) -> Result<u8, Nrf91Error> {
        let reply = self.cmd("AT+CFUN?")?;
        reply
            .value("+CFUN")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Nrf91Error::BadReply {
                cmd: "AT+CFUN?".into(),
                reason: "no +CFUN: <mode>".into(),
            })
    }

    /// Takes the modem offline (`AT+CFUN=4`): `%KEYGEN` and `%CMNG` writes refuse with CME 518
    /// otherwise. The mode found is restored by [`Nrf91::leave_offline`].
    pub fn go_offline(&mut self) -> Result<(), Nrf91Error> {
        let mode = self.cfun()?;
        if mode != 4 {
            self.cmd("AT+CFUN=4")?;
            self.restore_cfun.get_or_insert(mode);
        }
        Ok(())
    }

    /// Back to the mode the modem was in before [`Nrf91::go_offline`].
    pub fn leave_offline(&mut self) -> Result<(), Nrf91Error> {
        if let Some(mode) = self.restore_cfun.take() {
            self.cmd(&format!("AT+CFUN={mode}"))?;
        }
        Ok(())
    }

    /// A new P-256 key in `sec_tag` and its CSR (`AT%KEYGEN=<sec_tag>,2,0[,"<attributes>"]`),
    /// the COSE digest checked against the CSR bytes.
    pub fn keygen(
        &mut self,
        sec_tag: u32,
        attributes: Option<&str>,
    ) -> Result<KeygenReply, Nrf91Error> {
        let cmd = match attributes {
            Some(a) => format!("AT%KEYGEN={sec_tag},2,0,\"{a}\""),
            None => format!("AT%KEYGEN={sec_tag},2,0"),
        };
        let reply = self.link.command(&cmd, self.timeouts.keygen)?;
        let value = reply
            .value("%KEYGEN")
            .ok_or_else(|| Nrf91Error::BadKeygenReply {
                reason: "no %KEYGEN: line".into(),
            })?;
        keygen::parse(value)
    }

    /// Writes a PEM credential (`AT%CMNG=0`) with LF line endings, then reads its SHA-256
    /// back (`AT%CMNG=1`) and compares it with the digest of the text as written.
    pub fn write_verified(&mut self, sec_tag: u32, kind: u8, pem: &str) -> Result<(), Nrf91Error> {
        let text = lf_pem(pem);
        self.cmd(&format!("AT%CMNG=0,{sec_tag},{kind},\"{text}\""))?;
        let expected = hex::encode_upper(Sha256::digest(text.as_bytes()));
        let found = self.stored_digest(sec_tag, kind)?;
        if !found.eq_ignore_ascii_case(&expected) {
            return Err(Nrf91Error::WriteMismatch {
                sec_tag,
                kind,
                expected,
                found,
            });
        }
        Ok(())
    }

    /// The SHA-256 the modem lists for a credential.
    pub fn stored_digest(&mut self, sec_tag: u32, kind: u8) -> Result<String, Nrf91Error> {
        let cmd = format!("AT%CMNG=1,{sec_tag},{kind}");
        let reply = self.cmd(&cmd)?;
        let listed = reply.lines.iter().find_map(|l| {
            let v = l.strip_prefix("%CMNG:")?;
            let mut f = v.split(',').map(str::trim);
            let (tag, ty, sha) = (f.next()?, f.next()?, f.next()?);
            (tag.parse() == Ok(sec_tag) && ty.parse() == Ok(kind))
                .then(|| sha.trim_matches('"').to_owned())
        });
        listed.ok_or(Nrf91Error::NotFound {
            cmd: "AT%CMNG".into(),
        })
    }

    /// `AT%ATTESTTOKEN`, where the modem answers it.
    pub fn attestation_token(&mut self) -> Result<Option<String>, Nrf91Error> {
        match self.cmd("AT%ATTESTTOKEN") {
            Ok(r) => Ok(r
                .value("%ATTESTTOKEN")
                .map(|v| v.trim_matches('"').to_owned())),
            Err(Nrf91Error::Error { .. } | Nrf91Error::Cme { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The first run of exactly 15 digits in a line.
fn imei_in(line: &str) -> Option<String> {
    line.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 15)
        .map(str::to_owned)
}

/// `mfw_nrf9160_1.3.5` → (1, 3, 5); any suffix after the patch number is ignored.
pub fn firmware_version(cgmr: &str) -> Option<(u32, u32, u32)> {
    let tail = cgmr.trim().rsplit('_').next()?;
    let mut parts = tail.split('.');
    let num = |p: Option<&str>| -> Option<u32> {
        let digits: String = p?.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    Some((num(parts.next())?, num(parts.next())?, num(parts.next())?))
}

/// A PEM as the modem must get it: LF line endings, no trailing blank lines (CRLF has been
/// reported to give CME 527 and wrong digests).
pub fn lf_pem(pem: &str) -> String {
    pem.replace("\r\n", "\n").trim_end().to_owned()
}
