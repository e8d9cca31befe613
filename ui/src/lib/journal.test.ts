import { describe, expect, it } from "vitest";
import { EMPTY_FILTER_FORM, lastOffset, moveOffset, pageRange, toSessionFilter } from "./journal";

describe("journal filter", () => {
  it("turns empty fields into null", () => {
    expect(Object.values(toSessionFilter(EMPTY_FILTER_FORM)).every((v) => v === null)).toBe(true);
  });

  it("trims text and keeps the result", () => {
    const f = toSessionFilter({ ...EMPTY_FILTER_FORM, deviceId: " SIM-1 ", result: "fail" });
    expect(f.deviceId).toBe("SIM-1");
    expect(f.result).toBe("fail");
  });

  it("sends local days as the start and end instants", () => {
    const f = toSessionFilter({ ...EMPTY_FILTER_FORM, from: "2026-03-01", to: "2026-03-02" });
    expect(f.from).toBe(new Date(2026, 2, 1).toISOString());
    expect(f.to).toBe(new Date(2026, 2, 2, 23, 59, 59, 999).toISOString());
    expect(toSessionFilter({ ...EMPTY_FILTER_FORM, from: "garbage" }).from).toBeNull();
  });
});

describe("paging", () => {
  it("computes the last page", () => {
    expect(lastOffset(0)).toBe(0);
    expect(lastOffset(50)).toBe(0);
    expect(lastOffset(51)).toBe(50);
    expect(lastOffset(1_000_000)).toBe(999_950);
  });

  it("moves within bounds", () => {
    expect(moveOffset(0, 1, 120)).toBe(50);
    expect(moveOffset(100, 1, 120)).toBe(100);
    expect(moveOffset(50, -1, 120)).toBe(0);
    expect(moveOffset(0, -1, 120)).toBe(0);
  });

  it("summarises the page", () => {
    expect(pageRange(50, 50)).toBe("51–100");
    expect(pageRange(0, 0)).toBe("0");
  });
});
