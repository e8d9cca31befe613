// Field-level validation of the setup wizard and the broker form. Each function returns a
// map of field → message; an empty map means the form is valid.
import type { BrokerForm, CaSource, SetupRequest } from "./api-types";

export type FieldErrors = Partial<Record<string, string>>;

export const MIN_PASSPHRASE = 8;
export const MIN_PIN = 6;

export const hasErrors = (errors: FieldErrors) => Object.keys(errors).length > 0;

export interface StationFields {
  organization: string;
  caMode: "create" | "import";
  caCert: string;
  caRoot: string;
  caKey: string;
  caKeyPassphrase: string;
  passphrase: string;
  passphrase2: string;
  lab: boolean;
  /** A new CA's root key: written once to this path with its own passphrase (not on a lab station). */
  rootKeyOut: string;
  rootPassphrase: string;
  rootPassphrase2: string;
}

/** Whether the root key must leave the station: a new CA on a station that is not a lab's. */
export const rootKeyLeaves = (f: StationFields) => f.caMode === "create" && !f.lab;

export function validateStation(f: StationFields): FieldErrors {
  const e: FieldErrors = {};
  if (!f.organization.trim()) e.organization = "Enter the organisation name.";
  if (f.caMode === "import") {
    if (!f.caCert.trim()) e.caCert = "Enter the path of the CA certificate.";
    if (!f.caRoot.trim()) e.caRoot = "Enter the path of the root certificate.";
    if (!f.caKey.trim()) e.caKey = "Enter the path of the CA key.";
  }
  if (f.passphrase.length < MIN_PASSPHRASE) {
    e.passphrase = `The passphrase needs at least ${MIN_PASSPHRASE} characters.`;
  }
  if (f.passphrase2 !== f.passphrase) e.passphrase2 = "The two passphrases do not match.";
  if (rootKeyLeaves(f)) {
    if (!f.rootKeyOut.trim()) e.rootKeyOut = "Enter where to write the root key (removable media).";
    if (f.rootPassphrase.length < MIN_PASSPHRASE) {
      e.rootPassphrase = `Give the root key a passphrase of ${MIN_PASSPHRASE} characters or more.`;
    } else if (f.rootPassphrase === f.passphrase) {
      e.rootPassphrase = "Use another passphrase for the root key, not the station's.";
    }
    if (f.rootPassphrase2 !== f.rootPassphrase) e.rootPassphrase2 = "The two passphrases do not match.";
  }
  return e;
}

export interface AdminFields {
  id: string;
  pin: string;
  pin2: string;
}

export function validateAdmin(f: AdminFields): FieldErrors {
  const e: FieldErrors = {};
  if (!f.id.trim()) e.id = "Enter an operator id for the administrator.";
  const pin = validatePin(f.pin);
  if (pin) e.pin = pin;
  if (f.pin2 !== f.pin) e.pin2 = "The two PINs do not match.";
  return e;
}

/** The problem with `pin`, or null. */
export function validatePin(pin: string): string | null {
  return new RegExp(`^\\d{${MIN_PIN},}$`).test(pin) ? null : `The PIN needs at least ${MIN_PIN} digits, digits only.`;
}

export function setupRequest(s: StationFields, a: AdminFields): SetupRequest {
  const ca: CaSource =
    s.caMode === "create"
      ? rootKeyLeaves(s)
        ? { kind: "create", rootKeyOut: s.rootKeyOut.trim(), rootPassphrase: s.rootPassphrase }
        : { kind: "create", rootKeyOut: null, rootPassphrase: null }
      : {
          kind: "import",
          cert: s.caCert.trim(),
          root: s.caRoot.trim(),
          key: s.caKey.trim(),
          keyPassphrase: s.caKeyPassphrase === "" ? null : s.caKeyPassphrase,
        };
  return {
    organization: s.organization.trim(),
    passphrase: s.passphrase,
    ca,
    lab: s.lab,
    admin: { id: a.id.trim(), pin: a.pin },
  };
}

/** The broker form as typed. */
export interface BrokerFields {
  host: string;
  port: string;
  serverCa: string;
  serverName: string;
  mqttVersion: "5" | "3.1.1";
  timeoutSecs: string;
}

export function brokerFields(form: BrokerForm | null): BrokerFields {
  return {
    host: form?.host ?? "",
    port: String(form?.port ?? 8883),
    serverCa: form?.serverCa ?? "",
    serverName: form?.serverName ?? "",
    mqttVersion: form?.mqttVersion ?? "5",
    timeoutSecs: String(form?.timeoutSecs ?? 10),
  };
}

const isInt = (s: string) => /^\d+$/.test(s.trim());

export function validateBroker(f: BrokerFields): FieldErrors {
  const e: FieldErrors = {};
  if (!f.host.trim()) e.host = "Enter the broker's host name or address.";
  if (!isInt(f.port) || Number(f.port) < 1 || Number(f.port) > 65535) {
    e.port = "The port is a number from 1 to 65535.";
  }
  if (!f.serverCa.trim()) e.serverCa = "Enter the path of the CA that signed the broker's certificate.";
  if (!isInt(f.timeoutSecs) || Number(f.timeoutSecs) < 1 || Number(f.timeoutSecs) > 600) {
    e.timeoutSecs = "The timeout is a number of seconds from 1 to 600.";
  }
  return e;
}

/** The profile to send; `tls` and `lab` are kept from the profile being edited. */
export function brokerForm(f: BrokerFields, base: BrokerForm | null): BrokerForm {
  return {
    host: f.host.trim(),
    port: Number(f.port),
    serverCa: f.serverCa.trim(),
    serverName: f.serverName.trim() === "" ? null : f.serverName.trim(),
    mqttVersion: f.mqttVersion,
    tls: base?.tls ?? true,
    lab: base?.lab ?? false,
    timeoutSecs: Number(f.timeoutSecs),
  };
}
