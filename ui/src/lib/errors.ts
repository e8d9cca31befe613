// What the technician reads on FAIL. Keyed on the stable error code; an unknown code falls
// back to the core's own message, which is already written for an operator.
import type { ErrorInfo } from "./bindings";

const FRIENDLY: Readonly<Record<string, string>> = {
  "ca.locked":
    "The station's signing key is locked. Start the station with its CA passphrase set, then try again.",
  "ca.no_passphrase":
    "The station's signing key is locked. Start the station with its CA passphrase set, then try again.",
  "ca.bad_passphrase": "The CA passphrase is wrong. Ask your supervisor to restart the station.",
  "ca.missing": "This station has no signing CA. Ask your supervisor to set the station up.",
  "station.missing": "This station is not set up yet. Ask your supervisor to set the station up.",
  "station.bad_config": "The station's configuration is invalid. Ask your supervisor to check it.",
  "device.open_failed":
    "Could not open the serial port. Check the cable, or whether another program is using the port.",
  "device.timeout": "The unit stopped answering. Check the cable and power, then try again.",
  "device.unplugged": "The unit was unplugged during commissioning. Reconnect it and try again.",
  "pipeline.step_timeout":
    "The unit is too slow: one step did not finish in time. Try again; if it happens again, set the unit aside.",
  "session.cancelled": "Commissioning was stopped before it finished. Plug the unit in again to restart.",
  "device.corrupted_frame":
    "The link to the unit is unreliable. Try another cable or USB port, then try again.",
  "device.already_commissioned":
    "This unit is already commissioned. Use recommissioning instead, or set it aside.",
  "device.protocol_version": "This unit's firmware is not supported. Set it aside for reflashing.",
  "device.refused": "The unit refused the request. Set it aside and report it.",
  "csr.cn_mismatch":
    "The unit asked for a certificate under a different identity than it reported. Set it aside and report it.",
  "csr.bad_signature": "The unit's certificate request is damaged or forged. Set it aside and report it.",
  "csr.key_type": "The unit made a key type this station does not allow. Set it aside and report it.",
  "csr.ca_requested": "The unit asked for a CA certificate, which is never allowed. Set it aside and report it.",
  "write.readback_mismatch":
    "The certificate did not store correctly on the unit. Try again; if it fails again, set the unit aside.",
  "pop.failed":
    "The unit could not prove it holds its new key. Set it aside and report it.",
  "mqtt.unreachable": "The broker cannot be reached. Check the station's network, then try again.",
  "mqtt.timeout": "The broker did not answer in time. Try again.",
  "mqtt.connect_refused": "The broker refused the unit's new identity. Report this to your supervisor.",
  "mqtt.certificate_revoked": "The broker says this certificate is revoked. Report this to your supervisor.",
  "handshake.rejected": "The provisioning service rejected the unit. Report this to your supervisor.",
  "handshake.bad_status": "The provisioning service did not accept the unit. Report this to your supervisor.",
  "journal.open_failed": "The station's journal cannot be opened. Ask your supervisor to check the station.",
  "journal.write_failed": "The station could not record this unit. Ask your supervisor to check the station.",
};

/** The plain-language text for `error`: a known code's text, else the core's message. */
export function friendlyMessage(error: ErrorInfo): string {
  return FRIENDLY[error.code] ?? (error.message.trim() || `Commissioning failed (${error.code}).`);
}

/** Whether the UI has its own wording for `code`. */
export function isKnownCode(code: string): boolean {
  return Object.hasOwn(FRIENDLY, code);
}
