import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { SessionRow } from "../lib/api-types";
import { sharedFilter } from "../lib/shared-filter.svelte";

const ipc = vi.hoisted(() => ({
  querySessions: vi.fn(),
  sessionDetails: vi.fn(),
  exportJournal: vi.fn(),
  verifyJournal: vi.fn(),
  verifyExport: vi.fn(),
  syncStatus: vi.fn(),
}));
vi.mock("../lib/ipc", () => ipc);

import Journal from "./Journal.svelte";

const TOTAL = 1_000_000;

const row = (id: number): SessionRow => ({
  id,
  startedAt: "2026-11-23T10:00:00Z",
  endedAt: "2026-11-23T10:00:05Z",
  stationId: "ST-01",
  operator: "tech1",
  port: "/dev/ttyUSB0",
  deviceId: `DEV-${id}`,
  model: "M1",
  firmware: "1.0",
  result: id % 2 ? "pass" : "fail",
  errorCode: id % 2 ? null : "device.timeout",
  errorMessage: null,
  workOrder: "WO-1",
  failedStep: id % 2 ? null : "identify",
});

const page = (_f: unknown, limit: number, offset: number) =>
  Promise.resolve({
    rows: Array.from({ length: Math.min(limit, TOTAL - offset) }, (_, i) => row(TOTAL - offset - i)),
    total: TOTAL,
    offset,
  });

const el = (id: string) => document.getElementById(id) as HTMLElement;
const rows = () => document.querySelectorAll("#journal-table tbody tr[data-session]");

