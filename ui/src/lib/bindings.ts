// Hand-written mirrors of the Rust types that cross the IPC boundary.
// Source of truth: crates/core (error.rs, device/discovery.rs, pipeline/report.rs,
// journal/mod.rs) and src-tauri/src/error.rs. Structs are camelCase, enum variants snake_case.
// `Option<T>` arrives as `null`; fields are typed `T | null` and read with `??`.

/** `commissioner_core::error::ErrorInfo` — and, over IPC, `commissioner_app::error::IpcError`. */
export interface ErrorInfo {
  /** Stable, dotted, lower-case code (`csr.cn_mismatch`). The UI branches on it. */
  code: string;
  /** Plain-language message written by the core. */
  message: string;
  /** Underlying cause, for the log and the details drawer. */
  detail: string | null;
}

/** What a rejected `invoke` carries. Same shape as {@link ErrorInfo}. */
export type IpcError = ErrorInfo;

/** `kind` of a target: core's port kinds plus the shell's synthetic simulated unit. */
export type PortKind = "usb" | "pci" | "bluetooth" | "unknown" | "simulated";

/** `commissioner_core::device::discovery::PortInfo` */
export interface PortInfo {
  path: string;
  kind: PortKind | string;
  vid: number | null;
  pid: number | null;
  serialNumber: string | null;
  manufacturer: string | null;
  product: string | null;
}

/** `commissioner_core::pipeline::StepStatus`; `skipped`: left out by the station's profile. */
export type StepStatus = "started" | "passed" | "failed" | "skipped";

/** `commissioner_core::pipeline::ProgressEvent` */
export interface ProgressEvent {
  step: string;
  /** Zero-based position of the step in {@link STEPS}. */
  index: number;
  total: number;
  status: StepStatus;
  message: string;
}

/** `commissioner_core::pipeline::StepReport` */
export interface StepReport {
  name: string;
  outcome: "ok" | "failed" | string;
  millis: number;
  error: ErrorInfo | null;
}

/** `commissioner_core::journal::SessionResult` */
export type SessionResult = "running" | "pass" | "fail" | "interrupted";

/** `commissioner_core::pipeline::Report` */
export interface Report {
  sessionId: number;
  result: SessionResult;
  deviceId: string | null;
  model: string | null;
  firmware: string | null;
  certificateSerial: string | null;
  fingerprintSha256: string | null;
  steps: StepReport[];
  error: ErrorInfo | null;
  totalMillis: number;
}

/** `commissioner_core::pipeline::STEPS`, in order. */
export const STEPS = [
  "identify",
  "keygen",
  "validate_csr",
  "issue",
  "write_cert",
  "prove_possession",
  "handshake",
  "audit",
  "lock",
] as const;

/** Path of the shell's synthetic "Simulated unit" target. */
export const SIM_TARGET = "sim";
