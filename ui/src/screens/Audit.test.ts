import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { deferred } from "../test/fixtures";

const ipc = vi.hoisted(() => ({ runAudit: vi.fn() }));
vi.mock("../lib/ipc", () => ipc);

import Audit from "./Audit.svelte";

describe("Audit", () => {
  it("shows busy, then each check with icon, word, name and evidence", async () => {
    const done = deferred<unknown>();
    ipc.runAudit.mockReturnValue(done.promise);
    render(Audit);
    await userEvent.click(screen.getByRole("button", { name: "Run audit" }));
    expect(document.getElementById("run-audit")).toBeDisabled();
    expect(document.getElementById("run-audit")).toHaveTextContent("Auditing the broker…");
    done.resolve({
      sessionId: 42,
      broker: "mqtt.example.com:8883",
      checks: [
        { name: "tls_min_version", outcome: "pass", evidence: "TLS 1.2 refused" },
        { name: "anonymous_refused", outcome: "fail", evidence: "anonymous CONNECT accepted" },
        { name: "crl_enforced", outcome: "warn", evidence: "no CRL configured" },
        { name: "acl_wildcard", outcome: "skipped", evidence: "MQTT 3.1.1" },
      ],
    });
    await waitFor(() => expect(document.querySelectorAll("#audit-checks li[data-check]")).toHaveLength(4));
    const check = (name: string) => document.querySelector(`#audit-checks li[data-check="${name}"]`);
    expect(check("tls_min_version")).toHaveAttribute("data-outcome", "pass");
    expect(check("tls_min_version")).toHaveTextContent("✔ Pass tls_min_version TLS 1.2 refused");
    expect(check("anonymous_refused")).toHaveTextContent(/✖\s*Fail.*anonymous CONNECT accepted/);
    expect(check("crl_enforced")).toHaveTextContent(/⚠\s*Warning/);
    expect(check("acl_wildcard")).toHaveTextContent(/–\s*Skipped/);
    expect(document.getElementById("audit-summary")).toHaveTextContent("1 passed, 1 failed, 1 warning, 1 skipped");
    expect(document.getElementById("run-audit")).toBeEnabled();
  });

  it("shows a check the station could not judge as inconclusive, never as a pass", async () => {
    ipc.runAudit.mockResolvedValue({
      sessionId: 43,
      broker: "mqtt.example.com:8883",
      checks: [
        { name: "protocol_version", outcome: "pass", evidence: "MQTT 5" },
        {
          name: "foreign_ca",
          outcome: "inconclusive",
          evidence: "not judged: the station's own connection failed (mqtt.tls_version)",
        },
      ],
    });
    render(Audit);
    await userEvent.click(screen.getByRole("button", { name: "Run audit" }));
    await waitFor(() => expect(document.querySelectorAll("#audit-checks li[data-check]")).toHaveLength(2));
    const check = document.querySelector('#audit-checks li[data-check="foreign_ca"]');
    expect(check).toHaveAttribute("data-outcome", "inconclusive");
    expect(check).toHaveTextContent(/\?\s*Inconclusive\s*foreign_ca.*mqtt\.tls_version/);
    expect(document.getElementById("audit-summary")).toHaveTextContent(
      "1 passed, 0 failed, 0 warnings, 0 skipped, 1 inconclusive",
    );
  });

  it("explains a failed run", async () => {
    ipc.runAudit.mockRejectedValue({ code: "mqtt.unreachable", message: "x", detail: null });
    render(Audit);
    await userEvent.click(screen.getByRole("button", { name: "Run audit" }));
    expect(await screen.findByRole("alert")).toHaveTextContent(/cannot be reached.*mqtt\.unreachable/);
  });
});
