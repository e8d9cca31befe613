import { describe, expect, it } from "vitest";
import { EMPTY_BARCODE, feedBarcode, isEditable, isPrintable, type BarcodeState } from "./barcode";

/** Feeds `keys` `gap` ms apart, starting at `start`; returns every scanned code. */
function type(keys: string[], gap: number, start = 1000, state: BarcodeState = EMPTY_BARCODE) {
  const scanned: string[] = [];
  const consumed: boolean[] = [];
  let s = state;
  keys.forEach((key, i) => {
    const step = feedBarcode(s, { key, time: start + i * gap });
    s = step.state;
    consumed.push(step.consumed);
    if (step.scanned !== null) scanned.push(step.scanned);
  });
  return { scanned, consumed, state: s };
}

const keys = (text: string) => [...text, "Enter"];

describe("barcode reader", () => {
  it("recognises a fast burst ended by Enter", () => {
    expect(type(keys("WO-2026-0042"), 10).scanned).toEqual(["WO-2026-0042"]);
  });

  it("ignores people typing slowly", () => {
    expect(type(keys("WO-1"), 200).scanned).toEqual([]);
  });

  it("ignores a stray key and Enter", () => {
    expect(type(keys("a"), 5).scanned).toEqual([]);
  });

  it("starts over after a pause, keeping only the fast burst", () => {
    const slow = type(["x", "y"], 500);
    const { scanned } = type(keys("B-77"), 8, 5000, slow.state);
    expect(scanned).toEqual(["B-77"]);
  });

  it("consumes the keys of a burst, including its Enter", () => {
    const { consumed } = type(keys("ABC"), 5);
    expect(consumed).toEqual([false, true, true, true]);
  });

  it("leaves keys typed into a field, and shortcuts, alone", () => {
    let s = EMPTY_BARCODE;
    for (const [i, key] of [..."ABCD"].entries()) {
      const step = feedBarcode(s, { key, time: i, inField: true });
      expect(step.consumed).toBe(false);
      s = step.state;
    }
    expect(feedBarcode(s, { key: "Enter", time: 5 }).scanned).toBeNull();
    const alt = feedBarcode({ buffer: "ABC", last: 0 }, { key: "1", time: 1, modified: true });
    expect(alt.state).toEqual(EMPTY_BARCODE);
  });

  it("keeps Shift inside a burst and breaks on other special keys", () => {
    expect(type(["A", "Shift", "B", "C", "Enter"], 5).scanned).toEqual(["ABC"]);
    expect(type(["A", "B", "Tab", "C", "Enter"], 5).scanned).toEqual([]);
  });

  it("knows printable keys and editable elements", () => {
    expect(isPrintable("a")).toBe(true);
    expect(isPrintable("Enter")).toBe(false);
    expect(isPrintable("ArrowUp")).toBe(false);
    const text = document.createElement("input");
    const box = document.createElement("input");
    box.type = "checkbox";
    expect(isEditable(text)).toBe(true);
    expect(isEditable(box)).toBe(false);
    expect(isEditable(document.createElement("button"))).toBe(false);
    expect(isEditable(null)).toBe(false);
  });
});
