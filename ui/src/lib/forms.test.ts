import { describe, expect, it } from "vitest";
import {
  brokerFields,
  brokerForm,
  setupRequest,
  validateAdmin,
  validateBroker,
  validateStation,
  type StationFields,
} from "./forms";

const station: StationFields = {
  organization: "Acme",
  caMode: "create",
  caCert: "",
  caRoot: "",
  caKey: "",
  caKeyPassphrase: "",
  passphrase: "longenough",
  passphrase2: "longenough",
  lab: true,
  rootKeyOut: "",
  rootPassphrase: "",
  rootPassphrase2: "",
};

describe("setup validation", () => {
  it("accepts a complete station", () => {
    expect(validateStation(station)).toEqual({});
  });

  it("rejects short and mismatched passphrases and a missing organisation", () => {
    const e = validateStation({ ...station, organization: " ", passphrase: "short", passphrase2: "other" });
    expect(Object.keys(e).sort()).toEqual(["organization", "passphrase", "passphrase2"]);
  });

  it("needs an offline place and a passphrase of its own for a production station's root key", () => {
    const prod = { ...station, lab: false };
    expect(Object.keys(validateStation(prod)).sort()).toEqual(["rootKeyOut", "rootPassphrase"]);
    const same = { ...prod, rootKeyOut: "/media/usb/root.pem", rootPassphrase: "longenough", rootPassphrase2: "longenough" };
    expect(validateStation(same).rootPassphrase).toMatch(/not the station's/);
    const ok = { ...same, rootPassphrase: "different one", rootPassphrase2: "different one" };
    expect(validateStation(ok)).toEqual({});
    expect(setupRequest(ok, { id: "a", pin: "123456", pin2: "123456" }).ca).toEqual({
      kind: "create",
      rootKeyOut: "/media/usb/root.pem",
      rootPassphrase: "different one",
    });
  });

  it("needs the three paths when importing", () => {
    expect(Object.keys(validateStation({ ...station, caMode: "import" })).sort()).toEqual([
      "caCert",
      "caKey",
      "caRoot",
    ]);
  });

  it("needs a PIN of 4+ digits, twice", () => {
    expect(validateAdmin({ id: "admin", pin: "123456", pin2: "123456" })).toEqual({});
    expect(Object.keys(validateAdmin({ id: "", pin: "12a456", pin2: "123456" })).sort()).toEqual(["id", "pin", "pin2"]);
    expect(validateAdmin({ id: "a", pin: "12345", pin2: "12345" }).pin).toMatch(/6 digits/);
  });

  it("builds the request", () => {
    expect(setupRequest(station, { id: " admin ", pin: "1234", pin2: "1234" })).toEqual({
      organization: "Acme",
      passphrase: "longenough",
      ca: { kind: "create", rootKeyOut: null, rootPassphrase: null },
      lab: true,
      admin: { id: "admin", pin: "1234" },
    });
    const imp = setupRequest(
      { ...station, caMode: "import", caCert: "/c.pem", caRoot: "/r.pem", caKey: "/k.pem" },
      { id: "a", pin: "1234", pin2: "1234" },
    );
    expect(imp.ca).toEqual({ kind: "import", cert: "/c.pem", root: "/r.pem", key: "/k.pem", keyPassphrase: null });
  });
});

describe("broker form", () => {
  it("round-trips a profile", () => {
    const p = { host: "b", port: 8883, serverCa: "ca.pem", serverName: null, mqttVersion: "5" as const, tls: true, lab: false, timeoutSecs: 10 };
    expect(brokerForm(brokerFields(p), p)).toEqual(p);
  });

  it("validates host, port, CA and timeout", () => {
    const e = validateBroker({ host: "", port: "70000", serverCa: "", serverName: "", mqttVersion: "5", timeoutSecs: "0" });
    expect(Object.keys(e).sort()).toEqual(["host", "port", "serverCa", "timeoutSecs"]);
  });
});
