import { describe, expect, it } from "vitest";
import type { StationStatus } from "./api-types";
import { routeFor, tabForShortcut, tabsFor } from "./nav";

const base: StationStatus = {
  stationDir: "/st",
  configured: true,
  stationId: "ST-1",
  organization: "Acme",
  lab: false,
  hasCa: true,
  caUnlocked: true,
  broker: null,
  labBrokerRunning: false,
  operatorsEnforced: false,
  operator: null,
};

describe("routing", () => {
  it("goes setup → unlock → login → main", () => {
    expect(routeFor({ ...base, configured: false })).toBe("setup");
    expect(routeFor({ ...base, caUnlocked: false })).toBe("unlock");
    expect(routeFor({ ...base, operatorsEnforced: true })).toBe("login");
    expect(routeFor({ ...base, operatorsEnforced: true, operator: { id: "a", role: "qa" } })).toBe("main");
    expect(routeFor(base)).toBe("main");
  });
});

describe("tabs by role", () => {
  const as = (role: "technician" | "field_engineer" | "qa" | "admin") =>
    tabsFor({ ...base, operatorsEnforced: true, operator: { id: "x", role } });

  it("gives everything when operators are not enforced", () => {
    expect(tabsFor(base)).toHaveLength(7);
  });

  it("filters by role", () => {
    expect(as("technician")).toEqual(["line", "settings"]);
    expect(as("field_engineer")).toEqual(["line", "recommission", "settings"]);
    expect(as("qa")).toEqual(["journal", "yield", "audit", "settings", "log"]);
    expect(as("admin")).toEqual(["line", "recommission", "journal", "yield", "audit", "settings", "log"]);
  });

  it("maps Alt+digit to allowed tabs only", () => {
    expect(tabForShortcut("3", as("qa"))).toBe("journal");
    expect(tabForShortcut("4", as("qa"))).toBe("yield");
    expect(tabForShortcut("5", as("qa"))).toBe("audit");
    expect(tabForShortcut("1", as("qa"))).toBeNull();
    expect(tabForShortcut("4", as("technician"))).toBeNull();
    expect(tabForShortcut("7", as("admin"))).toBe("log");
    expect(tabForShortcut("8", as("admin"))).toBeNull();
    expect(tabForShortcut("x", as("admin"))).toBeNull();
  });
});
