// The desktop shell's IPC types beyond the pipeline's (see bindings.ts for those).
// Source of truth: src-tauri/src/*.rs and crates/core. These names are what the generated
// types (ui/src/lib/generated/) export; this file re-exports them once generation lands.
import type { ErrorInfo } from "./bindings";

export type Role = "technician" | "field_engineer" | "qa" | "admin";

/** `commissioner_core::operator::Operator` */
export interface Operator {
  id: string;
  role: Role;
}

/** `commissioner_app::station::BrokerForm` — the editable broker profile. */
export interface BrokerForm {
  host: string;
  port: number;
  /** PEM file of the CA the broker's certificate chains to (absolute, or relative to the station). */
  serverCa: string;
  /** Name the broker certificate must carry when it is not `host`. */
  serverName: string | null;
  mqttVersion: "5" | "3.1.1";
  tls: boolean;
  lab: boolean;
  timeoutSecs: number;
}

/** `commissioner_app::station::StationStatus` — what decides which screen shows first. */
export interface StationStatus {
  stationDir: string;
  /** station.toml exists. */
  configured: boolean;
  stationId: string | null;
  organization: string | null;
  lab: boolean;
  hasCa: boolean;
  caUnlocked: boolean;
  broker: BrokerForm | null;
  /** A lab broker started by this app is running. */
  labBrokerRunning: boolean;
  /** At least one operator exists, so every action needs a sign-in. */
  operatorsEnforced: boolean;
  /** The signed-in operator, if any. */
  operator: Operator | null;
}

/** Where the station's CA comes from in the setup wizard. */
export type CaSource =
  | { kind: "create" }
  | { kind: "import"; cert: string; root: string; key: string; keyPassphrase: string | null };

/** `commissioner_app::station::SetupRequest` */
export interface SetupRequest {
  organization: string;
  /** Encrypts the CA keys; asked again when the app starts. */
  passphrase: string;
  ca: CaSource;
  /** A lab station may use a lab broker started by the app. */
  lab: boolean;
  admin: { id: string; pin: string };
}

/** Result of "Test connection": reached the broker and checked its certificate. */
export interface ConnectionTest {
  ok: boolean;
  /** Stable code when not ok (`mqtt.tls_untrusted_server`, `mqtt.unreachable`, …). */
  code: string | null;
  /** What was checked, for the technician. */
  message: string;
  millis: number;
}

/** Options of one commissioning run. */
export interface CommissionOptions {
  recommission: boolean;
  /** Work order or batch id (barcode), recorded with the session. */
  workOrder: string | null;
}

/** `commissioner_core::journal::SessionFilter` — every field optional, all ANDed. */
export interface SessionFilter {
  from: string | null;
  to: string | null;
  result: string | null;
  operator: string | null;
  model: string | null;
  firmware: string | null;
  failedStep: string | null;
  deviceId: string | null;
  workOrder: string | null;
}

/** `commissioner_core::journal::SessionRow` */
export interface SessionRow {
  id: number;
  startedAt: string;
  endedAt: string | null;
  stationId: string;
  operator: string;
  port: string;
  deviceId: string | null;
  model: string | null;
  firmware: string | null;
  result: "running" | "pass" | "fail" | "interrupted";
  errorCode: string | null;
  errorMessage: string | null;
  workOrder: string | null;
  failedStep: string | null;
}

/** One page of sessions, newest first. */
export interface SessionPage {
  rows: SessionRow[];
  /** Sessions matching the filter in all. */
  total: number;
  offset: number;
}

/** `commissioner_core::journal::StepRow` */
export interface StepRow {
  name: string;
  startedAt: string;
  endedAt: string;
  outcome: string;
  errorCode: string | null;
  detail: string | null;
}

/** `commissioner_core::journal::CertificateRow` */
export interface CertificateRow {
  serial: string;
  sessionId: number;
  deviceId: string;
  sha256: string;
  status: string;
  pem: string;
}

/** `commissioner_core::mqtt::audit::CheckResult` */
export interface CheckResult {
  name: string;
  outcome: "pass" | "fail" | "warn" | "skipped";
  evidence: string;
}

/** Everything QA sees about one session. */
export interface SessionDetails {
  session: SessionRow;
  steps: StepRow[];
  certificates: CertificateRow[];
  deviceLog: string[];
  auditChecks: CheckResult[];
}

export type ExportFormat = "csv" | "jsonl";

/** A written export and its signed manifest. */
export interface ExportOutcome {
  path: string;
  manifestPath: string;
  rows: number;
  chainHead: string | null;
}

/** `journal verify` as the UI shows it. */
export interface VerifySummary {
  ok: boolean;
  /** Chain entries checked. */
  entries: number;
  head: string | null;
  /** The first broken link, in words; null when ok. */
  firstProblem: string | null;
  millis: number;
}

/** `journal verify-export` as the UI shows it. */
export interface ExportCheck {
  path: string;
  ok: boolean;
  rows: number;
  stationId: string;
  chainHead: string | null;
  /** Why the export does not verify; null when ok. */
  problem: ErrorInfo | null;
}

/** A broker audit run, recorded as a journal session. */
export interface AuditRun {
  sessionId: number;
  broker: string;
  checks: CheckResult[];
}

/** The station's issuing CA as Settings shows it. */
export interface CaDetails {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  fingerprintSha256: string;
  /** `file` (encrypted PKCS#8) or `pkcs11`. */
  keyStorage: string;
}

export interface SettingsView {
  status: StationStatus;
  ca: CaDetails | null;
  operators: Operator[];
}

/** One line of the live log console. */
export interface LogLine {
  /** RFC 3339 UTC. */
  ts: string;
  level: "ERROR" | "WARN" | "INFO" | "DEBUG" | "TRACE";
  target: string;
  message: string;
}
