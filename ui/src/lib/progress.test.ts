import { describe, expect, it } from "vitest";
import type { ProgressEvent, Report } from "./bindings";
import { applyProgress, finishSteps, initialSteps, stepLabel } from "./progress";

const ev = (step: string, index: number, status: ProgressEvent["status"], message = ""): ProgressEvent => ({
  step,
  index,
  total: 9,
  status,
  message,
});

const report = (result: Report["result"]): Report => ({
  sessionId: 1,
  result,
  deviceId: "SIM-0000abcd",
  model: null,
  firmware: null,
  certificateSerial: null,
  fingerprintSha256: null,
  bootstrapSerial: null,
  steps: [],
  error: null,
  auditChecks: [],
  totalMillis: 10,
  family: "reference",
  assurance: null,
  familyDetails: {},
});

describe("progress reducer", () => {
  it("starts with every pipeline step waiting", () => {
    const steps = initialSteps();
    expect(steps.map((s) => s.name)).toEqual([
      "identify",
      "keygen",
      "validate_csr",
      "issue",
      "write_cert",
      "prove_possession",
      "handshake",
      "audit",
      "lock",
    ]);
    expect(steps.every((s) => s.state === "pending")).toBe(true);
  });

  it("moves a step from running to passed and keeps the message", () => {
    let steps = initialSteps();
    steps = applyProgress(steps, ev("identify", 0, "started"));
    expect(steps[0]).toMatchObject({ state: "running" });
    steps = applyProgress(steps, ev("identify", 0, "passed", "SIM-1 model X fw 1.0"));
    expect(steps[0]).toEqual({ name: "identify", state: "passed", message: "SIM-1 model X fw 1.0" });
    expect(steps[1]?.state).toBe("pending");
  });

  it("does not mutate its input", () => {
    const before = initialSteps();
    const after = applyProgress(before, ev("keygen", 1, "failed"));
    expect(before[1]?.state).toBe("pending");
    expect(after[1]?.state).toBe("failed");
  });

  it("inserts a step it did not know at its index", () => {
    const steps = applyProgress(initialSteps(), ev("revoke_old", 7, "started"));
    expect(steps).toHaveLength(10);
    expect(steps[7]?.name).toBe("revoke_old");
    expect(steps[8]?.name).toBe("audit");
  });

  it("shows a step the station leaves out as skipped, with the reason", () => {
    const why = "not enabled for this station ([broker.audit] in_pipeline = false)";
    const steps = applyProgress(initialSteps(), ev("audit", 7, "skipped", why));
    expect(steps[7]).toEqual({ name: "audit", state: "skipped", message: why });
    expect(stepLabel("audit")).toBe("Broker security audit");
    // Once the run passes, it stays skipped rather than turning into a pass.
    expect(finishSteps(steps, report("pass"))[7]?.state).toBe("skipped");
  });

  it("marks steps that never ran as skipped once a run fails", () => {
    let steps = initialSteps();
    steps = applyProgress(steps, ev("identify", 0, "passed"));
    steps = applyProgress(steps, ev("keygen", 1, "started"));
    steps = finishSteps(steps, report("fail"));
    expect(steps.map((s) => s.state)).toEqual([
      "passed",
      "failed",
      "skipped",
      "skipped",
      "skipped",
      "skipped",
      "skipped",
      "skipped",
      "skipped",
    ]);
  });

  it("treats a missing report (IPC error) as a failure", () => {
    const steps = finishSteps(applyProgress(initialSteps(), ev("identify", 0, "started")), null);
    expect(steps[0]?.state).toBe("failed");
  });

  it("labels steps for people", () => {
    expect(stepLabel("prove_possession")).toBe("Prove key possession");
    expect(stepLabel("new_step")).toBe("new step");
  });
});
