import { describe, expect, it } from "vitest";
import type { PortInfo } from "./bindings";
import { sortTargets, targetLabel } from "./targets";

const port = (over: Partial<PortInfo>): PortInfo => ({
  path: "/dev/ttyUSB0",
  kind: "usb",
  vid: null,
  pid: null,
  serialNumber: null,
  manufacturer: null,
  product: null,
  ...over,
});

describe("targets", () => {
  it("names a simulated unit with its id and pseudo-terminal", () => {
    expect(targetLabel(port({ path: "/dev/pts/4", kind: "simulated", serialNumber: "SIM-0A" }))).toBe(
      "Simulated unit SIM-0A — /dev/pts/4",
    );
  });

  it("shows product, path, USB ids and serial number", () => {
    expect(
      targetLabel(port({ product: "CP2102", vid: 0x10c4, pid: 0xea60, serialNumber: "0001" })),
    ).toBe("CP2102 — /dev/ttyUSB0 10c4:ea60 SN 0001");
  });

  it("puts USB ports first and the simulated unit last", () => {
    const sorted = sortTargets([
      port({ path: "/dev/pts/4", kind: "simulated" }),
      port({ path: "/dev/ttyS0", kind: "unknown" }),
      port({ path: "/dev/ttyACM0", kind: "usb" }),
    ]);
    expect(sorted.map((p) => p.path)).toEqual(["/dev/ttyACM0", "/dev/ttyS0", "/dev/pts/4"]);
  });
});
