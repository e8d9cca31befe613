import type { PortInfo } from "./bindings";

const hex4 = (n: number) => n.toString(16).padStart(4, "0");
const isSimulated = (port: PortInfo) => port.kind === "simulated";

/** How a target reads in the picker. */
export function targetLabel(port: PortInfo): string {
  if (isSimulated(port)) {
    return `Simulated unit${port.serialNumber ? ` ${port.serialNumber}` : ""} — ${port.path}`;
  }
  const name = port.product ?? port.manufacturer ?? (port.kind === "usb" ? "USB serial" : "Serial port");
  const ids = port.vid !== null && port.pid !== null ? ` ${hex4(port.vid)}:${hex4(port.pid)}` : "";
  const sn = port.serialNumber ? ` SN ${port.serialNumber}` : "";
  return `${name} — ${port.path}${ids}${sn}`;
}

/** Real ports first (USB before the rest), simulated units last. */
export function sortTargets(ports: readonly PortInfo[]): PortInfo[] {
  const rank = (p: PortInfo) => (isSimulated(p) ? 2 : p.kind === "usb" ? 0 : 1);
  return [...ports].sort((a, b) => rank(a) - rank(b) || a.path.localeCompare(b.path));
}
