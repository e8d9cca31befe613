import { describe, expect, it } from "vitest";
import { newTargets } from "./autocommission";

describe("newTargets", () => {
  it("finds appeared paths only", () => {
    expect(newTargets(new Set(["sim", "/dev/ttyUSB0"]), ["sim", "/dev/ttyUSB0", "/dev/pts/3"])).toEqual(["/dev/pts/3"]);
    expect(newTargets(new Set(["a"]), [])).toEqual([]);
  });
});
