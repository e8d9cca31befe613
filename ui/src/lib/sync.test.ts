import { describe, expect, it } from "vitest";
import { ago, syncView } from "./sync";

const now = new Date("2026-03-02T12:00:00Z");

describe("sync indicator", () => {
  it("says how long ago the last sync was", () => {
    expect(ago("2026-03-02T11:59:30Z", now)).toBe("just now");
    expect(ago("2026-03-02T11:45:00Z", now)).toBe("15 min ago");
    expect(ago("2026-03-02T09:00:00Z", now)).toBe("3 h ago");
    expect(ago("2026-02-27T12:00:00Z", now)).toBe("3 d ago");
  });

  it("is up to date with nothing waiting", () => {
    const v = syncView({ pending: 0, pendingSessions: 0, lastSync: "2026-03-02T11:59:50Z" }, now);
    expect(v.text).toBe("Central: up to date · last sync just now");
    expect(v.behind).toBe(false);
  });

  it("is behind when entries wait and the last sync is old or never happened", () => {
    const fresh = syncView({ pending: 3, pendingSessions: 1, lastSync: "2026-03-02T11:59:50Z" }, now);
    expect(fresh.text).toBe("Central: 3 waiting · last sync just now");
    expect(fresh.behind).toBe(false);
    const old = syncView({ pending: 40, pendingSessions: 38, lastSync: "2026-03-02T10:00:00Z" }, now);
    expect(old.behind).toBe(true);
    expect(old.title).toContain("38 session(s)");
    const never = syncView({ pending: 1, pendingSessions: 1, lastSync: null }, now);
    expect(never.text).toBe("Central: 1 waiting · never synced");
    expect(never.behind).toBe(true);
    expect(never.title).toContain("1 journal entry ");
  });
});
