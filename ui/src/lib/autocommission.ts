// Auto-commission: which targets to start on their own.
import type { PortInfo } from "./bindings";

/** Paths in `current` that were not in `previous`, in `current`'s order. */
export function newTargets(previous: ReadonlySet<string>, current: readonly string[]): string[] {
  return current.filter((path) => !previous.has(path));
}

/**
 * The ports to commission on their own: new since the last look, and not a unit that already
 * passed in this run of the app. Units often re-enumerate (reboot after the lock step); a port
 * carrying the USB serial number of a unit that passed is that unit back again, not a new one.
 */
export function autoCandidates(
  previous: ReadonlySet<string>,
  current: readonly PortInfo[],
  passedSerials: ReadonlySet<string>,
): PortInfo[] {
  const fresh = new Set(newTargets(previous, current.map((p) => p.path)));
  return current.filter((p) => fresh.has(p.path) && !(p.serialNumber && passedSerials.has(p.serialNumber)));
}
