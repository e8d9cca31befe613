// Shared data for the component tests.
import type { StationStatus, Target, YieldStats } from "../lib/api-types";
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

const tally = (pass: number, fail: number, interrupted = 0, running = 0) => ({
  total: pass + fail + interrupted + running,
  pass,
  fail,
  interrupted,
  running,
});

/** The core's figures for a small shift: two hours, two models, failures at two steps. */
export const yieldStats = (over: Partial<YieldStats> = {}): YieldStats => ({
  filter: { from: null, to: null, result: null, operator: null, model: null, firmware: null, failedStep: null, deviceId: null, workOrder: null },
  bucket: "hour",
  tally: tally(45, 4, 1),
  firstStarted: "2026-03-02T08:01:00Z",
  lastStarted: "2026-03-02T09:58:00Z",
  unitsPerHour: 22.5,
  overTime: [
    { at: "2026-03-02T08:00:00Z", tally: tally(20, 0) },
    { at: "2026-03-02T09:00:00Z", tally: tally(25, 4, 1) },
  ],
  failuresByStep: [
    { key: "handshake", count: 3, cumulative: 0.6 },
    { key: "identify", count: 2, cumulative: 1 },
  ],
  failuresByCode: [
    { key: "broker.tls", count: 3, cumulative: 0.6 },
    { key: null, count: 2, cumulative: 1 },
  ],
  byModel: [
    { key: "SIM-1", tally: tally(40, 2) },
    { key: null, tally: tally(0, 1, 1) },
    { key: "SIM-2", tally: tally(5, 1) },
  ],
  byFirmware: [{ key: "1.0.0", tally: tally(45, 3) }],
  byWorkOrder: [{ key: "WO-7", tally: tally(45, 4, 1) }],
  stepTimes: [
    { step: "identify", count: 50, medianMs: 12, worstMs: 40 },
    { step: "handshake", count: 47, medianMs: 850, worstMs: 2500 },
  ],
  ...over,
});
