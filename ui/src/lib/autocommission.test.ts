import { describe, expect, it } from "vitest";
import type { Target } from "./api-types";
import { autoCandidates, newTargets } from "./autocommission";

const p = (path: string, serialNumber: string | null = null, autoEligible = true): Target => ({
  path,
  model: null,
  family: null,
  autoEligible,
  kind: "usb",
  vid: 1,
  pid: 2,
  serialNumber,
  manufacturer: null,
  product: null,
});

describe("auto-commission", () => {
  it("finds appeared paths only", () => {
    expect(newTargets(new Set(["sim", "/dev/ttyUSB0"]), ["sim", "/dev/ttyUSB0", "/dev/pts/3"])).toEqual(["/dev/pts/3"]);
    expect(newTargets(new Set(["a"]), [])).toEqual([]);
  });

  it("skips a unit that passed and came back (re-enumerated after reboot)", () => {
    const current = [p("/dev/ttyACM0", "A1"), p("/dev/ttyACM1", "B2"), p("/dev/pts/3")];
    expect(autoCandidates(new Set(["/dev/ttyACM0"]), current, new Set(["A1", "B2"])).map((x) => x.path)).toEqual([
      "/dev/pts/3",
    ]);
    expect(autoCandidates(new Set(), current, new Set()).map((x) => x.path)).toHaveLength(3);
  });

  it("leaves ports the station profile does not name alone", () => {
    const current = [p("/dev/ttyS0", null, false), p("/dev/ttyUSB1", "C3")];
    expect(autoCandidates(new Set(), current, new Set()).map((x) => x.path)).toEqual(["/dev/ttyUSB1"]);
  });
});
