// Generated from the Rust types by src-tauri/src/bindings.rs (ts-rs). Do not edit:
// change the Rust, then run `UPDATE_BINDINGS=1 cargo test -p commissioner-app bindings`.

/**
 * An error as the UI, the CLI report and the journal see it.
 */

export type ErrorInfo = { 
/**
 * Stable, dotted, lower-case code (`csr.cn_mismatch`); the UI branches on it.
 */
code: string, 
/**
 * Plain-language message for the operator.
 */
message: string, 
/**
 * The underlying cause, for the log and the details drawer.
 */
detail: string | null, };

/**
 * An error as the web UI receives it when a command is rejected.
 */

export type IpcError = { 
/**
 * Stable, dotted, lower-case code, same namespace as the core's.
 */
code: string, 
/**
 * Plain-language message for the operator.
 */
message: string, 
/**
 * The underlying cause, for the log and the details drawer.
 */
detail: string | null, };

/**
 * A serial port as the operator chooses it.
 */

export type PortInfo = { path: string, 
/**
 * `usb`, `pci`, `bluetooth`, `unknown`, or `simulated` for a simulator entry.
 */
kind: string, vid: number | null, pid: number | null, serialNumber: string | null, manufacturer: string | null, product: string | null, };

/**
 * State of a step in a progress event.
 */

export type StepStatus = "started" | "passed" | "failed" | "skipped";

/**
 * One progress event.
 */

export type ProgressEvent = { step: string, 
/**
 * Zero-based position of the step in [`STEPS`].
 */
index: number, total: number, status: StepStatus, message: string, };

/**
 * One finished step in the report.
 */

export type StepReport = { name: string, 
/**
 * `ok`, `failed`, or `skipped` (left out by the station's profile, never run).
 */
outcome: string, millis: number, 
/**
 * The same duration in microseconds: most simulator steps take well under a millisecond.
 */
micros: number, error: ErrorInfo | null, };

/**
 * The outcome of one commissioning attempt.
 */

export type Report = { 
/**
 * Journal row id; 0 when the journal could not even be opened.
 */
sessionId: number, result: SessionResult, deviceId: string | null, model: string | null, firmware: string | null, certificateSerial: string | null, fingerprintSha256: string | null, 
/**
 * In-band provisioning: the bootstrap certificate the unit exchanged for the operational
 * one (`certificate_serial`); revoked once the operational one is proven.
 */
bootstrapSerial: string | null, steps: Array<StepReport>, 
/**
 * Broker audit checks recorded with this session: the `audit` step's, and the protocol
 * version warning of a 3.1.1 handshake.
 */
auditChecks: Array<CheckResult>, error: ErrorInfo | null, totalMillis: number, 
/**
 * The device family the station spoke to the unit with.
 */
family: string, 
/**
 * What the session may claim about the unit's key; absent when it never got a key.
 */
assurance: Assurance | null, 
/**
 * What a family reports beyond the common fields (nRF91: `imei`, `sec_tag`,
 * `attested_uuid`, `attestation_token`).
 */
familyDetails: { [key in string]: string }, };

/**
 * Where a session's key came from, what bound its CSR to the unit, and whether the unit itself
 * completed the handshake: what QA may conclude about a certificate beyond its issuance.
 */

export type Assurance = { 
/**
 * `unit` (made on the unit, never left it) or `station` (made here and injected).
 */
keyMade: string, 
/**
 * What tied the CSR (or key) to this unit.
 */
boundBy: string, 
/**
 * The unit signed its own side of the live TLS handshake.
 */
handshakeAsUnit: boolean, 
/**
 * Why the handshake did not run although the family can run it (e.g. a broker that
 * speaks TLS 1.2 only, which the profile allows): the session is weaker for it.
 */
handshakeNote?: string, };

/**
 * Final state of a session.
 */

export type SessionResult = "running" | "pass" | "fail" | "interrupted";

/**
 * A session row as read back.
 */

export type SessionRow = { id: number, startedAt: string, endedAt: string | null, stationId: string, operator: string, port: string, deviceId: string | null, model: string | null, firmware: string | null, result: SessionResult, errorCode: string | null, errorMessage: string | null, workOrder: string | null, failedStep: string | null, };

/**
 * A step row as read back.
 */

export type StepRow = { name: string, startedAt: string, endedAt: string, outcome: string, errorCode: string | null, detail: string | null, };

/**
 * A certificate row as read back.
 */

export type CertificateRow = { serial: string, sessionId: number, deviceId: string, sha256: string, status: string, 
/**
 * Where the key was generated: on the unit, or by the station under its policy.
 */
keyOrigin: KeyOrigin, pem: string, };

/**
 * Where a unit's key was generated.
 */

export type KeyOrigin = "device" | "host";

/**
 * Filters QA applies to sessions; every field optional, all of them ANDed.
 */

export type SessionFilter = { 
/**
 * Inclusive lower bound on `started_at`, RFC 3339.
 */
from: string | null, 
/**
 * Exclusive upper bound on `started_at`, RFC 3339.
 */
to: string | null, result: string | null, operator: string | null, model: string | null, firmware: string | null, failedStep: string | null, deviceId: string | null, workOrder: string | null, };

