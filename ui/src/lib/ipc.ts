// Typed wrappers over the shell's #[tauri::command]s (src-tauri/src/commands.rs).
import { Channel, invoke } from "@tauri-apps/api/core";
import type { IpcError, PortInfo, ProgressEvent, Report } from "./bindings";

/** Serial ports the station sees, plus the simulated unit (path `sim`). */
export async function listTargets(): Promise<PortInfo[]> {
  try {
    return await invoke<PortInfo[]>("list_targets");
  } catch (e) {
    throw toIpcError(e);
  }
}

/** Runs the whole pipeline on `target`; `onProgress` sees every step as it happens. */
export async function commission(
  target: string,
  onProgress: (event: ProgressEvent) => void,
): Promise<Report> {
  const channel = new Channel<ProgressEvent>();
  channel.onmessage = onProgress;
  try {
    return await invoke<Report>("commission", { target, onProgress: channel });
  } catch (e) {
    throw toIpcError(e);
  }
}

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
