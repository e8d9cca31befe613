// Shapes the core's yield figures (YieldStats, LineStrip) for charts and tables. Every count
// comes from the core; nothing here adds rows up — only per-row ratios and formatting.
import type { Group, ParetoBar, SessionFilter, Tally, TimePoint } from "./api-types";
import { stepLabel } from "./progress";

/** Passes over finished sessions, as the core's `Tally::yield_ratio`; null when none finished. */
export function yieldRatio(t: Tally): number | null {
  const finished = t.pass + t.fail + t.interrupted;
  return finished === 0 ? null : t.pass / finished;
}

/** "97.5 %"; "—" for no value. */
export function percent(ratio: number | null, digits = 1): string {
  return ratio === null || !Number.isFinite(ratio) ? "—" : `${(ratio * 100).toFixed(digits)} %`;
}

/** "12.3 /h". */
export function perHour(rate: number): string {
  return Number.isFinite(rate) ? `${rate.toFixed(1)} /h` : "—";
}

/** "250 ms", "1.25 s", "2 min 5 s". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** What a group or a bar without a key is shown as: it never reported one. */
export const NO_KEY = "(not reported)";

/** Columns of the pass-rate chart: bucket starts (Unix seconds), rate in %, units per bucket. */
export interface RateSeries {
  x: number[];
  /** Null where a bucket has no finished session: a gap, not a 0 % dip. */
  ratePct: (number | null)[];
  total: number[];
}

/** The pass-rate-over-time columns of `points` (the core's buckets, oldest first). */
export function rateSeries(points: readonly TimePoint[]): RateSeries {
  const out: RateSeries = { x: [], ratePct: [], total: [] };
  for (const p of points) {
    const at = Date.parse(p.at);
    if (Number.isNaN(at)) continue;
    const r = yieldRatio(p.tally);
    out.x.push(at / 1000);
    out.ratePct.push(r === null ? null : r * 100);
    out.total.push(p.tally.total);
  }
  return out;
}

/** Columns of a Pareto chart: labels, counts and cumulative share in %. */
export interface ParetoSeries {
  labels: string[];
  counts: number[];
  cumulativePct: number[];
}

/**
 * The `top` most frequent causes as the core ranked them; the rest folded into one "other"
 * bar so a long tail stays readable. The cumulative line keeps the core's shares.
 */
export function paretoSeries(bars: readonly ParetoBar[], label: (key: string) => string = (k) => k, top = 12): ParetoSeries {
  const out: ParetoSeries = { labels: [], counts: [], cumulativePct: [] };
  bars.slice(0, top).forEach((b) => {
    out.labels.push(b.key === null ? NO_KEY : label(b.key));
    out.counts.push(b.count);
    out.cumulativePct.push(b.cumulative * 100);
  });
  const rest = bars.slice(top);
  if (rest.length > 0) {
    out.labels.push(`${rest.length} other`);
    out.counts.push(rest.reduce((n, b) => n + b.count, 0));
    out.cumulativePct.push((rest[rest.length - 1]?.cumulative ?? 1) * 100);
  }
  return out;
}

/** Step names in Pareto bars read as the Line screen labels them. */
export const stepPareto = (bars: readonly ParetoBar[]) => paretoSeries(bars, stepLabel);

/** One table row of a breakdown (model, firmware, work order). */
export interface GroupRow {
  key: string;
  tally: Tally;
  yieldText: string;
}

/** Breakdown rows, the most units first, for tables. */
export function groupRows(groups: readonly Group[]): GroupRow[] {
  return [...groups]
    .sort((a, b) => b.tally.total - a.tally.total || (a.key ?? "").localeCompare(b.key ?? ""))
    .map((g) => ({ key: g.key ?? NO_KEY, tally: g.tally, yieldText: percent(yieldRatio(g.tally)) }));
}

/** The window's time zone for `lineStrip`, east of UTC in minutes. */
export function utcOffsetMinutes(now: Date = new Date()): number {
  return -now.getTimezoneOffset();
}

/**
 * How long to wait before the next live refresh: the poll interval, or four times what the
 * last query took when that is longer, so a heavy filter (the whole journal) never keeps the
 * station busy computing the same figures back to back.
 */
export function nextPollDelay(pollMs: number, tookMs: number): number {
  return Math.max(pollMs, 4 * Math.max(tookMs, 0));
}

/** Days the dashboard reads when the filter names no dates and nothing narrower. */
export const DEFAULT_DAYS = 30;

/** The filter the dashboard asks the core for: the one given, or, when it names no dates, no
 * work order and no device, the same over the last DEFAULT_DAYS days. A journal of a million
 * sessions takes seconds to sum whole (README: journal-bench --stats), a month well under a
 * second; an earlier From reads further back. */
export function dashboardFilter(f: SessionFilter, now: Date = new Date()): SessionFilter {
  if (f.from || f.to || f.workOrder || f.deviceId) return f;
  const from = new Date(now.getTime() - DEFAULT_DAYS * 86_400_000).toISOString().replace(/\.\d{3}Z$/, "Z");
  return { ...f, from };
}

/** Whether [dashboardFilter] narrowed `f` to the last DEFAULT_DAYS days. */
export const isDefaultWindow = (f: SessionFilter) => !(f.from || f.to || f.workOrder || f.deviceId);
