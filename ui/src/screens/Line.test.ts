import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { LineStrip } from "../lib/api-types";
import type { ProgressEvent } from "../lib/bindings";
import { deferred, port, report } from "../test/fixtures";

const ipc = vi.hoisted(() => ({
  listTargets: vi.fn(),
  simFaults: vi.fn(),
  simKinds: vi.fn(),
  startSimulatedUnit: vi.fn(),
  commission: vi.fn(),
  printLabel: vi.fn(),
  cancelCommission: vi.fn(),
  sessionDetails: vi.fn(),
  lineStrip: vi.fn(),
}));
vi.mock("../lib/ipc", () => ipc);

import Line from "./Line.svelte";

const card = (path: string) => document.querySelector(`article.unit-card[data-target="${path}"]`) as HTMLElement;
const inCard = (path: string, sel: string) => card(path)?.querySelector(sel) as HTMLElement | null;

const failReport = report({
  result: "fail",
  certificateSerial: null,
  bootstrapSerial: "0F5F1A7E",
  fingerprintSha256: null,
  steps: [
    { name: "identify", outcome: "ok", millis: 12, micros: 12000, error: null },
    { name: "keygen", outcome: "ok", millis: 300, micros: 300000, error: null },
    {
      name: "validate_csr",
      outcome: "failed",
      millis: 5,
      micros: 5000,
      error: { code: "csr.cn_mismatch", message: "CN 'X' != 'Y'", detail: null },
    },
  ],
  error: { code: "csr.cn_mismatch", message: "CN 'X' != 'Y'", detail: null },
});

const strip = (pass = 0, fail = 0): LineStrip => ({
  since: "2026-03-02T00:00:00Z",
  tally: { total: pass + fail, pass, fail, interrupted: 0, running: 0 },
  yieldRatio: pass + fail === 0 ? 0 : pass / (pass + fail),
  unitsPerHour: pass / 2,
  topFailure: fail > 0 ? { key: "csr.cn_mismatch", count: fail, cumulative: 1 } : null,
});

