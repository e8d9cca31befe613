// Auto-commission: which targets appeared since the last look.

/** Paths in `current` that were not in `previous`, in `current`'s order. */
export function newTargets(previous: ReadonlySet<string>, current: readonly string[]): string[] {
  return current.filter((path) => !previous.has(path));
}
