// Shared data for the component tests.
import type { StationStatus, Target } from "../lib/api-types";
import type { Report } from "../lib/bindings";

export const status = (over: Partial<StationStatus> = {}): StationStatus => ({
  stationDir: "/var/lib/commissioner",
  configured: true,
  stationId: "ST-01",
  organization: "Acme",
  lab: true,
  hasCa: true,
  caUnlocked: true,
  broker: null,
  labBrokerRunning: false,
  operatorsEnforced: false,
  operator: null,
  ...over,
});

export const port = (path: string, kind = "simulated"): Target => ({
  path,
  kind,
  model: null,
  family: null,
  autoEligible: true,
  vid: null,
  pid: null,
  serialNumber: null,
  manufacturer: null,
  product: null,
});

export const report = (over: Partial<Report> = {}): Report => ({
  sessionId: 7,
  result: "pass",
  deviceId: "SIM-0011aabb",
  model: "SIM-1",
  firmware: "1.0.0",
  certificateSerial: "5f3a",
  fingerprintSha256: "ab:cd",
  bootstrapSerial: null,
  steps: [
    { name: "identify", outcome: "ok", millis: 12, micros: 12000, error: null },
    { name: "keygen", outcome: "ok", millis: 340, micros: 340000, error: null },
  ],
  error: null,
  auditChecks: [],
  totalMillis: 1234,
  family: "reference",
  assurance: null,
  familyDetails: {},
  ...over,
});

/** A promise with its resolve handle, to hold an IPC call open. */
export function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
