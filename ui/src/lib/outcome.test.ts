import { describe, expect, it } from "vitest";
import type { Report } from "./bindings";
import { assuranceSummary, checkSummary, formatMillis, stepOutcomeText, unitOutcome } from "./outcome";

const report = (result: Report["result"]) => ({ result }) as Report;

describe("outcomes", () => {
  it("says what an nRF91 session may claim, and what a reference one may", () => {
    expect(
      assuranceSummary({ keyMade: "unit", boundBy: "CSR bound to the device UUID by attestation", handshakeAsUnit: false }),
    ).toBe("key made on the unit, CSR bound to the device UUID by attestation, handshake not run as the unit");
    expect(assuranceSummary({ keyMade: "station", boundBy: "injected", handshakeAsUnit: true })).toMatch(
      /^key made on the station, injected, handshake run as the unit$/,
    );
  });

  it("reads the card outcome", () => {
    expect(unitOutcome(null, null)).toBeNull();
    expect(unitOutcome(null, { code: "ca.locked", message: "", detail: null })).toBe("fail");
    expect(unitOutcome(report("pass"), null)).toBe("pass");
    expect(unitOutcome(report("interrupted"), null)).toBe("interrupted");
    expect(unitOutcome(report("fail"), null)).toBe("fail");
  });

  it("summarises audit checks", () => {
    expect(
      checkSummary([
        { name: "a", outcome: "pass", evidence: "" },
        { name: "b", outcome: "warn", evidence: "" },
        { name: "c", outcome: "fail", evidence: "" },
      ]),
    ).toBe("1 passed, 1 failed, 1 warning, 0 skipped");
    expect(
      checkSummary([
        { name: "a", outcome: "inconclusive", evidence: "" },
        { name: "b", outcome: "inconclusive", evidence: "" },
      ]),
    ).toBe("0 passed, 0 failed, 0 warnings, 0 skipped, 2 inconclusive");
  });

  it("words step outcomes and times", () => {
    expect(stepOutcomeText("ok").text).toBe("Passed");
    expect(stepOutcomeText("failed").icon).toBe("✖");
    expect(formatMillis(250)).toBe("250 ms");
    expect(formatMillis(1500)).toBe("1.5 s");
  });
});
