import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { port, status, yieldStats } from "./test/fixtures";

const ipc = vi.hoisted(() => ({
  stationStatus: vi.fn(),
  login: vi.fn(),
  logout: vi.fn(),
  unlockCa: vi.fn(),
  listTargets: vi.fn(),
  simFaults: vi.fn(),
  simKinds: vi.fn(),
  printLabel: vi.fn(),
  querySessions: vi.fn(),
  yieldStats: vi.fn(),
  lineStrip: vi.fn(),
  recentLogs: vi.fn(),
  subscribeLogs: vi.fn(),
  syncStatus: vi.fn(),
  uiReady: vi.fn(async () => ({ interactiveMs: 1, rssKib: 1, peakRssKib: 1 })),
}));
vi.mock("./lib/ipc", () => ipc);

import App from "./App.svelte";

const nav = () => [...document.querySelectorAll('[role="tab"]')].map((b) => b.id);

describe("App shell", () => {
  beforeEach(() => {
    for (const f of Object.values(ipc)) f.mockReset();
    ipc.listTargets.mockResolvedValue([port("sim")]);
    ipc.simFaults.mockResolvedValue(["none", "timeout"]);
    ipc.simKinds.mockResolvedValue(["reference", "zephyr-smp-group"]);
    ipc.querySessions.mockResolvedValue({ rows: [], total: 0, offset: 0 });
    ipc.yieldStats.mockResolvedValue(yieldStats());
    ipc.lineStrip.mockResolvedValue({
      since: "2026-03-02T00:00:00Z",
      tally: { total: 0, pass: 0, fail: 0, interrupted: 0, running: 0 },
      yieldRatio: 0,
      unitsPerHour: 0,
      topFailure: null,
    });
    ipc.recentLogs.mockResolvedValue([]);
    ipc.subscribeLogs.mockResolvedValue(undefined);
    ipc.syncStatus.mockResolvedValue(null);
  });

  it("shows the setup wizard on a station that is not configured", async () => {
    ipc.stationStatus.mockResolvedValue(status({ configured: false, hasCa: false, caUnlocked: false }));
    render(App);
    expect(await screen.findByLabelText("Organisation")).toHaveAttribute("id", "setup-organization");
    expect(nav()).toEqual([]);
  });

  it("asks for the CA passphrase, then shows every tab when operators are not enforced", async () => {
    ipc.stationStatus.mockResolvedValue(status({ caUnlocked: false }));
    ipc.unlockCa.mockResolvedValue(status());
    render(App);
    await userEvent.type(await screen.findByLabelText("CA passphrase"), "secret-pass");
    await userEvent.click(screen.getByRole("button", { name: "Unlock" }));
    await waitFor(() => expect(nav()).toHaveLength(7));
    expect(ipc.unlockCa).toHaveBeenCalledWith("secret-pass");
    expect(document.getElementById("sign-out")).toBeNull();
  });

  it("signs in, filters the tabs by role and signs out", async () => {
    ipc.stationStatus.mockResolvedValue(status({ operatorsEnforced: true }));
    ipc.login.mockResolvedValue({ id: "qa1", role: "qa" });
    ipc.logout.mockResolvedValue(undefined);
    render(App);
    await userEvent.type(await screen.findByLabelText("Operator id"), "qa1");
    await userEvent.type(screen.getByLabelText("PIN"), "1234");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(nav()).toEqual(["nav-journal", "nav-yield", "nav-audit", "nav-settings", "nav-log"]));
    expect(document.getElementById("signed-in")).toHaveTextContent("qa1");
    expect(screen.getByRole("tab", { name: "Journal" })).toHaveAttribute("aria-selected", "true");
    await waitFor(() => expect(screen.getByRole("tab", { name: "Journal" })).toHaveFocus());
    expect(ipc.listTargets).not.toHaveBeenCalled();

    await userEvent.click(document.getElementById("sign-out") as HTMLElement);
    expect(await screen.findByLabelText("Operator id")).toBeInTheDocument();
    expect(ipc.logout).toHaveBeenCalled();
  });

  it("shows the sync backlog in the status bar only at a station with a central store", async () => {
    ipc.stationStatus.mockResolvedValue(status());
    const { unmount } = render(App);
    await waitFor(() => expect(nav()).toHaveLength(7));
    await waitFor(() => expect(ipc.syncStatus).toHaveBeenCalled());
    expect(document.getElementById("sync-status")).toBeNull();
    unmount();

    ipc.syncStatus.mockResolvedValue({ pending: 12, pendingSessions: 4, lastSync: null });
    render(App);
    const bar = await screen.findByText(/Central: 12 waiting/);
    expect(bar).toHaveTextContent("never synced");
    expect(bar).toHaveAttribute("title", expect.stringContaining("4 session(s)"));
  });

  it("switches tabs with Alt+digit, and keeps the Line mounted", async () => {
    ipc.stationStatus.mockResolvedValue(status({ operatorsEnforced: true, operator: { id: "boss", role: "admin" } }));
    render(App);
    await waitFor(() => expect(nav()).toHaveLength(7));
    await waitFor(() => expect(document.querySelector('article.unit-card[data-target="sim"]')).not.toBeNull());
    await fireEvent.keyDown(window, { key: "4", code: "Digit4", altKey: true });
    await waitFor(() => expect(document.getElementById("nav-yield")).toHaveAttribute("aria-selected", "true"));
    await waitFor(() => expect(document.getElementById("tally-total")).toHaveTextContent("50"));
    await fireEvent.keyDown(window, { key: "7", code: "Digit7", altKey: true });
    await waitFor(() => expect(document.getElementById("nav-log")).toHaveAttribute("aria-selected", "true"));
    expect(document.getElementById("log-console")).not.toBeNull();
    expect(document.getElementById("panel-line")).not.toBeVisible();
    expect(document.querySelector('article.unit-card[data-target="sim"]')).not.toBeNull();
    await fireEvent.keyDown(window, { key: "1", code: "Digit1", altKey: true });
    await waitFor(() => expect(document.getElementById("panel-line")).toBeVisible());
    expect(ipc.listTargets).toHaveBeenCalledTimes(1);
  });
});
