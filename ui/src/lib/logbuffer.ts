// The log console's line buffer: bounded, filterable by level.
import type { LogLine } from "./api-types";

export const LOG_CAP = 2000;

export const LEVELS: readonly LogLine["level"][] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

/** `lines` followed by `more`, keeping only the newest `cap`. */
export function appendCapped<T>(lines: readonly T[], more: readonly T[], cap = LOG_CAP): T[] {
  const all = lines.concat(more);
  return all.length > cap ? all.slice(all.length - cap) : all;
}

/** Whether `line` is at `level` or more severe. */
export function atLeast(line: LogLine, level: LogLine["level"]): boolean {
  const rank = (l: string) => {
    const i = LEVELS.indexOf(l as LogLine["level"]);
    return i < 0 ? LEVELS.length : i;
  };
  return rank(line.level) <= rank(level);
}

/** Icon and word for a level, so level never rests on colour alone. */
export const LEVEL_ICON: Readonly<Record<LogLine["level"], string>> = {
  ERROR: "✖",
  WARN: "⚠",
  INFO: "ℹ",
  DEBUG: "·",
  TRACE: "·",
};
