import { describe, expect, it } from "vitest";
import type { LogLine } from "./api-types";
import { appendCapped, atLeast } from "./logbuffer";

const line = (level: LogLine["level"]): LogLine => ({ ts: "t", level, target: "x", message: "m" });

describe("log buffer", () => {
  it("keeps the newest lines up to the cap", () => {
    const out = appendCapped([1, 2, 3], [4, 5], 4);
    expect(out).toEqual([2, 3, 4, 5]);
    expect(appendCapped([1], [2], 4)).toEqual([1, 2]);
  });

  it("filters by severity", () => {
    expect(atLeast(line("ERROR"), "WARN")).toBe(true);
    expect(atLeast(line("WARN"), "WARN")).toBe(true);
    expect(atLeast(line("INFO"), "WARN")).toBe(false);
    expect(atLeast(line("TRACE"), "TRACE")).toBe(true);
  });
});
