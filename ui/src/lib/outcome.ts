// Icon + word for every outcome the UI shows: never colour alone.
import type { CheckResult } from "./api-types";
import type { ErrorInfo, Report } from "./bindings";

export type UnitOutcome = "pass" | "fail" | "interrupted";

export const OUTCOME_TEXT: Readonly<Record<UnitOutcome, { icon: string; text: string }>> = {
  pass: { icon: "✔", text: "PASS" },
  fail: { icon: "✖", text: "FAIL" },
  interrupted: { icon: "■", text: "INTERRUPTED" },
};

/** The card's outcome: the report's result, or FAIL when the pipeline never ran. */
export function unitOutcome(report: Report | null, error: ErrorInfo | null): UnitOutcome | null {
  if (report) {
    if (report.result === "pass") return "pass";
    if (report.result === "interrupted") return "interrupted";
    return "fail";
  }
  return error ? "fail" : null;
}

export const CHECK_TEXT: Readonly<Record<CheckResult["outcome"], { icon: string; text: string }>> = {
  pass: { icon: "✔", text: "Pass" },
  fail: { icon: "✖", text: "Fail" },
  warn: { icon: "⚠", text: "Warning" },
  skipped: { icon: "–", text: "Skipped" },
};

/** "3 passed, 1 failed, 1 warning, 0 skipped" */
export function checkSummary(checks: readonly CheckResult[]): string {
  const n = (o: CheckResult["outcome"]) => checks.filter((c) => c.outcome === o).length;
  const warn = n("warn");
  return `${n("pass")} passed, ${n("fail")} failed, ${warn} ${warn === 1 ? "warning" : "warnings"}, ${n("skipped")} skipped`;
}

/** Icon + word for a step outcome as the journal and report store it ("ok", "failed", …). */
export function stepOutcomeText(outcome: string): { icon: string; text: string } {
  switch (outcome) {
    case "ok":
    case "passed":
    case "pass":
      return { icon: "✔", text: "Passed" };
    case "failed":
    case "fail":
      return { icon: "✖", text: "Failed" };
    case "skipped":
      return { icon: "–", text: "Skipped" };
    default:
      return { icon: "•", text: outcome };
  }
}

export function formatMillis(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}