/**
 * How wide a time bucket is.
 */

export type Bucket = "hour" | "day";

/**
 * What to compute.
 */

export type StatsRequest = { filter: SessionFilter, bucket: Bucket, };

/**
 * Counts of one group of sessions.
 */

export type Tally = { total: number, pass: number, fail: number, interrupted: number, running: number, };

/**
 * One time bucket.
 */

export type TimePoint = { 
/**
 * The bucket's start, RFC 3339 (`2026-12-04T08:00:00Z`).
 */
at: string, tally: Tally, };

/**
 * One group (a model, a firmware, a work order).
 */

export type Group = { 
/**
 * `None` for sessions that never reported it (e.g. failed before identify).
 */
key: string | null, tally: Tally, };

/**
 * One bar of a Pareto chart: failures sharing a cause, most frequent first.
 */

export type ParetoBar = { key: string | null, count: number, 
/**
 * Share of all failures up to and including this bar, 0..=1.
 */
cumulative: number, };

/**
 * How long one step takes.
 */

export type StepTime = { step: string, count: number, medianMs: number, worstMs: number, };

/**
 * Everything the dashboard shows for one filter.
 */

export type YieldStats = { filter: SessionFilter, bucket: Bucket, tally: Tally, firstStarted: string | null, lastStarted: string | null, 
/**
 * Passed units per hour between the first and the last session (at least one hour).
 */
unitsPerHour: number, overTime: Array<TimePoint>, failuresByStep: Array<ParetoBar>, failuresByCode: Array<ParetoBar>, byModel: Array<Group>, byFirmware: Array<Group>, byWorkOrder: Array<Group>, stepTimes: Array<StepTime>, };

/**
 * The technician's strip on the Line screen: today's counts and rate, nothing more (the
 * breakdowns, and who ran what, are QA's).
 */

export type LineStrip = { 
/**
 * The start of the day counted (the station's local midnight), RFC 3339 UTC.
 */
since: string, tally: Tally, 
/**
 * Passes over finished sessions, 0..=1 (as [`Tally::yield_ratio`]).
 */
yieldRatio: number, 
/**
 * Passed units per hour from the day's first session until now (at least one hour), so
 * the rate falls while the line stands still.
 */
unitsPerHour: number, 
/**
 * The most frequent error code among the day's failures.
 */
topFailure: ParetoBar | null, };

/**
 * Export file formats.
 */

export type ExportFormat = "csv" | "jsonl";

/**
 * Result of one check.
 */

export type Outcome = "pass" | "fail" | "warn" | "skipped" | "inconclusive";

/**
 * One check's outcome and what the broker said.
 */

export type CheckResult = { 
/**
 * One of [`crate::station::AUDIT_CHECKS`].
 */
name: string, outcome: Outcome, evidence: string, };

/**
 * What "Test connection" found.
 */

export type ConnectionTest = { 
/**
 * The broker answered and its certificate verified.
 */
ok: boolean, 
/**
 * Stable code of the failure (`mqtt.unreachable`, `mqtt.server_name_mismatch`, …).
 */
code: string | null, 
/**
 * What was checked, or what went wrong, for the technician.
 */
message: string, millis: number, };

/**
 * What an operator may do.
 */

export type Role = "technician" | "field_engineer" | "qa" | "admin";

/**
 * An operator who has a PIN at this station.
 */

export type Operator = { id: string, role: Role, };

/**
 * One line of the live log console.
 */

export type LogLine = { 
/**
 * RFC 3339, UTC.
 */
ts: string, level: "ERROR" | "WARN" | "INFO" | "DEBUG" | "TRACE", target: string, message: string, };

/**
 * The broker profile fields a person edits; the rest (topics, retries, audit checks) keep
 * their values from station.toml.
 */

export type BrokerForm = { host: string, port: number, 
/**
 * PEM file of the CA the broker's certificate chains to (absolute, or relative to the
 * station directory).
 */
serverCa: string, 
/**
 * The name the broker's certificate must carry when it is not `host`.
 */
serverName: string | null, mqttVersion: "5" | "3.1.1", tls: boolean, lab: boolean, timeoutSecs: number, };

/**
 * What decides which screen the app shows: set-up, unlock, sign-in or work.
 */

export type StationStatus = { stationDir: string, 
/**
 * station.toml exists.
 */
configured: boolean, stationId: string | null, organization: string | null, lab: boolean, hasCa: boolean, caUnlocked: boolean, broker: BrokerForm | null, 
/**
 * A lab broker started by this app is running.
 */
labBrokerRunning: boolean, 
/**
 * The station has operators, so every action needs a sign-in.
 */
operatorsEnforced: boolean, operator: Operator | null, };

/**
 * Where the station's CA comes from.
 */

export type CaSource = { "kind": "create", rootKeyOut: string | null, rootPassphrase: string | null, } | { "kind": "import", cert: string, root: string, key: string, keyPassphrase: string | null, };

