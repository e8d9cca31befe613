import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { status } from "../test/fixtures";

const ipc = vi.hoisted(() => ({
  settings: vi.fn(),
  addOperator: vi.fn(),
  disableOperator: vi.fn(),
  changePin: vi.fn(),
  exportCrl: vi.fn(),
  testBroker: vi.fn(),
  saveBrokerProfile: vi.fn(),
  setHostKeys: vi.fn(),
}));
vi.mock("../lib/ipc", () => ipc);

import Settings from "./Settings.svelte";

const broker = { host: "mqtt.example.com", port: 8883, serverCa: "ca.pem", serverName: null, mqttVersion: "5" as const, tls: true, lab: false, timeoutSecs: 10 };
const el = (id: string) => document.getElementById(id) as HTMLInputElement;

describe("Settings", () => {
  it("shows the station and CA, adds an operator, exports the CRL and saves the broker", async () => {
    ipc.settings.mockResolvedValue({
      status: status({ broker }),
      ca: {
        subject: "CN=Acme Issuing CA",
        issuer: "CN=Acme Root",
        serial: "01",
        notBefore: "2026-01-01",
        notAfter: "2031-01-01",
        fingerprintSha256: "aa:bb",
        keyStorage: "file",
      },
      operators: [{ id: "admin", role: "admin" }],
      hostKeysAllowed: false,
    });
    ipc.addOperator.mockResolvedValue({ id: "tech2", role: "technician" });
    ipc.exportCrl.mockResolvedValueOnce(null).mockResolvedValueOnce("/tmp/ca.crl");
    const onstatus = vi.fn();
    ipc.saveBrokerProfile.mockResolvedValue(status({ broker: { ...broker, port: 8884 } }));
    const onoperators = vi.fn();
    render(Settings, { onstatus, onoperators });

    await waitFor(() => expect(el("settings-station-id")).toHaveTextContent("ST-01"));
    expect(el("ca-subject")).toHaveTextContent("CN=Acme Issuing CA");

    await userEvent.type(el("operator-add-id"), "tech2");
    await userEvent.type(el("operator-add-pin"), "12");
    await userEvent.click(el("operator-add"));
    expect(screen.getByText(/needs at least 6 digits/)).toBeInTheDocument();
    await userEvent.type(el("operator-add-pin"), "3456");
    await userEvent.click(el("operator-add"));
    await waitFor(() => expect(document.querySelector('[data-operator="tech2"]')).toHaveTextContent("Technician"));
    expect(ipc.addOperator).toHaveBeenCalledWith("tech2", "technician", "123456");
    expect(onoperators).toHaveBeenCalledTimes(1);

    await userEvent.click(el("export-crl"));
    await waitFor(() => expect(el("crl-result")).toHaveTextContent("cancelled"));
    await userEvent.click(el("export-crl"));
    await waitFor(() => expect(el("crl-result")).toHaveTextContent("/tmp/ca.crl"));

    const port = el("settings-broker-port");
    expect(port).toHaveValue("8883");
    await userEvent.clear(port);
    await userEvent.type(port, "8884");
    await userEvent.click(el("settings-broker-save"));
    await waitFor(() => expect(onstatus).toHaveBeenCalled());
    expect(ipc.saveBrokerProfile).toHaveBeenCalledWith({ ...broker, port: 8884 });
    expect(el("settings-broker-saved")).toHaveTextContent("saved");
  });
});

describe("Settings for operators", () => {
  it("lets an admin disable an operator", async () => {
    ipc.settings.mockResolvedValue({
      status: status({ operatorsEnforced: true, operator: { id: "boss", role: "admin" } }),
      ca: null,
      operators: [
        { id: "boss", role: "admin" },
        { id: "tom", role: "technician" },
      ],
    });
    ipc.disableOperator.mockResolvedValue(undefined);
    const onoperators = vi.fn();
    render(Settings, { onoperators });
    await waitFor(() => expect(document.querySelector('[data-operator="tom"]')).not.toBeNull());
    await userEvent.click(document.querySelector('[data-disable="tom"]') as HTMLElement);
    await waitFor(() => expect(document.querySelector('[data-operator="tom"]')).toBeNull());
    expect(ipc.disableOperator).toHaveBeenCalledWith("tom");
    expect(el("operator-disabled")).toHaveTextContent("tom is disabled");
    expect(onoperators).toHaveBeenCalled();
  });

  it("lets a technician change their own PIN and shows nothing of the admin's", async () => {
    ipc.settings.mockResolvedValue({
      status: status({ operatorsEnforced: true, operator: { id: "tom", role: "technician" } }),
      ca: null,
      operators: [],
    });
    ipc.changePin.mockRejectedValueOnce({ code: "operator.bad_credentials", message: "x", detail: null }).mockResolvedValueOnce(undefined);
    render(Settings, {});
    await waitFor(() => expect(el("pin-old")).not.toBeNull());
    expect(el("operator-add-id")).toBeNull();
    expect(el("export-crl")).toBeNull();

    await userEvent.type(el("pin-old"), "135791");
    await userEvent.type(el("pin-new"), "2468");
    await userEvent.type(el("pin-new2"), "2468");
    await userEvent.click(el("pin-change"));
    expect(screen.getByText(/needs at least 6 digits/)).toBeInTheDocument();
    expect(ipc.changePin).not.toHaveBeenCalled();

    await userEvent.type(el("pin-new"), "02");
    await userEvent.type(el("pin-new2"), "02");
    await userEvent.click(el("pin-change"));
    expect(await screen.findByRole("alert")).toBeInTheDocument();
    await userEvent.click(el("pin-change"));
    await waitFor(() => expect(el("pin-result")).toHaveTextContent("changed"));
    expect(ipc.changePin).toHaveBeenLastCalledWith("135791", "246802");
  });

  it("lets an admin allow keys made on the station, and keeps the box as the station has it on failure", async () => {
    ipc.settings.mockResolvedValue({ status: status({ broker }), ca: null, operators: [], hostKeysAllowed: false });
    ipc.setHostKeys.mockResolvedValueOnce(true).mockRejectedValueOnce({ code: "operator.forbidden", message: "no" });
    render(Settings, {});
    await waitFor(() => expect(el("policy-host-keys")).not.toBeChecked());
    await userEvent.click(el("policy-host-keys"));
    await waitFor(() => expect(ipc.setHostKeys).toHaveBeenCalledWith(true));
    expect(el("policy-host-keys")).toBeChecked();
    await userEvent.click(el("policy-host-keys"));
    await waitFor(() => expect(screen.getByRole("alert")).toHaveTextContent("operator.forbidden"));
    expect(el("policy-host-keys")).toBeChecked();
  });
});
