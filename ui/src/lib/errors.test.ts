import { describe, expect, it } from "vitest";
import { friendlyMessage, isKnownCode } from "./errors";

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
});
