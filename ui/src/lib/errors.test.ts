import { describe, expect, it } from "vitest";
import { friendlyMessage, isKnownCode } from "./errors";
// Written by the core's own test from its source (crates/core/src/error_codes.rs).
import catalogue from "./generated/error-codes.json";
import { APP_ERROR_CODES } from "./generated/bindings";

describe("friendlyMessage", () => {
  it("maps a known code to the UI's own wording", () => {
    const text = friendlyMessage({
      code: "csr.cn_mismatch",
      message: "CSR subject CN 'X' does not match device id 'Y'",
      detail: null,
    });
    expect(text).toMatch(/different identity/);
    expect(text).not.toMatch(/CSR subject/);
  });

  it("explains a locked CA in plain language", () => {
    expect(friendlyMessage({ code: "ca.locked", message: "m", detail: null })).toMatch(/passphrase/);
  });

  it("falls back to the core's message for an unknown code", () => {
    expect(
      friendlyMessage({ code: "something.new", message: "The unit is on fire.", detail: "x" }),
    ).toBe("The unit is on fire.");
  });

  it("never shows an empty reason", () => {
    expect(friendlyMessage({ code: "weird.code", message: "  ", detail: null })).toBe(
      "Commissioning failed (weird.code).",
    );
  });

  it("knows which codes it has wording for", () => {
    expect(isKnownCode("device.timeout")).toBe(true);
    expect(isKnownCode("toString")).toBe(false);
  });

  it("has wording for every MQTT, TLS, handshake and audit code", () => {
    expect(catalogue.mqtt).toContain("mqtt.untrusted_client_ca");
    expect(catalogue.mqtt).toContain("audit.failed");
    expect(catalogue.mqtt.filter((code) => !isKnownCode(code))).toEqual([]);
  });

  it("has wording for every code the core can produce", () => {
    expect(catalogue.core.length).toBeGreaterThan(catalogue.mqtt.length);
    expect(catalogue.core.filter((code) => !isKnownCode(code))).toEqual([]);
  });

  it("has wording for every code the desktop shell produces", () => {
    expect(APP_ERROR_CODES.filter((code) => !isKnownCode(code))).toEqual([]);
  });

  it("tells the technician what to do about a broker refusal", () => {
    const text = (code: string) => friendlyMessage({ code, message: "m", detail: null });
    expect(text("mqtt.untrusted_client_ca")).toMatch(/does not trust this factory CA/);
    expect(text("mqtt.certificate_revoked")).toMatch(/revoked/);
    expect(text("mqtt.client_id_refused")).toMatch(/client id/);
    expect(text("mqtt.server_name_mismatch")).toMatch(/name does not match/);
    expect(text("audit.failed")).toMatch(/broker failed its security audit/);
  });
});
