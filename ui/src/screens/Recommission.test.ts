import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { port, report } from "../test/fixtures";

const ipc = vi.hoisted(() => ({
  listTargets: vi.fn(),
  startSimulatedUnit: vi.fn(),
  commission: vi.fn(),
  printLabel: vi.fn(),
  cancelCommission: vi.fn(),
  sessionDetails: vi.fn(),
}));
vi.mock("../lib/ipc", () => ipc);

import Recommission from "./Recommission.svelte";

describe("Recommission", () => {
  it("recommissions the chosen unit with the work order and shows the result", async () => {
    ipc.listTargets.mockResolvedValue([port("sim")]);
    ipc.startSimulatedUnit.mockResolvedValue(port("/dev/pts/4"));
    ipc.commission.mockResolvedValue(report({ deviceId: "SIM-77" }));
    render(Recommission);
    expect(screen.getByText(/revoked as “superseded”/)).toBeInTheDocument();
    await waitFor(() => expect(document.getElementById("recommission-target")).toHaveValue("sim"));

    await userEvent.click(document.getElementById("recommission-add-sim") as HTMLElement);
    await waitFor(() => expect(document.getElementById("recommission-target")).toHaveValue("/dev/pts/4"));
    await userEvent.type(screen.getByLabelText(/Work order/), "RMA-9");
    await userEvent.click(document.getElementById("recommission-start") as HTMLElement);

    await waitFor(() => expect(document.querySelector(".result")).toHaveAttribute("data-result", "pass"));
    expect(ipc.commission).toHaveBeenCalledWith("/dev/pts/4", expect.any(Function), { recommission: true, workOrder: "RMA-9" });
    expect(document.querySelector('article.unit-card[data-target="/dev/pts/4"] .device-id')).toHaveTextContent("SIM-77");
    expect(document.querySelector(".commission-btn")).toBeNull();
  });
});
