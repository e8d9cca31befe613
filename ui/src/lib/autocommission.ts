// Auto-commission: which targets to start on their own.
import type { Target } from "./api-types";

/** Paths in `current` that were not in `previous`, in `current`'s order. */
export function newTargets(previous: ReadonlySet<string>, current: readonly string[]): string[] {
  return current.filter((path) => !previous.has(path));
}

/**
 * The ports to commission on their own: new since the last look, eligible by the station
 * profile (`[[models]]` VID:PID, or any USB port when it names none), and not a unit that already
 * passed in this run of the app. Units often re-enumerate (reboot after the lock step); a port
 * carrying the USB serial number of a unit that passed is that unit back again, not a new one.
 */
export function autoCandidates(
  previous: ReadonlySet<string>,
  current: readonly Target[],
  passedSerials: ReadonlySet<string>,
): Target[] {
  const fresh = new Set(newTargets(previous, current.map((p) => p.path)));
  return current.filter(
    (p) => p.autoEligible && fresh.has(p.path) && !(p.serialNumber && passedSerials.has(p.serialNumber)),
  );
}
