// What the technician reads on FAIL. Keyed on the stable error code; an unknown code falls
// back to the core's own message, which is already written for an operator.
import type { ErrorInfo } from "./bindings";

const FRIENDLY: Readonly<Record<string, string>> = {
  // Station and factory CA
  "ca.locked":
    "The station's signing key is locked. Start the station with its CA passphrase set, then try again.",
  "ca.no_passphrase":
    "The station's signing key is locked. Start the station with its CA passphrase set, then try again.",
  "ca.bad_passphrase": "The CA passphrase is wrong. Ask your supervisor to restart the station.",
  "ca.missing": "This station has no signing CA. Ask your supervisor to set the station up.",
  "ca.corrupt": "The station's CA files are damaged. Stop and ask your supervisor to restore them.",
  "ca.exists": "This station already has a CA; it is never overwritten. Ask your supervisor.",
  "ca.io": "The station cannot read its CA files. Ask your supervisor to check the station's disk.",
  "ca.key_mismatch":
    "The station's CA key does not belong to its certificate. Ask your supervisor to check the CA set-up.",
  "ca.unsupported_key": "The station's CA key type is not supported. Ask your supervisor to check the CA set-up.",
  "ca.unlock_sign_failed":
    "The station could not sign the unit's unlock request. Ask your supervisor to check the CA or HSM.",
  "pkcs11.bad_uri": "The station's HSM setting is wrong. Ask your supervisor to check the PKCS#11 URI.",
  "pkcs11.failed": "The station's HSM did not answer as expected. Check it is plugged in, then ask your supervisor.",
  "pki.issue_failed": "The station could not issue the certificate. Try again; if it repeats, ask your supervisor.",
  "ca.root_passphrase_reused":
    "The offline root key needs a passphrase of its own, different from the station's. Choose another one.",
  "pkcs11.module_not_allowed":
    "The CA key's token library is not the one this station's profile allows. Ask an admin; someone may have changed the station's CA files.",
  "pki.unsafe_common_name":
    "The station refused to issue a certificate for this name: it contains characters a certificate name must not have. Set the unit aside and tell your supervisor.",
  "pki.service_identity_name": "This unit reports the name of the station's backend or broker. It gets no certificate: check its device id.",
  "pki.service_name_taken": "A unit already holds this name. Give the backend or broker a name of its own.",
  "recommission.no_active_certificate":
    "This unit has no valid certificate on this station, so it is not unlocked. Set it aside and ask QA whether it was taken out of service.",
  "ca.root_key_out_required":
    "A production station keeps its root key offline. Choose where to write it (removable media) and give it a passphrase of its own.",
  "cert.malformed": "A certificate on file is damaged. Ask your supervisor to check the station.",
  "policy.invalid": "The station's issuance policy is invalid. Ask your supervisor to fix station.toml.",
  "policy.bad_validity":
    "The station's certificate lifetime is zero or negative, so nothing is signed. Ask your supervisor to fix validity_days in station.toml.",
  "policy.outlives_ca":
    "The station's certificate lifetime would outlive its issuing CA, so nothing is signed. Ask your supervisor to shorten validity_days or renew the CA.",
  "policy.bad_crl_validity":
    "The station's CRL lifetime is out of range (1 to 366 days). Ask your supervisor to fix crl_validity_days in station.toml.",
  "crl.registry_unverified":
    "The journal does not verify, so no revocation list was signed from it. Ask QA to run a journal check before anything else.",
  "crl.number_unreadable":
    "The station's CRL counter file is damaged. Ask your supervisor to check the CA folder before publishing a revocation list.",
  "policy.quota_exceeded":
    "This station has reached its hourly certificate limit. Pause and ask your line supervisor.",
  "policy.host_key_not_allowed":
    "This station may not create keys for units. Set the unit aside; its firmware must generate its own key.",
  "station.missing": "This station is not set up yet. Ask your supervisor to set the station up.",
  "station.exists": "A station already exists in this folder. Ask your supervisor.",
  "station.bad_config": "The station's configuration is invalid. Ask your supervisor to check it.",
  "station.device_id_rule":
    "The station's device-id rule cannot be used (a bad pattern, or its allowlist file cannot be read). Ask your supervisor to check the station profile.",
  "station.io": "The station cannot read or write its files. Ask your supervisor to check the station's disk.",
  "station.no_broker":
    "This station has no broker configured. Ask your supervisor to set up the broker profile.",
  "station.broker_ca":
    "The station cannot read the broker's CA file. Ask your supervisor to check the broker profile.",
  // The unit and its serial link
  "device.open_failed":
    "Could not open the serial port. Check the cable, or whether another program is using the port.",
  "device.enumerate_failed": "The station cannot list its serial ports. Replug the USB hub, then try again.",
  "device.not_open": "The unit's port closed unexpectedly. Reconnect the unit and try again.",
  "device.unknown_family":
    "The station does not know this device family. Check the family name in the station profile's [[models]] or in --family.",
  // nRF91 modems (AT commands)
  "nrf91.no_at_client":
    "The modem does not answer AT commands. Check that the unit runs an AT client (or Zephyr's AT shell) and the baud rate.",
  "nrf91.modem_active":
    "The modem was active and refused the credential work. Reset the unit and try again.",
  "nrf91.exists": "The modem already holds this credential. Recommission the unit to replace it.",
  "nrf91.not_found": "The modem has no such credential. Try again; if it repeats, set the unit aside.",
  "nrf91.no_access": "The modem refused access to this security tag. Ask your supervisor to check the profile's sec_tag.",
  "nrf91.memory_full": "The modem's credential store is full. Delete unused security tags, then try again.",
  "nrf91.keygen_failed": "The modem could not make a key. Set the unit aside.",
  "nrf91.invalid_content": "The modem rejected the certificate's content. Ask your supervisor to check the CA files.",
  "nrf91.power_off_warning": "The modem warns of low power. Check the unit's supply, then try again.",
  "nrf91.cme_error": "The modem refused a command. Try again; if it repeats, set the unit aside.",
  "nrf91.error": "The modem refused a command. Try again; if it repeats, set the unit aside.",
  "nrf91.firmware_too_old":
    "The modem firmware is too old to make its own key. Update the modem firmware (1.3.0 or later), then try again.",
  "nrf91.cose_digest_mismatch":
    "The modem's signed statement does not match its CSR. Set the unit aside and report it.",
  "nrf91.bad_keygen_reply": "The modem's key reply is unreadable. Try again; if it repeats, set the unit aside.",
  "nrf91.bad_reply": "The modem's reply is unreadable. Check the cable and baud rate, then try again.",
  "nrf91.write_mismatch":
    "A certificate did not store correctly on the modem. Try again; if it repeats, set the unit aside.",
  "nrf91.rebooted":
    "The unit restarted in the middle of a write. Check its power supply and cable, then commission it again.",
  // Zephyr units over MCUmgr/SMP
  "smp.fs_full": "The unit's file system is full. Free space on the unit (or use a larger partition in the profile), then try again.",
  "smp.write_mismatch":
    "A file written to the unit does not read back the same. Try again; if it repeats, set the unit aside (its flash may be failing).",
  "smp.too_large": "The unit's SMP buffer is too small for this request. Ask your supervisor to check the unit's firmware settings.",
  "smp.bad_reply": "The unit's SMP answer is unreadable. Check the firmware version, then try again.",
  "smp.not_supported": "The unit's firmware does not offer a command the station needs. Check that its MCUmgr groups are enabled.",
  "smp.access_denied": "The unit refused the command. Ask your supervisor to check the unit's firmware settings.",
  "smp.bad_state": "The unit is not in a state that allows this command. Reset the unit and try again.",
  "smp.refused": "The unit refused an SMP command. Try again; if it repeats, set the unit aside.",
  "smp.unit_locked": "The unit has already left factory mode. Set it aside for recommissioning.",
  "smp.no_key": "The unit has no key yet. Commission it again from the start.",
  "smp.bad_context": "The unit refused to sign for the broker connection. Check its firmware version.",
  "device.io": "The serial link failed. Check the cable and USB port, then try again.",
  "device.timeout": "The unit stopped answering. Check the cable and power, then try again.",
  "device.cancelled": "The operation on the unit was stopped before it finished. Start again when ready.",
  "device.step_deadline": "The unit took longer than this step allows. Check the cable and the unit, then try again.",
  "device.slow_reply":
    "The unit answers too slowly. Try again; if it repeats, set it aside for a firmware check.",
  "device.request_damaged":
    "Data to the unit arrives damaged. Try another cable, USB port or hub, then try again.",
  "device.unplugged": "The unit was unplugged during commissioning. Reconnect it and try again.",
  "device.rebooted": "The unit restarted during commissioning. Check its power supply, then try again.",
  "pipeline.step_timeout":
    "The unit is too slow: one step did not finish in time. Try again; if it happens again, set the unit aside.",
  "device.corrupted_frame":
    "The link to the unit is unreliable. Try another cable or USB port, then try again.",
  "device.protocol": "The unit answered something this station does not understand. Set it aside for a firmware check.",
  "device.already_commissioned":
    "This unit is already commissioned. Use recommissioning instead, or set it aside.",
  "device.protocol_version": "This unit's firmware is not supported. Set it aside for reflashing.",
  "device.refused": "The unit refused the request. Set it aside and report it.",
  "device.id_invalid":
    "The unit reports a device id that is not allowed (too long, or with characters other than letters, digits, '.', '_' and '-'). Set it aside: its firmware must be fixed.",
  "device.id_refused":
    "This station does not accept the unit's device id (reserved, not matching the station's pattern, or not on the work order's list). Check the unit belongs to this work order.",
  "device.locked":
    "This unit is locked. Recommissioning it needs a field engineer's authorised unlock.",
  "device.not_locked": "The unit did not lock at the end. Try again; if it repeats, set it aside and report it.",
  "device.not_unlocked": "The unit did not return to factory mode after unlocking. Set it aside and report it.",
  "device.missing_capability": "This unit's firmware lacks a feature this station needs. Set it aside for reflashing.",
  "device.clock_invalid":
    "The unit's clock is wrong (flat RTC battery?). Set it aside for a clock or battery check.",
  // Certificate request, issue, write, proof
  "csr.malformed": "The unit's certificate request is damaged. Try again; if it repeats, set the unit aside.",
  "csr.cn_mismatch":
    "The unit asked for a certificate under a different identity than it reported. Set it aside and report it.",
  "csr.bad_signature": "The unit's certificate request is damaged or forged. Set it aside and report it.",
  "csr.weak_signature_algorithm":
    "The unit signed its certificate request with an outdated algorithm (SHA-1 or older). Set it aside; its firmware needs an update.",
  "csr.key_type": "The unit made a key type this station does not allow. Set it aside and report it.",
  "csr.key_size": "The unit made a key too weak for this station's policy. Set it aside for a firmware check.",
  "csr.ca_requested": "The unit asked for a CA certificate, which is never allowed. Set it aside and report it.",
  "csr.extension_not_allowed":
    "The unit's certificate request asks for something this station never grants. Set it aside and report it.",
  "csr.device_has_active_cert":
    "This unit already holds an active certificate. Use recommissioning, or set it aside.",
  "write.readback_mismatch":
    "The certificate did not store correctly on the unit. Try again; if it fails again, set the unit aside.",
  "pop.failed":
    "The unit could not prove it holds its new key. Set it aside and report it.",
  // In-band provisioning (the responder's refusals of a unit's bootstrap identity)
  "inband.bootstrap_unknown":
    "This unit has no bootstrap certificate in this station's records. Commission it with a bootstrap identity first.",
  "inband.bootstrap_used":
    "This unit's bootstrap certificate was already used to obtain its operational certificate. Recommission it to start again.",
  "inband.operational_mismatch":
    "The in-band exchange did not give this unit a usable operational certificate. Set the unit aside and report it with the session log.",
  "inband.family_unsupported":
    "This station provisions in band, which this kind of unit cannot do yet. Commission it on an out-of-band station.",
  "inband.not_bootstrap":
    "This unit's active certificate is its operational one, not a bootstrap certificate. Recommission it instead of provisioning it in band.",
  "inband.bootstrap_revoked":
    "This unit's bootstrap certificate is revoked. Set the unit aside and report it.",
  "inband.bootstrap_expired":
    "This unit's bootstrap certificate has expired. Commission it again to give it a new one.",
  "inband.parameter_mismatch":
    "The unit asked to be registered under another unit's serial number. Set it aside and report it.",
  "inband.registry_unavailable":
    "The provisioning backend cannot read this station's certificate records. Check the station's disk and try again.",
  "inband.not_served":
    "The provisioning backend issues no certificates, so the unit cannot get its own in band. Ask your supervisor to start the responder with the station's CA.",
  "inband.token_expired":
    "The unit took its certificate but never confirmed it within the hour, so the certificate was withdrawn. Commission the unit again.",
  // Registry and revocation
  "registry.unknown_device": "This unit has no certificate in this station's records.",
  "registry.unknown_serial": "No certificate with that serial number is in this station's records.",
  "revoke.bad_reason": "That is not a valid revocation reason. Pick one from the list.",
  "revoke.bad_serial": "That is not a certificate serial number. Copy it from the certificate list.",
  "revoke.already_revoked":
    "That certificate is already revoked for another reason, which stands. Only key compromise replaces it.",
  // Broker: TLS
  "mqtt.config": "The station's broker profile is not usable. Ask your supervisor to check it.",
  "mqtt.unreachable": "The broker cannot be reached. Check the station's network, then try again.",
  "mqtt.untrusted_client_ca":
    "The broker does not trust this factory CA. Stop the line and ask your supervisor to install the factory CA on the broker.",
  "mqtt.certificate_revoked":
    "The broker says this certificate is revoked. Set the unit aside and report it to your supervisor.",
  "mqtt.certificate_required":
    "The broker did not receive a client certificate. Try again; if it repeats, set the unit aside and report it.",
  "mqtt.certificate_expired":
    "The broker says the certificate is expired or not valid yet. Check the station's clock, then ask your supervisor.",
  "mqtt.certificate_rejected":
    "The broker rejected the unit's new certificate. Report this to your supervisor.",
  "mqtt.bad_signature":
    "The unit's key does not match its new certificate. Set it aside and report it.",
  "mqtt.tls_version":
    "The broker and the station share no secure protocol version (TLS 1.3 needed). Ask your supervisor.",
  "mqtt.unit_tls12":
    "The broker only speaks TLS 1.2, which this unit cannot sign for. Ask your supervisor to enable TLS 1.3 on the broker.",
  "mqtt.tls_alert": "The broker ended the secure connection. Report this to your supervisor.",
  "mqtt.server_name_unknown":
    "The broker does not know the name it was called by. Ask your supervisor to check the broker host name.",
  "mqtt.server_name_mismatch":
    "The broker's name does not match its certificate: this may not be your broker. Stop and ask your supervisor.",
  "mqtt.server_certificate":
    "The station does not trust the broker's certificate: this may not be your broker. Stop and ask your supervisor.",
  "mqtt.device_signature":
    "The unit could not sign its login to the broker. Check the cable, then try again; if it repeats, set it aside.",
  // Broker: MQTT
  "mqtt.not_authorized":
    "The broker does not allow this unit. Ask your supervisor to check the unit's registration and the broker's access rules.",
  "mqtt.client_id_refused":
    "The broker does not allow this client id. Ask your supervisor to check the broker's access rules.",
  "mqtt.banned": "The broker has banned this unit. Set it aside and report it to your supervisor.",
  "mqtt.bad_credentials": "The broker refused the unit's credentials. Report this to your supervisor.",
  "mqtt.broker_busy": "The broker is busy. Wait a moment, then try again.",
  "mqtt.redirected":
    "The broker sends units to another server. Ask your supervisor to update the broker profile.",
  "mqtt.protocol_version":
    "The broker does not accept this MQTT version. Ask your supervisor to check the broker profile.",
  "mqtt.connect_refused": "The broker refused the unit's new identity. Report this to your supervisor.",
  "mqtt.subscribe_refused":
    "The broker refused the unit's provisioning topic. Ask your supervisor to check the broker's access rules.",
  "mqtt.publish_refused":
    "The broker refused the unit's provisioning request. Ask your supervisor to check the broker's access rules.",
  "mqtt.disconnected": "The broker closed the connection. Try again; if it repeats, tell your supervisor.",
  "mqtt.timeout": "The broker did not answer in time. Try again.",
  "mqtt.connection_failed": "The connection to the broker failed. Check the station's network, then try again.",
  "handshake.rejected": "The provisioning service rejected the unit. Report this to your supervisor.",
  "handshake.bad_status": "The provisioning service did not accept the unit. Report this to your supervisor.",
  // Broker audit
  "audit.failed":
    "The broker failed its security audit: the unit is fine, the broker is not. Stop the line and tell your supervisor.",
  "audit.findings": "The broker failed its security audit. Tell your supervisor; the report lists what failed.",
  "audit.inconclusive":
    "The audit could not judge the broker: this station's own connection to it failed. Check the broker profile (address, server CA, TLS version) with Test connection, then audit again.",
  "audit.broker_ca": "The audit cannot read the broker's CA file. Ask your supervisor to check the broker profile.",
  "audit.crl_refresh": "The audit could not update the broker's revocation list. Check that the lab broker is running.",
  "audit.crl_hook":
    "The broker profile's revocation-list command failed. Ask your supervisor to check the CRL hook in the broker profile.",
  // Lab broker
  "lab.mosquitto_missing": "The lab broker (mosquitto) is not installed on this station. Ask your supervisor.",
  "lab.broker_failed": "The lab broker did not start. Ask your supervisor; its log has the reason.",
  "lab.io": "The station cannot write the lab broker's files. Ask your supervisor to check the station's disk.",
  "lab.not_running": "No lab broker is running. Start it, then try again.",
  "lab.broker_profile_kept":
    "This station already has a broker profile that was written by hand; the lab never replaces it. Ask your supervisor to use another station for the lab.",
  // Session and journal
  "session.cancelled": "The session was stopped before it finished. The unit was not judged; run it again.",
  "session.interrupted":
    "The station stopped during this session. Run the unit again; the certificate it was given was revoked as the session closed.",
  "journal.open_failed": "The station's journal cannot be opened. Ask your supervisor to check the station.",
  "journal.write_failed": "The station could not record this unit. Ask your supervisor to check the station.",
  "journal.replaced":
    "The station's journal is missing or another one was put in its place. Ask an admin to restore it; nothing is recorded until then.",
  "journal.too_new": "The journal was written by a newer Commissioner. Update this station's software.",
  "journal.key_failed":
    "The station cannot read the key that marks the sessions it starts. Ask your supervisor to check the station's keys folder.",
  "journal.claim_failed":
    "The station cannot lock its session file, so it cannot start a unit safely. Ask your supervisor to check the station's folder.",
  "journal.session_sealed":
    "That session is already sealed in the journal and can no longer change. Start a new session.",
  "chain.session_edited": "A session in the journal was edited after the fact. Tell QA and your supervisor.",
  "chain.session_deleted": "A session was deleted from the journal. Tell QA and your supervisor.",
  "chain.session_unrecorded": "A session in the journal was never sealed. Tell QA and your supervisor.",
  "chain.certificate_edited": "A certificate record in the journal was edited. Tell QA and your supervisor.",
  "chain.certificate_deleted": "A certificate record was deleted from the journal. Tell QA and your supervisor.",
  "chain.session_forged":
    "A session marked running was not started by this station. It was left unsealed. Tell QA and your supervisor.",
  "chain.anchor_missing":
    "The journal no longer contains a chain head this station published: its newest records were cut off. Tell QA and your supervisor.",
  "chain.anchor_invalid":
    "The station's record of published chain heads was edited. Tell QA and your supervisor.",
  "chain.certificate_unrecorded": "A certificate in the journal was never sealed. Tell QA and your supervisor.",
  "chain.entry_edited": "The journal's seal was edited. Tell QA and your supervisor.",
  "chain.cut_short":
    "The journal is missing its newest records, which the central store already holds. Tell QA and your supervisor.",
  "chain.rewritten_after_sync":
    "The journal was rewritten after it was sent to the central store. Tell QA and your supervisor.",
  // Central store
  "central.not_configured": "This station is not connected to a central store. Ask your supervisor to set one up.",
  "central.unreachable":
    "The central store cannot be reached. Keep working: records are kept here and sent when it is back.",
  "central.bad_profile": "The station's central store settings are not usable. Ask your supervisor to check them.",
  "central.database": "The central store refused a request. Tell your supervisor.",
  "central.too_new": "The central store was set up by a newer Commissioner. Ask your supervisor to update this station.",
  "central.duplicate_device":
    "This unit was already commissioned at another station. Set it aside and tell QA.",
  "central.journal_rewritten":
    "The central store refused this station's records: they differ from what it received before. Tell QA and your supervisor.",
  "central.out_of_order": "Records reached the central store out of order. Tell your supervisor.",
  "central.server": "The central store's database server could not be started. Tell your supervisor.",
  "chain.entry_missing": "Part of the journal's seal is missing. Tell QA and your supervisor.",
  "chain.link_broken": "The journal's seal is broken. Tell QA and your supervisor.",
  "chain.verified_head_missing": "Part of the journal that was checked before is gone. Tell QA and your supervisor.",
  "chain.operator_unrecorded": "An operator record in the journal was written outside Commissioner. Tell QA and your supervisor.",
  "chain.operator_edited": "An operator record in the journal was edited outside Commissioner. Tell QA and your supervisor.",
  "chain.operator_deleted": "An operator record was deleted from the journal. Tell QA and your supervisor.",
  "chain.token_unrecorded": "A sign-in record in the journal was written outside Commissioner. Tell QA and your supervisor.",
  "chain.token_edited": "A sign-in record in the journal was edited outside Commissioner. Tell QA and your supervisor.",
  "chain.token_deleted": "A sign-in record was deleted from the journal. Tell QA and your supervisor.",
  "chain.login_attempt_unrecorded": "A sign-in attempt record in the journal was written outside Commissioner. Tell QA and your supervisor.",
  "chain.login_attempt_edited": "A sign-in attempt record in the journal was edited outside Commissioner. Tell QA and your supervisor.",
  "chain.login_attempt_deleted": "A sign-in attempt record was deleted from the journal. Tell QA and your supervisor.",
  "export.io": "The export file cannot be read or written. Check the drive, then try again.",
  "print.io": "The report or label file cannot be written. Check the drive, then try again.",
  "print.label_template": "The station's label template cannot be used. Ask your supervisor to fix the station profile.",
  "print.nothing_to_label": "Only a unit that passed, with its certificate, gets a label.",
  "print.nothing_to_report": "The journal has no session for this work order. Check the work order number.",
  "provisioning.unknown_dialect":
    "The station profile names an in-band dialect Commissioner does not know. Ask your supervisor to fix [provisioning].",
  "provisioning.bad_template":
    "The station profile's provisioning template is not a usable name. Ask your supervisor to fix [provisioning].",
  "provisioning.bad_validity":
    "The station profile's bootstrap certificate lifetime is out of range. Ask your supervisor to fix [provisioning].",
  "provisioning.bad_common_name":
    "The station profile's bootstrap name pattern must contain {device_id} and add something to it. Ask your supervisor to fix [provisioning].",
  "print.printer_unreachable": "The label printer did not take the label. Check that it is on and connected, then print again.",
  "mes.delivery_failed": "The MES did not take the station's events. They are kept and sent again; nothing is lost.",
  "mes.secret_unreadable": "The MES secret or CA file cannot be read. Ask your supervisor to check the station profile.",
  "export.key": "The station's export signing key is unusable. Ask your supervisor.",
  "export.manifest_missing": "The export has no manifest next to it. Copy both files, then try again.",
  "export.manifest_invalid": "The export's manifest is damaged. Export again.",
  "export.bad_signature": "The export's manifest was edited. Do not trust this export; export again.",
  "export.file_modified": "The export was edited after it was signed. Do not trust it; export again.",
  "export.wrong_station": "This export was signed by another station.",
  "export.key_missing": "The station's export signing key is missing. Restore it from backup; do not make a new one.",
  "export.key_not_pinned": "The station's export signing key file was replaced. Tell QA and your supervisor.",
  "export.no_trusted_key": "No trusted station key is set. Give the key QA recorded for the station.",
  "export.trusted_key_invalid": "That is not a station key. Copy it again from `commissioner journal key`.",
  "export.key_locked": "The export signing key is locked. Unlock the CA with the station passphrase, then try again.",
  "export.key_passphrase": "The station passphrase does not open the export signing key. The key file may have been replaced: tell QA and your supervisor.",
  // Operators
  "operator.bad_credentials": "Operator id or PIN is wrong. Try again.",
  "operator.locked_out": "Too many wrong PINs. Wait before you try again (each lockout lasts longer than the last).",
  "operator.station_locked_out":
    "Too many wrong PINs at this station in the last hour. No one can sign in until the hour has passed; tell your supervisor.",
  "operator.forbidden": "Your role may not do this. Ask someone with the right role.",
  "operator.not_signed_in": "Sign in first.",
  "operator.unknown": "There is no operator with that id and a PIN at this station. Check the id.",
  "operator.last_admin": "That is the station's last admin. Add another admin first.",
  "operator.journal_without_operators":
    "This station's journal has been replaced or emptied: it has no operators although the station requires them. Nothing can be done here until an admin restores it.",
  "operator.token_invalid": "Your sign-in has expired. Sign in again.",
  "operator.unrecorded": "This sign-in is not in the journal's record: it was written outside Commissioner. Tell QA and your supervisor.",
  "operator.unknown_role": "That role does not exist. Pick technician, field engineer, QA or admin.",
  "operator.exists": "That operator already has a PIN.",
  "operator.weak_pin": "That PIN is too short. Choose a longer one.",
  "operator.first_must_be_admin": "The first operator of a station must be an admin.",
  "operator.hash_failed": "The station could not store the PIN. Try again; if it repeats, ask your supervisor.",
  // The desktop shell's own codes (APP_ERROR_CODES in generated/bindings.ts)
  "operator.sign_in_required": "Sign in first: this station records who does what.",
  "app.no_dialog": "No file dialog can open in this window. Restart the app and try again.",
  "app.task_failed": "The station stopped this job unexpectedly. See the Log tab, then try again.",
  "broker.invalid": "The broker settings are incomplete or wrong. Check host, port and server CA.",
  "ca.unreadable": "The station's CA certificate cannot be read. Ask your supervisor to check the CA files.",
  "journal.no_session": "That session is not in the journal. Refresh the list.",
  "lab.not_a_lab_station": "Only a lab station can start a lab broker or simulated units. Set up the broker profile instead.",
  "ca.unlock_throttled": "Too many wrong CA passphrases. Wait the time shown, then try again, or ask the CA passphrase holder.",
  "line.unknown_port": "That port is not one of this station's units. Refresh the list of ports and pick a unit from it.",
  "line.busy": "This unit is already being commissioned. Wait for its result.",
  "setup.admin_id": "Enter a name for the first administrator.",
  "setup.organization": "Enter the organisation the CA is for.",
  "setup.weak_passphrase": "The CA passphrase is too short. Use at least 8 characters.",
  "sim.start_failed": "The simulated unit could not start. See the Log tab.",
  "sim.unknown_fault": "That simulator fault does not exist. Pick one from the list.",
  "sim.unknown_kind": "That kind of simulated unit does not exist. Pick one from the list.",
};

/** The plain-language text for `error`: a known code's text, else the core's message. */
export function friendlyMessage(error: ErrorInfo): string {
  return FRIENDLY[error.code] ?? (error.message.trim() || `Commissioning failed (${error.code}).`);
}

/** Whether the UI has its own wording for `code`. */
export function isKnownCode(code: string): boolean {
  return Object.hasOwn(FRIENDLY, code);
}