describe("Line", () => {
  beforeEach(() => {
    for (const f of Object.values(ipc)) f.mockReset();
    ipc.listTargets.mockResolvedValue([port("sim"), port("/dev/ttyUSB0", "usb")]);
    ipc.simFaults.mockResolvedValue(["none", "timeout", "cn_mismatch"]);
    ipc.simKinds.mockResolvedValue(["reference", "nrf91-at", "zephyr-smp-stock", "zephyr-smp-group"]);
    ipc.lineStrip.mockResolvedValue(strip());
    ipc.sessionDetails.mockResolvedValue({
      session: {},
      steps: [],
      certificates: [{ serial: "5f3a", sessionId: 7, deviceId: "SIM-0011aabb", sha256: "ab", status: "valid", pem: "PEM" }],
      deviceLog: ["boot ok", "csr made"],
      auditChecks: [],
    });
  });

  it("shows progress, then PASS with the unit's identity, with the work order sent", async () => {
    const done = deferred<ReturnType<typeof report>>();
    let progress: (e: ProgressEvent) => void = () => {};
    ipc.commission.mockImplementation((_t: string, cb: (e: ProgressEvent) => void) => {
      progress = cb;
      return done.promise;
    });
    render(Line);
    await waitFor(() => expect(card("sim")).not.toBeNull());
    await userEvent.type(screen.getByLabelText(/Work order/), "WO-42");
    await userEvent.click(inCard("sim", ".commission-btn") as HTMLElement);
    expect(ipc.commission).toHaveBeenCalledWith("sim", expect.any(Function), { recommission: false, workOrder: "WO-42" });

    progress({ step: "keygen", index: 1, total: 8, status: "started", message: "" });
    await waitFor(() => expect(inCard("sim", ".current-step")).toHaveTextContent("Step 2 of 8: Generate key on unit"));
    expect(inCard("sim", "progress")).toHaveAttribute("value", "1");
    expect(inCard("sim", ".cancel-btn")).not.toBeNull();
    expect(inCard("sim", ".result")).toBeNull();

    done.resolve(report());
    await waitFor(() => expect(inCard("sim", ".result")).toHaveAttribute("data-result", "pass"));
    expect(inCard("sim", ".result")).toHaveTextContent("✔ PASS");
    expect(inCard("sim", ".device-id")).toHaveTextContent("SIM-0011aabb");
    expect(inCard("sim", ".reason")).toBeNull();
    expect(inCard("sim", ".cancel-btn")).toBeNull();
    expect(inCard("/dev/ttyUSB0", ".result")).toBeNull();

    // A passed unit's label, printed from its card; a printer that is off says why.
    ipc.printLabel
      .mockResolvedValueOnce("/station/labels/SIM-0011aabb.pdf")
      .mockRejectedValueOnce({ code: "print.printer_unreachable", message: "no printer" });
    await userEvent.click(inCard("sim", ".label-btn") as HTMLElement);
    await waitFor(() => expect(inCard("sim", ".label-result")).toHaveTextContent("SIM-0011aabb.pdf"));
    expect(ipc.printLabel).toHaveBeenCalledWith(report().sessionId);
    await userEvent.click(inCard("sim", ".label-btn") as HTMLElement);
    await waitFor(() => expect(inCard("sim", ".label-error")).toHaveTextContent("print.printer_unreachable"));
    expect(inCard("/dev/ttyUSB0", ".label-btn")).toBeNull();
  });

  it("shows today's yield strip and reads it again when a unit finishes", async () => {
    ipc.lineStrip.mockResolvedValueOnce(strip(9, 1)).mockResolvedValue(strip(9, 2));
    ipc.commission.mockResolvedValue(failReport);
    render(Line);
    const el = (id: string) => document.getElementById(id) as HTMLElement;
    await waitFor(() => expect(el("strip-pass")).toHaveTextContent("9"));
    expect(ipc.lineStrip).toHaveBeenCalledWith(-new Date().getTimezoneOffset());
    expect(el("yield-strip")).toHaveTextContent("9 passed of 10");
    expect(el("strip-yield")).toHaveTextContent("90.0 %");
    expect(el("strip-rate")).toHaveTextContent("4.5 /h");
    expect(el("strip-top")).toHaveTextContent("Top failure: csr.cn_mismatch (1)");

    await waitFor(() => expect(card("sim")).not.toBeNull());
    await userEvent.click(inCard("sim", ".commission-btn") as HTMLElement);
    await waitFor(() => expect(el("strip-top")).toHaveTextContent("csr.cn_mismatch (2)"));
    expect(ipc.lineStrip).toHaveBeenCalledTimes(2);
  });

  it("says plainly when today's figures cannot be read, and still works", async () => {
    ipc.lineStrip.mockRejectedValue({ code: "operator.forbidden", message: "no", detail: null });
    render(Line);
    await waitFor(() => expect(document.getElementById("yield-strip")).toHaveTextContent("unavailable"));
    expect(document.getElementById("yield-strip")).toHaveTextContent("(operator.forbidden)");
    await waitFor(() => expect(card("sim")).not.toBeNull());
  });

  it("shows FAIL with the plain reason and code; the drawer opens and closes with Escape", async () => {
    ipc.commission.mockResolvedValue(failReport);
    render(Line);
    await waitFor(() => expect(card("/dev/ttyUSB0")).not.toBeNull());
    await userEvent.click(inCard("/dev/ttyUSB0", ".commission-btn") as HTMLElement);
    await waitFor(() => expect(inCard("/dev/ttyUSB0", ".result")).toHaveAttribute("data-result", "fail"));
    expect(inCard("/dev/ttyUSB0", ".result")).toHaveTextContent("FAIL");
    expect(inCard("/dev/ttyUSB0", ".reason")).toHaveTextContent(/different identity/);
    expect(inCard("/dev/ttyUSB0", ".reason-code")).toHaveTextContent("csr.cn_mismatch");

    const details = inCard("/dev/ttyUSB0", ".details-btn") as HTMLElement;
    await userEvent.click(details);
    const drawer = await screen.findByRole("dialog");
    expect(drawer).toHaveAttribute("id", "details-drawer");
    expect(document.getElementById("details-close")).toHaveFocus();
    const step = drawer.querySelector('li[data-step="validate_csr"]');
    expect(step).toHaveTextContent(/Failed.*5 ms.*csr\.cn_mismatch/);
    await waitFor(() => expect(drawer).toHaveTextContent("csr made"));
    expect(drawer).toHaveTextContent("Bootstrap certificate 0F5F1A7E (in-band");
    expect(ipc.sessionDetails).toHaveBeenCalledWith(7);

    await userEvent.keyboard("{Shift>}{Tab}{/Shift}");
    expect(drawer.contains(document.activeElement)).toBe(true);

    await userEvent.keyboard("{Escape}");
    await waitFor(() => expect(document.getElementById("details-drawer")).toBeNull());
    expect(details).toHaveFocus();
  });

  it("says FAIL when the station cannot commission at all, and cancels a run", async () => {
    ipc.commission.mockRejectedValueOnce({ code: "ca.locked", message: "locked", detail: null });
    render(Line);
    await waitFor(() => expect(card("sim")).not.toBeNull());
    await userEvent.click(inCard("sim", ".commission-btn") as HTMLElement);
    await waitFor(() => expect(inCard("sim", ".reason")).toHaveTextContent(/passphrase/));

    const done = deferred<ReturnType<typeof report>>();
    ipc.commission.mockReturnValue(done.promise);
    ipc.cancelCommission.mockImplementation(async () => done.resolve(report({ result: "interrupted", error: { code: "pipeline.cancelled", message: "Cancelled by the operator.", detail: null } })));
    await userEvent.click(inCard("sim", ".commission-btn") as HTMLElement);
    await userEvent.click(inCard("sim", ".cancel-btn") as HTMLElement);
    expect(ipc.cancelCommission).toHaveBeenCalledWith("sim");
    await waitFor(() => expect(inCard("sim", ".result")).toHaveAttribute("data-result", "interrupted"));
  });

  it("auto-commissions a newly appearing target exactly once", async () => {
    ipc.commission.mockResolvedValue(report());
    render(Line, { pollMs: 20 });
    await waitFor(() => expect(card("sim")).not.toBeNull());
    await userEvent.click(screen.getByLabelText(/Auto-commission/));
    await waitFor(() => expect(ipc.listTargets.mock.calls.length).toBeGreaterThan(2));
    expect(ipc.commission).not.toHaveBeenCalled();

    ipc.listTargets.mockResolvedValue([port("sim"), port("/dev/ttyUSB0", "usb"), port("/dev/pts/7")]);
    await waitFor(() => expect(inCard("/dev/pts/7", ".result")).toHaveAttribute("data-result", "pass"));
    const seen = ipc.listTargets.mock.calls.length;
    await waitFor(() => expect(ipc.listTargets.mock.calls.length).toBeGreaterThan(seen + 3));
    expect(ipc.commission).toHaveBeenCalledTimes(1);
    expect(ipc.commission).toHaveBeenCalledWith("/dev/pts/7", expect.any(Function), { recommission: false, workOrder: null });

    await userEvent.click(screen.getByLabelText(/Auto-commission/));
  });

  it("keeps a passed unit's result when it drops off, and does not re-commission it when it comes back", async () => {
    const usb = { ...port("/dev/ttyACM0", "usb"), serialNumber: "SN-1" };
    ipc.listTargets.mockResolvedValue([port("sim")]);
    ipc.commission.mockResolvedValue(report());
    render(Line, { pollMs: 20 });
    await waitFor(() => expect(card("sim")).not.toBeNull());
    await userEvent.click(screen.getByLabelText(/Auto-commission/));
    await waitFor(() => expect(ipc.listTargets.mock.calls.length).toBeGreaterThan(1));
    ipc.listTargets.mockResolvedValue([port("sim"), usb]);
    await waitFor(() => expect(inCard("/dev/ttyACM0", ".result")).toHaveAttribute("data-result", "pass"));

    // The unit reboots after the lock step: its port goes away and comes back as another one.
    ipc.listTargets.mockResolvedValue([port("sim")]);
    await waitFor(() => expect(card("/dev/ttyACM0")).toHaveTextContent("Disconnected"));
    expect(inCard("/dev/ttyACM0", ".result")).toHaveTextContent("PASS");
    expect(inCard("/dev/ttyACM0", ".commission-btn")).toBeNull();
    ipc.listTargets.mockResolvedValue([port("sim"), { ...usb, path: "/dev/ttyACM1" }]);
    await waitFor(() => expect(card("/dev/ttyACM1")).not.toBeNull());
    const seen = ipc.listTargets.mock.calls.length;
    await waitFor(() => expect(ipc.listTargets.mock.calls.length).toBeGreaterThan(seen + 2));
    expect(ipc.commission).toHaveBeenCalledTimes(1);

    await userEvent.click(screen.getByLabelText(/Auto-commission/));
    await userEvent.click(screen.getByRole("button", { name: /Clear 1 disconnected unit/ }));
    expect(card("/dev/ttyACM0")).toBeNull();
  });

  it("adds a simulated unit with the chosen fault", async () => {
    ipc.startSimulatedUnit.mockResolvedValue(port("/dev/pts/9"));
    render(Line);
    await waitFor(() => expect(screen.getByRole("option", { name: "timeout" })).toBeInTheDocument());
    expect(screen.queryAllByRole("option", { name: "none" })).toHaveLength(1);
    await userEvent.selectOptions(screen.getByLabelText("Simulated fault"), "timeout");
    await userEvent.click(screen.getByRole("button", { name: "Add simulated unit" }));
    await waitFor(() => expect(card("/dev/pts/9")).not.toBeNull());
    expect(ipc.startSimulatedUnit).toHaveBeenCalledWith("timeout", "reference");
  });

  it("adds a simulated unit of another family, without the reference unit's faults", async () => {
    ipc.startSimulatedUnit.mockResolvedValue(port("/dev/pts/10"));
    render(Line);
    await waitFor(() =>
      expect(screen.getByRole("option", { name: "zephyr-smp-group" })).toBeInTheDocument(),
    );
    await userEvent.selectOptions(screen.getByLabelText("Simulated fault"), "timeout");
    await userEvent.selectOptions(screen.getByLabelText("Simulated unit"), "zephyr-smp-group");
    expect(screen.getByLabelText("Simulated fault")).toBeDisabled();
    await userEvent.click(screen.getByRole("button", { name: "Add simulated unit" }));
    await waitFor(() => expect(card("/dev/pts/10")).not.toBeNull());
    expect(ipc.startSimulatedUnit).toHaveBeenCalledWith(null, "zephyr-smp-group");
  });

  it("puts a barcode scanned outside any field into the work order", async () => {
    render(Line);
    await waitFor(() => expect(card("sim")).not.toBeNull());
    const button = inCard("sim", ".commission-btn") as HTMLElement;
    button.focus();
    for (const key of "WO-7781") await fireEvent.keyDown(button, { key });
    const enter = await fireEvent.keyDown(button, { key: "Enter" });
    expect(enter).toBe(false); // the Enter was consumed, so it did not press the button
    expect(screen.getByLabelText(/Work order/)).toHaveValue("WO-7781");
    expect(ipc.commission).not.toHaveBeenCalled();
  });
});