describe("Journal", () => {
  beforeEach(() => {
    for (const f of Object.values(ipc)) f.mockReset();
    // The filter outlives a mounted screen (it is shared with the Yield screen).
    sharedFilter.reset();
    ipc.querySessions.mockImplementation(page);
    ipc.syncStatus.mockResolvedValue(null);
  });

  it("shows every station's sessions from the central store, with the station, where there is one", async () => {
    const first = render(Journal);
    await waitFor(() => expect(rows()).toHaveLength(50));
    expect(document.getElementById("scope-central")).toBeNull();
    first.unmount();

    ipc.syncStatus.mockResolvedValue({ pending: 0, pendingSessions: 0, lastSync: "2026-12-04T10:00:00Z" });
    ipc.querySessions.mockImplementation((_f: unknown, limit: number, offset: number, central?: boolean) =>
      page(_f, limit, offset).then((p) => ({
        ...p,
        rows: p.rows.map((r) => ({ ...r, stationId: central ? `ST-0${r.id % 3}` : r.stationId })),
      })),
    );
    render(Journal);
    await userEvent.click(await screen.findByLabelText(/all stations/));
    await waitFor(() => expect(ipc.querySessions).toHaveBeenLastCalledWith(expect.anything(), 50, 0, true));
    await waitFor(() => expect(screen.getByRole("columnheader", { name: "Station" })).toBeInTheDocument());
    expect(rows()[0]?.querySelector(".station")?.textContent).toMatch(/^ST-0\d$/);
    expect(el("export-csv")).toBeDisabled();
    await userEvent.click(rows()[0] as HTMLElement);
    expect(ipc.sessionDetails).not.toHaveBeenCalled();

    await userEvent.click(screen.getByLabelText(/this station/));
    await waitFor(() => expect(ipc.querySessions).toHaveBeenLastCalledWith(expect.anything(), 50, 0));
    expect(screen.queryByRole("columnheader", { name: "Station" })).toBeNull();
  });

  it("shows one page of 50 with totals and pages with offset 50", async () => {
    render(Journal);
    await waitFor(() => expect(rows()).toHaveLength(50));
    expect(ipc.querySessions).toHaveBeenCalledWith(expect.objectContaining({ result: null }), 50, 0);
    expect(el("journal-total")).toHaveTextContent("1000000");
    expect(screen.getByText(/Rows 1–50 of/)).toBeInTheDocument();
    expect(el("page-prev")).toBeDisabled();

    await userEvent.click(el("page-next"));
    await waitFor(() => expect(screen.getByText(/Rows 51–100 of/)).toBeInTheDocument());
    expect(ipc.querySessions).toHaveBeenLastCalledWith(expect.anything(), 50, 50);
    expect(rows()).toHaveLength(50);

    await userEvent.click(screen.getByRole("button", { name: "Last" }));
    await waitFor(() => expect(ipc.querySessions).toHaveBeenLastCalledWith(expect.anything(), 50, 999_950));
    await waitFor(() => expect(el("page-next")).toBeDisabled());
    await userEvent.click(el("page-prev"));
    await waitFor(() => expect(ipc.querySessions).toHaveBeenLastCalledWith(expect.anything(), 50, 999_900));
  });

  it("applies the filter from the first page", async () => {
    render(Journal);
    await waitFor(() => expect(rows()).toHaveLength(50));
    await userEvent.selectOptions(el("filter-result"), "fail");
    await userEvent.type(el("filter-device"), "DEV-9");
    await userEvent.type(el("filter-work-order"), "WO-1");
    await userEvent.click(el("filter-apply"));
    await waitFor(() =>
      expect(ipc.querySessions).toHaveBeenLastCalledWith(
        expect.objectContaining({ result: "fail", deviceId: "DEV-9", workOrder: "WO-1", from: null }),
        50,
        0,
      ),
    );
  });

  it("opens a session with Enter on its row", async () => {
    ipc.sessionDetails.mockResolvedValue({
      session: row(1_000_000),
      steps: [{ name: "identify", startedAt: "2026-11-23T10:00:00Z", endedAt: "2026-11-23T10:00:00.250Z", outcome: "ok", errorCode: null, detail: null }],
      certificates: [
        {
          serial: "0A1B",
          sessionId: 1_000_000,
          deviceId: "DEV-1000000",
          sha256: "ab".repeat(32),
          status: "active",
          keyOrigin: "host",
          pem: "-----BEGIN CERTIFICATE-----",
        },
      ],
      deviceLog: ["hello from the unit"],
      auditChecks: [{ name: "tls_version", outcome: "pass", evidence: "TLS 1.3" }],
    });
    render(Journal);
    await waitFor(() => expect(rows()).toHaveLength(50));
    expect([...rows()].filter((r) => r.getAttribute("tabindex") === "0")).toHaveLength(1);
    (rows()[1] as HTMLElement).focus();
    await userEvent.keyboard("{ArrowUp}");
    expect(rows()[0]).toHaveFocus();
    expect(rows()[0]).toHaveAttribute("tabindex", "0");
    await userEvent.keyboard("{Enter}");
    await waitFor(() => expect(el("session-details")).toHaveTextContent("hello from the unit"));
    expect(ipc.sessionDetails).toHaveBeenCalledWith(1_000_000);
    expect(el("session-details")).toHaveTextContent(/Identify unit.*Passed.*250 ms/);
    expect(el("session-details").querySelector('[data-check="tls_version"]')).toHaveAttribute("data-outcome", "pass");
    // A station-made key is called out: it existed outside the unit once.
    expect(el("session-details").querySelector('[data-serial="0A1B"]')).toHaveTextContent(
      /active — key generated by the station/,
    );
  });

  it("reports exports, a cancelled export and chain verification", async () => {
    ipc.exportJournal.mockResolvedValueOnce(null);
    ipc.exportJournal.mockResolvedValueOnce({ path: "/tmp/j.csv", manifestPath: "/tmp/j.csv.manifest", rows: 12, chainHead: "ab" });
    ipc.verifyJournal.mockResolvedValue({ ok: false, entries: 10, head: null, firstProblem: "entry 4: hash mismatch", millis: 3 });
    render(Journal);
    await userEvent.click(el("export-csv"));
    await waitFor(() => expect(el("export-result")).toHaveTextContent(/cancelled/));
    await userEvent.click(el("export-jsonl"));
    await waitFor(() => expect(el("export-result")).toHaveTextContent("Wrote 12 rows to /tmp/j.csv"));
    expect(ipc.exportJournal).toHaveBeenLastCalledWith(expect.objectContaining({ result: null }), "jsonl");

    await userEvent.click(el("verify-chain"));
    await waitFor(() => expect(el("verify-result")).toHaveAttribute("data-ok", "false"));
    expect(el("verify-result")).toHaveTextContent("BROKEN: entry 4: hash mismatch");
  });

  it("reports a verified export", async () => {
    ipc.verifyExport.mockResolvedValue({ path: "/tmp/j.csv", ok: true, rows: 12, stationId: "ST-01", chainHead: "ab", problem: null });
    render(Journal);
    await userEvent.click(el("verify-export"));
    await waitFor(() => expect(el("verify-export-result")).toHaveAttribute("data-ok", "true"));
    expect(el("verify-export-result")).toHaveTextContent("genuine, 12 rows from station ST-01");
  });
});
