import { render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sharedFilter } from "../lib/shared-filter.svelte";
import { yieldStats } from "../test/fixtures";

const ipc = vi.hoisted(() => ({
  yieldStats: vi.fn(),
  batchReport: vi.fn(),
  querySessions: vi.fn(),
  sessionDetails: vi.fn(),
  exportJournal: vi.fn(),
  verifyJournal: vi.fn(),
  verifyExport: vi.fn(),
  syncStatus: vi.fn(async () => null),
}));
vi.mock("../lib/ipc", () => ipc);

import Journal from "./Journal.svelte";
import Yield from "./Yield.svelte";

const el = (id: string) => document.getElementById(id) as HTMLElement;
const cells = (tableId: string) =>
  [...el(tableId).querySelectorAll("tbody tr")].map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent?.trim()));

describe("Yield", () => {
  beforeEach(() => {
    for (const f of Object.values(ipc)) f.mockReset();
    sharedFilter.reset();
    ipc.yieldStats.mockResolvedValue(yieldStats());
    ipc.querySessions.mockResolvedValue({ rows: [], total: 0, offset: 0 });
  });
  afterEach(() => vi.useRealTimers());

  it("shows the core's figures: tally, rate, Pareto, breakdowns and step times", async () => {
    render(Yield);
    await waitFor(() => expect(el("tally-total")).toHaveTextContent("50"));
    expect(ipc.yieldStats).toHaveBeenCalledWith({ filter: expect.objectContaining({ workOrder: null }), bucket: "hour" });
    expect(el("tally-pass")).toHaveTextContent("45");
    expect(el("tally-fail")).toHaveTextContent("4");
    expect(el("tally-interrupted")).toHaveTextContent("1");
    expect(el("tally-yield")).toHaveTextContent("90.0 %");
    expect(el("tally-rate")).toHaveTextContent("22.5 /h");
    // No canvas in jsdom: each chart shows its table instead.
    expect(cells("rate-table")).toEqual([
      ["2026-03-02T08:00:00Z", "20", "100.0 %"],
      ["2026-03-02T09:00:00Z", "30", "83.3 %"],
    ]);
    expect(cells("pareto-step")).toEqual([
      ["Broker handshake", "3", "60.0 %"],
      ["Identify unit", "2", "100.0 %"],
    ]);
    expect(cells("pareto-code")).toEqual([
      ["broker.tls", "3", "60.0 %"],
      ["(not reported)", "2", "100.0 %"],
    ]);
    expect(cells("by-model").map((r) => r[0])).toEqual(["SIM-1", "SIM-2", "(not reported)"]);
    expect(cells("by-work-order")).toEqual([["WO-7", "50", "45", "4", "1", "90.0 %"]]);
    expect(cells("step-times")).toEqual([
      ["Identify unit", "50", "12 ms", "40 ms"],
      ["Broker handshake", "47", "850 ms", "2.50 s"],
    ]);
  });

  it("switches between hourly and daily buckets", async () => {
    render(Yield);
    await waitFor(() => expect(ipc.yieldStats).toHaveBeenCalledTimes(1));
    await userEvent.click(screen.getByLabelText("Day"));
    await waitFor(() => expect(ipc.yieldStats).toHaveBeenLastCalledWith(expect.objectContaining({ bucket: "day" })));
  });

  it("writes a batch report only for a filtered work order", async () => {
    ipc.batchReport.mockResolvedValueOnce(null).mockResolvedValueOnce("/tmp/report-WO-7.pdf");
    render(Yield);
    await waitFor(() => expect(el("tally-total")).toBeInTheDocument());
    expect(el("batch-report")).toBeDisabled();
    expect(el("batch-report-hint")).toHaveTextContent("Filter by a work order");

    await userEvent.type(el("yield-filter-work-order"), "WO-7");
    await userEvent.click(el("yield-filter-apply"));
    await waitFor(() =>
      expect(ipc.yieldStats).toHaveBeenLastCalledWith(expect.objectContaining({ filter: expect.objectContaining({ workOrder: "WO-7" }) })),
    );
    await waitFor(() => expect(el("batch-report")).toBeEnabled());
    await userEvent.click(el("batch-report"));
    await waitFor(() => expect(el("report-result")).toHaveTextContent("cancelled"));
    await userEvent.click(el("batch-report"));
    await waitFor(() => expect(el("report-result")).toHaveTextContent("Wrote the report of WO-7 to /tmp/report-WO-7.pdf"));
    expect(ipc.batchReport).toHaveBeenCalledWith("WO-7");
  });

  it("shows a refused report by its code", async () => {
    ipc.batchReport.mockRejectedValue({ code: "operator.forbidden", message: "no", detail: null });
    sharedFilter.form.workOrder = "WO-7";
    sharedFilter.apply();
    render(Yield);
    await waitFor(() => expect(el("batch-report")).toBeEnabled());
    await userEvent.click(el("batch-report"));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Your role may not do this");
    expect(alert).toHaveTextContent("(operator.forbidden)");
  });

  it("shares its filter with the Journal screen, both ways", async () => {
    render(Journal);
    render(Yield);
    await waitFor(() => expect(ipc.yieldStats).toHaveBeenCalledTimes(1));
    const [journalForm, yieldForm] = screen.getAllByRole("form", { name: "Journal filter" }) as [HTMLElement, HTMLElement];

    // Applied on the Journal: the dashboard follows.
    await userEvent.selectOptions(within(journalForm).getByLabelText("Result"), "fail");
    await userEvent.click(within(journalForm).getByRole("button", { name: "Apply" }));
    await waitFor(() =>
      expect(ipc.yieldStats).toHaveBeenLastCalledWith(expect.objectContaining({ filter: expect.objectContaining({ result: "fail" }) })),
    );
    expect(within(yieldForm).getByLabelText("Result")).toHaveValue("fail");

    // Applied on the dashboard: the Journal reloads its first page with it.
    await userEvent.type(within(yieldForm).getByLabelText("Model"), "SIM-2");
    await userEvent.click(within(yieldForm).getByRole("button", { name: "Apply" }));
    await waitFor(() =>
      expect(ipc.querySessions).toHaveBeenLastCalledWith(expect.objectContaining({ result: "fail", model: "SIM-2" }), 50, 0),
    );
  });

  it("refreshes itself while showing, in place, and stops when hidden", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { rerender } = render(Yield, { pollMs: 5000 });
    await vi.waitFor(() => expect(el("tally-total")).toHaveTextContent("50"));
    const tally = el("yield-tally");

    ipc.yieldStats.mockResolvedValue(yieldStats({ tally: { total: 51, pass: 46, fail: 4, interrupted: 1, running: 0 } }));
    await vi.advanceTimersByTimeAsync(5000);
    await vi.waitFor(() => expect(el("tally-total")).toHaveTextContent("51"));
    expect(ipc.yieldStats).toHaveBeenCalledTimes(2);
    // The same element, updated: a refresh does not tear the dashboard down.
    expect(el("yield-tally")).toBe(tally);

    await rerender({ active: false });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ipc.yieldStats).toHaveBeenCalledTimes(2);
  });

  it("shows a failed read by its code", async () => {
    ipc.yieldStats.mockRejectedValue({ code: "operator.forbidden", message: "no", detail: null });
    render(Yield);
    expect(await screen.findByRole("alert")).toHaveTextContent("(operator.forbidden)");
  });
});
