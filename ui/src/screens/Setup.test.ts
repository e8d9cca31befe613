import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { status } from "../test/fixtures";

const ipc = vi.hoisted(() => ({
  setupStation: vi.fn(),
  startLabBroker: vi.fn(),
  testBroker: vi.fn(),
  saveBrokerProfile: vi.fn(),
}));
vi.mock("../lib/ipc", () => ipc);

import Setup from "./Setup.svelte";

const fresh = status({ configured: false, hasCa: false, caUnlocked: false, stationId: null, organization: null });
const el = (id: string) => document.getElementById(id) as HTMLInputElement;

async function fillStation(lab: boolean) {
  await userEvent.type(el("setup-organization"), "Acme Devices");
  await userEvent.type(el("setup-passphrase"), "correct horse");
  await userEvent.type(el("setup-passphrase2"), "correct horse");
  if (lab) await userEvent.click(el("setup-lab"));
  await userEvent.click(el("setup-next"));
}

describe("Setup wizard", () => {
  beforeEach(() => {
    for (const f of Object.values(ipc)) f.mockReset();
  });

  it("shows field-level errors and does not go on", async () => {
    render(Setup, { status: fresh, onstatus: vi.fn(), onfinish: vi.fn() });
    await userEvent.type(el("setup-passphrase"), "short");
    await userEvent.type(el("setup-passphrase2"), "shorter");
    await userEvent.click(el("setup-next"));
    expect(el("setup-organization")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByText(/needs at least 8 characters/)).toBeInTheDocument();
    expect(screen.getByText(/passphrases do not match/)).toBeInTheDocument();
    expect(el("setup-admin-id")).toBeNull();
  });

  it("writes a new production station's root key offline, with a passphrase of its own", async () => {
    const created = status({ operatorsEnforced: true, operator: { id: "admin", role: "admin" } });
    ipc.setupStation.mockResolvedValue(created);
    render(Setup, { status: fresh, onstatus: vi.fn(), onfinish: vi.fn() });
    await fillStation(false);
    // Not without a place for the root key and a passphrase that is not the station's.
    expect(screen.getByText(/where to write the root key/)).toBeInTheDocument();
    expect(el("setup-admin-id")).toBeNull();
    await userEvent.type(el("setup-root-key-out"), "/media/usb/root.key.pem");
    await userEvent.type(el("setup-root-passphrase"), "correct horse");
    await userEvent.type(el("setup-root-passphrase2"), "correct horse");
    await userEvent.click(el("setup-next"));
    expect(screen.getByText(/not the station's/)).toBeInTheDocument();
    await userEvent.clear(el("setup-root-passphrase"));
    await userEvent.clear(el("setup-root-passphrase2"));
    await userEvent.type(el("setup-root-passphrase"), "battery staple");
    await userEvent.type(el("setup-root-passphrase2"), "battery staple");
    await userEvent.click(el("setup-next"));
    await userEvent.type(el("setup-admin-id"), "admin");
    await userEvent.type(el("setup-admin-pin"), "123456");
    await userEvent.type(el("setup-admin-pin2"), "123456");
    await userEvent.click(el("setup-create"));
    await waitFor(() => expect(ipc.setupStation).toHaveBeenCalled());
    expect(ipc.setupStation.mock.calls[0]?.[0].ca).toEqual({
      kind: "create",
      rootKeyOut: "/media/usb/root.key.pem",
      rootPassphrase: "battery staple",
    });
  });

  it("asks for the import paths when importing a CA", async () => {
    render(Setup, { status: fresh, onstatus: vi.fn(), onfinish: vi.fn() });
    await userEvent.click(el("setup-ca-import"));
    await fillStation(false);
    expect(screen.getByText(/path of the CA key/)).toBeInTheDocument();
    expect(el("setup-admin-id")).toBeNull();
  });

  it("creates the station with the right request, then starts the lab broker", async () => {
    const onstatus = vi.fn();
    const onfinish = vi.fn();
    const created = status({ lab: true, operatorsEnforced: true, operator: { id: "admin", role: "admin" } });
    ipc.setupStation.mockResolvedValue(created);
    const running = { ...created, labBrokerRunning: true, broker: { host: "localhost", port: 18883, serverCa: "lab/ca.pem", serverName: null, mqttVersion: "5" as const, tls: true, lab: true, timeoutSecs: 10 } };
    ipc.startLabBroker.mockResolvedValue(running);
    const view = render(Setup, { status: fresh, onstatus, onfinish });

    await fillStation(true);
    await userEvent.type(el("setup-admin-id"), "admin");
    await userEvent.type(el("setup-admin-pin"), "12");
    await userEvent.type(el("setup-admin-pin2"), "12");
    await userEvent.click(el("setup-create"));
    expect(screen.getByText(/needs at least 6 digits/)).toBeInTheDocument();
    expect(ipc.setupStation).not.toHaveBeenCalled();

    await userEvent.type(el("setup-admin-pin"), "3456");
    await userEvent.type(el("setup-admin-pin2"), "3456");
    await userEvent.click(el("setup-create"));
    await waitFor(() => expect(el("setup-start-lab")).not.toBeNull());
    expect(ipc.setupStation).toHaveBeenCalledWith({
      organization: "Acme Devices",
      passphrase: "correct horse",
      ca: { kind: "create", rootKeyOut: null, rootPassphrase: null },
      lab: true,
      admin: { id: "admin", pin: "123456" },
    });
    expect(onstatus).toHaveBeenCalledWith(created);

    await view.rerender({ status: created, onstatus, onfinish });
    expect(el("setup-broker-status")).toHaveTextContent(/No broker/);
    await userEvent.click(el("setup-start-lab"));
    await waitFor(() => expect(onstatus).toHaveBeenCalledWith(running));
    await view.rerender({ status: running, onstatus, onfinish });
    expect(el("setup-broker-status")).toHaveTextContent("Lab broker running at localhost:18883");
    await userEvent.click(el("setup-finish"));
    expect(onfinish).toHaveBeenCalled();
  });

  it("shows the backend's error in plain words", async () => {
    ipc.setupStation.mockRejectedValue({ code: "station.bad_config", message: "x", detail: null });
    render(Setup, { status: fresh, onstatus: vi.fn(), onfinish: vi.fn() });
    await fillStation(true);
    await userEvent.type(el("setup-admin-id"), "admin");
    await userEvent.type(el("setup-admin-pin"), "123456");
    await userEvent.type(el("setup-admin-pin2"), "123456");
    await userEvent.click(el("setup-create"));
    expect(await screen.findByRole("alert")).toHaveTextContent(/configuration is invalid/);
  });

  it("offers the broker form on a production station and tests the connection", async () => {
    ipc.testBroker.mockResolvedValue({ ok: false, code: "mqtt.tls_untrusted_server", message: "certificate not trusted", millis: 40 });
    render(Setup, { status: status({ lab: false }), onstatus: vi.fn(), onfinish: vi.fn() });
    expect(el("setup-start-lab")).toBeNull();
    await userEvent.type(screen.getByLabelText("Broker host"), "mqtt.example.com");
    await userEvent.type(screen.getByLabelText("Broker CA certificate (PEM path)"), "/etc/ca.pem");
    await userEvent.click(screen.getByLabelText(/3\.1\.1/));
    await userEvent.click(screen.getByRole("button", { name: "Test connection" }));
    await waitFor(() => expect(el("setup-broker-test-result")).toHaveTextContent(/Connection failed: certificate not trusted/));
    expect(ipc.testBroker).toHaveBeenCalledWith({
      host: "mqtt.example.com",
      port: 8883,
      serverCa: "/etc/ca.pem",
      serverName: null,
      mqttVersion: "3.1.1",
      tls: true,
      lab: false,
      timeoutSecs: 10,
    });
  });
});
