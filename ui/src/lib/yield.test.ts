import { describe, expect, it } from "vitest";
import type { ParetoBar } from "./api-types";
import {
  NO_KEY,
  dashboardFilter,
  isDefaultWindow,
  duration,
  groupRows,
  nextPollDelay,
  paretoSeries,
  perHour,
  percent,
  rateSeries,
  stepPareto,
  utcOffsetMinutes,
  yieldRatio,
} from "./yield";

const tally = (pass: number, fail: number, interrupted = 0, running = 0) => ({
  total: pass + fail + interrupted + running,
  pass,
  fail,
  interrupted,
  running,
});

describe("yield figures", () => {
  it("judges finished sessions only, as the core does", () => {
    expect(yieldRatio(tally(3, 1))).toBe(0.75);
    expect(yieldRatio(tally(1, 0, 1, 5))).toBe(0.5);
    expect(yieldRatio(tally(0, 0, 0, 2))).toBeNull();
  });

  it("formats percentages, rates and durations", () => {
    expect(percent(0.975)).toBe("97.5 %");
    expect(percent(1, 0)).toBe("100 %");
    expect(percent(null)).toBe("—");
    expect(perHour(12.345)).toBe("12.3 /h");
    expect(perHour(Number.NaN)).toBe("—");
    expect(duration(250)).toBe("250 ms");
    expect(duration(1250)).toBe("1.25 s");
    expect(duration(125_000)).toBe("2 min 5 s");
  });

  it("turns time buckets into chart columns, with a gap where nothing finished", () => {
    const s = rateSeries([
      { at: "2026-03-02T08:00:00Z", tally: tally(9, 1) },
      { at: "not a time", tally: tally(1, 0) },
      { at: "2026-03-02T09:00:00Z", tally: tally(0, 0, 0, 3) },
      { at: "2026-03-02T10:00:00Z", tally: tally(0, 2) },
    ]);
    expect(s.x).toEqual([Date.UTC(2026, 2, 2, 8) / 1000, Date.UTC(2026, 2, 2, 9) / 1000, Date.UTC(2026, 2, 2, 10) / 1000]);
    expect(s.ratePct).toEqual([90, null, 0]);
    expect(s.total).toEqual([10, 3, 2]);
  });

  it("keeps the core's Pareto order and cumulative share, folding a long tail into one bar", () => {
    const bars: ParetoBar[] = [
      { key: "handshake", count: 6, cumulative: 0.6 },
      { key: null, count: 2, cumulative: 0.8 },
      { key: "identify", count: 1, cumulative: 0.9 },
      { key: "lock", count: 1, cumulative: 1 },
    ];
    expect(stepPareto(bars)).toEqual({
      labels: ["Broker handshake", NO_KEY, "Identify unit", "Lock unit"],
      counts: [6, 2, 1, 1],
      cumulativePct: [60, 80, 90, 100],
    });
    const folded = paretoSeries(bars, (k) => k, 2);
    expect(folded.labels).toEqual(["handshake", NO_KEY, "2 other"]);
    expect(folded.counts).toEqual([6, 2, 2]);
    expect(folded.cumulativePct).toEqual([60, 80, 100]);
    expect(paretoSeries([])).toEqual({ labels: [], counts: [], cumulativePct: [] });
  });

  it("lists breakdowns with the most units first, naming the unreported group", () => {
    const rows = groupRows([
      { key: "SIM-2", tally: tally(1, 0) },
      { key: null, tally: tally(0, 3) },
      { key: "SIM-1", tally: tally(5, 5) },
    ]);
    expect(rows.map((r) => [r.key, r.yieldText])).toEqual([
      ["SIM-1", "50.0 %"],
      [NO_KEY, "0.0 %"],
      ["SIM-2", "100.0 %"],
    ]);
  });

  it("spaces live refreshes out after a slow query", () => {
    expect(nextPollDelay(5000, 200)).toBe(5000);
    expect(nextPollDelay(5000, 10_000)).toBe(40_000);
    expect(nextPollDelay(5000, -3)).toBe(5000);
  });

  it("gives the time zone east of UTC", () => {
    const d = new Date(2026, 0, 15);
    expect(utcOffsetMinutes(d)).toBe(-d.getTimezoneOffset());
  });
});

describe("dashboardFilter", () => {
  const none = { from: null, to: null, result: null, operator: null, model: null, firmware: null, failedStep: null, deviceId: null, workOrder: null };
  it("reads the last 30 days when nothing narrows the filter, and the filter as given otherwise", () => {
    const now = new Date("2026-12-04T12:00:00.456Z");
    expect(dashboardFilter(none, now)).toEqual({ ...none, from: "2026-11-04T12:00:00Z" });
    expect(isDefaultWindow(none)).toBe(true);
    const wo = { ...none, workOrder: "WO-1" };
    expect(dashboardFilter(wo, now)).toBe(wo);
    const dated = { ...none, from: "2025-01-01T00:00:00Z" };
    expect(dashboardFilter(dated, now)).toBe(dated);
    expect(isDefaultWindow(dated)).toBe(false);
  });
});
