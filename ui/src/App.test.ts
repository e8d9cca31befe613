import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { ProgressEvent, Report } from "./lib/bindings";

const ipc = vi.hoisted(() => ({
  listTargets: vi.fn(),
  commission: vi.fn(),
}));
vi.mock("./lib/ipc", () => ipc);

import App from "./App.svelte";

const sim = {
  path: "sim",
  kind: "simulated",
  vid: null,
  pid: null,
  serialNumber: null,
  manufacturer: null,
  product: null,
};

const passReport: Report = {
  sessionId: 7,
  result: "pass",
  deviceId: "SIM-0011aabb",
  model: "SIM-1",
  firmware: "1.0.0",
  certificateSerial: "5f3a",
  fingerprintSha256: "ab:cd",
  steps: [],
  error: null,
  totalMillis: 1234,
};

describe("App", () => {
  beforeEach(() => {
    ipc.listTargets.mockReset().mockResolvedValue([sim]);
    ipc.commission.mockReset();
  });

  it("lists the simulated unit and shows PASS with the certificate", async () => {
    ipc.commission.mockImplementation(async (_t: string, onProgress: (e: ProgressEvent) => void) => {
      onProgress({ step: "identify", index: 0, total: 8, status: "started", message: "" });
      onProgress({ step: "identify", index: 0, total: 8, status: "passed", message: "ok" });
      return passReport;
    });
    render(App);
    const select = await screen.findByRole("combobox");
    await waitFor(() => expect(select).toHaveValue("sim"));
    expect(screen.getByRole("option", { name: "Simulated unit" })).toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "Commission" }));

    const result = await waitFor(() => {
      const el = document.getElementById("result");
      expect(el).not.toBeNull();
      return el as HTMLElement;
    });
    expect(result).toHaveTextContent(/^PASS$/);
    expect(ipc.commission).toHaveBeenCalledWith("sim", expect.any(Function));
    expect(document.getElementById("cert-serial")).toHaveTextContent("5f3a");
    expect(document.getElementById("fingerprint")).toHaveTextContent("ab:cd");
    const identify = document.querySelector('[data-step="identify"]');
    expect(identify).toHaveTextContent("Passed");
    expect(document.querySelector('[data-step="lock"]')).toHaveTextContent("Skipped");
    expect(document.getElementById("failure-message")).toBeNull();
  });

  it("shows FAIL and a plain-language reason branched on the code", async () => {
    ipc.commission.mockResolvedValue({
      ...passReport,
      result: "fail",
      certificateSerial: null,
      fingerprintSha256: null,
      error: { code: "csr.cn_mismatch", message: "CN 'X' != 'Y'", detail: null },
    } satisfies Report);
    render(App);
    await waitFor(() => expect(screen.getByRole("combobox")).toHaveValue("sim"));
    await userEvent.click(screen.getByRole("button", { name: "Commission" }));
    await waitFor(() => expect(document.getElementById("result")).toHaveTextContent(/^FAIL$/));
    expect(document.getElementById("failure-message")).toHaveTextContent(/different identity/);
  });

  it("shows FAIL when the station cannot commission at all", async () => {
    ipc.commission.mockRejectedValue({ code: "ca.locked", message: "CA locked", detail: null });
    render(App);
    await waitFor(() => expect(screen.getByRole("combobox")).toHaveValue("sim"));
    await userEvent.click(screen.getByRole("button", { name: "Commission" }));
    await waitFor(() => expect(document.getElementById("result")).toHaveTextContent(/^FAIL$/));
    expect(document.getElementById("failure-message")).toHaveTextContent(/passphrase/);
  });
});