export type AdminForm = { id: string, pin: string, };

/**
 * What the setup wizard sends.
 */

export type SetupRequest = { organization: string, 
/**
 * Encrypts the CA keys; asked for when the app starts.
 */
passphrase: string, ca: CaSource, 
/**
 * A lab station may run a lab broker started by the app.
 */
lab: boolean, admin: AdminForm, };

/**
 * Options of one run.
 */

export type CommissionOptions = { 
/**
 * Re-key a unit that is already commissioned (field engineers).
 */
recommission: boolean, 
/**
 * Work order or batch id (barcode), recorded with the session.
 */
workOrder: string | null, };

/**
 * A port the line can commission, with what the station profile says about it.
 */

export type Target = { 
/**
 * The model `[[models]]` gives its USB VID:PID.
 */
model: string | null, 
/**
 * Line mode may start it without a click: a simulated unit, or a port whose VID:PID
 * names a model of the profile. Without `[[models]]` hardware ports wait for a click (as
 * `commissioner line` refuses to start): a console cable or a modem is never written to
 * unasked.
 */
autoEligible: boolean, 
/**
 * The device family the station speaks to it, where known before the unit answers: the
 * emulator's for a simulated unit, the profile's `[[models]]` entry for a USB port.
 */
family: string | null, path: string, 
/**
 * `usb`, `pci`, `bluetooth`, `unknown`, or `simulated` for a simulator entry.
 */
kind: string, vid: number | null, pid: number | null, serialNumber: string | null, manufacturer: string | null, product: string | null, };

/**
 * One page of sessions, newest first.
 */

export type SessionPage = { rows: Array<SessionRow>, 
/**
 * Sessions matching the filter in all.
 */
total: number, offset: number, };

/**
 * A journaled audit check, as stored.
 */

export type StoredCheck = { name: string, outcome: Outcome, evidence: string, };

/**
 * Everything QA sees about one session.
 */

export type SessionDetails = { session: SessionRow, steps: Array<StepRow>, certificates: Array<CertificateRow>, deviceLog: Array<string>, auditChecks: Array<StoredCheck>, };

/**
 * A written export and its signed manifest.
 */

export type ExportOutcome = { path: string, manifestPath: string, rows: number, chainHead: string, };

/**
 * `journal verify` as the UI shows it.
 */

export type VerifySummary = { ok: boolean, entries: number, sealedSessions: number, runningSessions: number, head: string, 
/**
 * The first broken link, with its code; `None` when the chain holds.
 */
firstProblem: string | null, problemCode: string | null, millis: number, };

/**
 * `journal verify-export` as the UI shows it.
 */

export type ExportCheck = { path: string, ok: boolean, rows: number, stationId: string | null, chainHead: string | null, 
/**
 * Why the export does not verify.
 */
problem: IpcError | null, };

/**
 * A finished audit, recorded as a journal session.
 */

export type AuditRun = { sessionId: number, 
/**
 * `host:port` of the audited broker.
 */
broker: string, checks: Array<CheckResult>, };

/**
 * The station's issuing CA as Settings shows it.
 */

export type CaDetails = { subject: string, issuer: string, serial: string, notBefore: string, notAfter: string, fingerprintSha256: string, 
/**
 * `file` (encrypted PKCS#8) or `pkcs11`.
 */
keyStorage: string, };

export type SettingsView = { status: StationStatus, ca: CaDetails | null, operators: Array<Operator>, 
/**
 * The profile's `policy.allow_host_generated_key`: units without a key generator (stock
 * Zephyr) get a key made on the station, recorded as weaker.
 */
hostKeysAllowed: boolean, };

/**
 * The station's delivery to the central store.
 */

export type SyncStatus = { 
/**
 * Journal entries waiting for delivery (the outbox).
 */
pending: number, 
/**
 * Sealed sessions among them.
 */
pendingSessions: number, 
/**
 * When the central store last accepted a batch from this station (RFC 3339); never: null.
 */
lastSync: string | null, };

export type AppMetrics = { 
/**
 * From process start to the UI's first interactive screen (10 ms resolution).
 */
interactiveMs: number | null, rssKib: number | null, peakRssKib: number | null, 
/**
 * This process, so that a benchmark measures it and the WebKit processes it started,
 * not another instance.
 */
pid: number, };

/** `commissioner_core::pipeline::STEPS`, in order. */
export const STEPS = ["identify", "keygen", "validate_csr", "issue", "write_cert", "prove_possession", "handshake", "audit", "lock"] as const;

/** Error codes the desktop shell itself produces (`commissioner_app::error::APP_CODES`). */
export const APP_ERROR_CODES = ["app.no_dialog", "app.task_failed", "broker.invalid", "ca.locked", "ca.unlock_throttled", "ca.unreadable", "journal.no_session", "lab.not_a_lab_station", "line.busy", "line.unknown_port", "operator.sign_in_required", "setup.admin_id", "setup.organization", "setup.weak_passphrase", "sim.start_failed", "sim.unknown_fault", "sim.unknown_kind", "station.exists"] as const;
