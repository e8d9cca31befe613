import { SIM_TARGET, type PortInfo } from "./bindings";

const hex4 = (n: number) => n.toString(16).padStart(4, "0");

/** How a target reads in the picker. */
export function targetLabel(port: PortInfo): string {
  if (port.path === SIM_TARGET || port.kind === "simulated") return "Simulated unit";
  const name = port.product ?? port.manufacturer ?? (port.kind === "usb" ? "USB serial" : "Serial port");
  const ids = port.vid !== null && port.pid !== null ? ` ${hex4(port.vid)}:${hex4(port.pid)}` : "";
  const sn = port.serialNumber ? ` SN ${port.serialNumber}` : "";
  return `${name} — ${port.path}${ids}${sn}`;
}

/** Real ports first (USB before the rest), the simulated unit last. */
export function sortTargets(ports: readonly PortInfo[]): PortInfo[] {
  const rank = (p: PortInfo) => (p.path === SIM_TARGET ? 2 : p.kind === "usb" ? 0 : 1);
  return [...ports].sort((a, b) => rank(a) - rank(b) || a.path.localeCompare(b.path));
}
