// The step list as a pure reducer over progress events, so it can be tested without a window.
import { STEPS, type ProgressEvent, type Report } from "./bindings";

export type StepState = "pending" | "running" | "passed" | "failed" | "skipped";

export interface StepView {
  name: string;
  state: StepState;
  message: string;
}

const LABELS: Readonly<Record<string, string>> = {
  identify: "Identify unit",
  keygen: "Generate key on unit",
  validate_csr: "Check certificate request",
  issue: "Issue certificate",
  write_cert: "Write certificate",
  prove_possession: "Prove key possession",
  handshake: "Broker handshake",
  audit: "Broker security audit",
  lock: "Lock unit",
};

/** Human label of a pipeline step; unknown steps keep their name. */
export function stepLabel(name: string): string {
  return LABELS[name] ?? name.replaceAll("_", " ");
}

/** Icon and word for a state: never colour alone. */
export const STATE_TEXT: Readonly<Record<StepState, { icon: string; text: string }>> = {
  pending: { icon: "○", text: "Waiting" },
  running: { icon: "▶", text: "Running" },
  passed: { icon: "✔", text: "Passed" },
  failed: { icon: "✖", text: "Failed" },
  skipped: { icon: "–", text: "Skipped" },
};

/** Every known step, waiting. */
export function initialSteps(): StepView[] {
  return STEPS.map((name) => ({ name, state: "pending", message: "" }));
}

/** The list after one progress event. Unknown steps are inserted at their index. */
export function applyProgress(steps: readonly StepView[], event: ProgressEvent): StepView[] {
  const state: StepState =
    event.status === "started"
      ? "running"
      : event.status === "passed"
        ? "passed"
        : event.status === "skipped"
          ? "skipped"
          : "failed";
  const next = steps.map((s) => ({ ...s }));
  const at = next.findIndex((s) => s.name === event.step);
  const view: StepView = { name: event.step, state, message: event.message };
  if (at >= 0) {
    next[at] = view;
  } else {
    next.splice(Math.min(Math.max(event.index, 0), next.length), 0, view);
  }
  return next;
}

/** The list once the report is in: steps that never ran are skipped, a running one failed. */
export function finishSteps(steps: readonly StepView[], report: Report | null): StepView[] {
  const failed = report?.result !== "pass";
  return steps.map((s) => {
    if (s.state === "pending") return { ...s, state: "skipped" };
    if (s.state === "running") return { ...s, state: failed ? "failed" : "passed" };
    return { ...s };
  });
}
