// Typed wrappers over the shell's #[tauri::command]s (src-tauri/src/commands/*.rs).
// Every rejection is normalised to an IpcError `{code, message, detail}`; screens branch on
// `code` and show `friendlyMessage(error)`.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { IpcError, PortInfo, ProgressEvent, Report } from "./bindings";
import type {
  AppMetrics,
  AuditRun,
  BrokerForm,
  CommissionOptions,
  ConnectionTest,
  ExportCheck,
  ExportFormat,
  ExportOutcome,
  LineStrip,
  LogLine,
  Operator,
  Role,
  SessionDetails,
  SessionFilter,
  SessionPage,
  SettingsView,
  SetupRequest,
  StationStatus,
  StatsRequest,
  SyncStatus,
  Target,
  VerifySummary,
  YieldStats,
} from "./api-types";

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw toIpcError(e);
  }
}

function channel<T>(on: (message: T) => void): Channel<T> {
  const ch = new Channel<T>();
  ch.onmessage = on;
  return ch;
}

// ---- station, setup, sign-in ----

/** What the app knows about its station: decides setup, unlock, login or work. */
export const stationStatus = () => call<StationStatus>("station_status");
/** First run: station, CA (created or imported), first admin; signs the admin in. */
export const setupStation = (request: SetupRequest) =>
  call<StationStatus>("setup_station", { request });
/** Starts the lab broker (lab stations only) and points the broker profile at it. */
export const startLabBroker = () => call<StationStatus>("start_lab_broker");
/** Saves the broker profile (admin). */
export const saveBrokerProfile = (form: BrokerForm) =>
  call<StationStatus>("save_broker_profile", { form });
/** Connects to the broker of `form` over TLS and checks its certificate chain and name. */
export const testBroker = (form: BrokerForm) => call<ConnectionTest>("test_broker", { form });
/** Unlocks the CA for this run of the app. */
export const unlockCa = (passphrase: string) =>
  call<StationStatus>("unlock_ca", { passphrase });
export const login = (operator: string, pin: string) =>
  call<Operator>("login", { operator, pin });
export const logout = () => call<void>("logout");
/** Adds an operator (admin). */
export const addOperator = (id: string, role: Role, pin: string) =>
  call<Operator>("add_operator", { id, role, pin });
/** Disables an operator (admin); never the last admin. */
export const disableOperator = (id: string) => call<void>("disable_operator", { id });
/** Changes the signed-in operator's own PIN. */
export const changePin = (oldPin: string, newPin: string) =>
  call<void>("change_pin", { oldPin, newPin });

// ---- line ----

/** Serial ports the station sees, plus running simulated units. */
export const listTargets = () => call<Target[]>("list_targets");
/** Names of the faults a simulated unit can be started with. */
export const simFaults = () => call<string[]>("sim_faults");
/** Kinds of simulated unit (reference, nrf91-at, zephyr-smp-stock, zephyr-smp-group). */
export const simKinds = () => call<string[]>("sim_kinds");
/** Starts a simulated unit on a pseudo-terminal; it stays until stopped or the app exits.
 * Faults are simulated on reference units only. */
export const startSimulatedUnit = (fault: string | null, kind: string = "reference") =>
  call<PortInfo>("start_simulated_unit", { fault, kind });
export const stopSimulatedUnit = (path: string) => call<void>("stop_simulated_unit", { path });

/** Runs the whole pipeline on `target`; `onProgress` sees every step as it happens. */
export async function commission(
  target: string,
  onProgress: (event: ProgressEvent) => void,
  options: CommissionOptions = { recommission: false, workOrder: null },
): Promise<Report> {
  return call<Report>("commission", { target, options, onProgress: channel(onProgress) });
}
/** Asks the run on `target` to stop; it ends as interrupted. */
export const cancelCommission = (target: string) => call<void>("cancel_commission", { target });

// ---- journal ----

/** A page of sessions: this station's, or with `central` every station's from the central store. */
export const querySessions = (filter: SessionFilter, limit: number, offset: number, central = false) =>
  call<SessionPage>("query_sessions", { filter, limit, offset, central });
export const sessionDetails = (id: number) => call<SessionDetails>("session_details", { id });
/** Asks where to save (native dialog) and writes the export; null when the dialog is cancelled. */
export const exportJournal = (filter: SessionFilter, format: ExportFormat) =>
  call<ExportOutcome | null>("export_journal", { filter, format });
export const verifyJournal = () => call<VerifySummary>("verify_journal");
/** Asks for an export file (native dialog) and verifies it; null when cancelled. */
export const verifyExport = () => call<ExportCheck | null>("verify_export");

// ---- yield ----

/** The dashboard's figures for a filter, computed by the core (QA, admin). */
export const yieldStats = (request: StatsRequest) => call<YieldStats>("yield_stats", { request });
/** Today's tally and rate for the Line screen's strip; `utcOffsetMinutes` says where today starts. */
export const lineStrip = (utcOffsetMinutes: number) => call<LineStrip>("line_strip", { utcOffsetMinutes });
/** Asks where to save (native dialog), writes the work order's PDF + CSV report; null when cancelled. */
export const batchReport = (workOrder: string) => call<string | null>("batch_report", { workOrder });
/** Prints a passed session's label (the profile's printer and/or PDF); the PDF's path, if any. */
export const printLabel = (sessionId: number) => call<string | null>("print_label", { sessionId });

// ---- audit, settings, logs ----

export const runAudit = () => call<AuditRun>("run_audit");
export const settings = () => call<SettingsView>("settings");
/** Allows or forbids keys made on the station for units without a key generator (admins). */
export const setHostKeys = (allowed: boolean) => call<boolean>("set_host_keys", { allowed });
/** Writes a fresh CRL where the operator chooses (native dialog); null when cancelled. */
export const exportCrl = () => call<string | null>("export_crl");
/** The recent log lines, oldest first. */
export const recentLogs = () => call<LogLine[]>("recent_logs");
/** Streams every new log line to `onLine` until the window closes. */
export const subscribeLogs = (onLine: (line: LogLine) => void) =>
  call<void>("subscribe_logs", { onLine: channel(onLine) });

/** Tells the app its first screen takes input (start-up benchmark); returns its metrics. */
export const uiReady = () => call<AppMetrics>("ui_ready");

// ---- status bar ----

/** The central-store backlog and last successful sync; null without [central]. */
export const syncStatus = () => call<SyncStatus | null>("sync_status");

/** Whatever a rejected `invoke` carried, as an {@link IpcError}. */
export function toIpcError(e: unknown): IpcError {
  if (typeof e === "object" && e !== null && "code" in e && "message" in e) {
    const { code, message, detail } = e as Record<string, unknown>;
    return {
      code: String(code),
      message: String(message),
      detail: typeof detail === "string" ? detail : null,
    };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { code: "ipc.failed", message, detail: null };
}
