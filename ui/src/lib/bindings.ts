// The pipeline's IPC types and step list, generated from Rust (see generated/bindings.ts).
export type {
  Assurance,
  ErrorInfo,
  IpcError,
  PortInfo,
  ProgressEvent,
  Report,
  SessionResult,
  StepReport,
  StepStatus,
} from "./generated/bindings";
export { STEPS } from "./generated/bindings";
