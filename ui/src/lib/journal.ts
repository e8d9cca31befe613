// Journal filter and paging arithmetic. The table never holds more than one page.
import type { SessionFilter } from "./api-types";

export const PAGE_SIZE = 50;

/** The filter form as typed: every field a string, "" meaning "any". */
export interface FilterForm {
  /** `YYYY-MM-DD`, local day, inclusive. */
  from: string;
  /** `YYYY-MM-DD`, local day, inclusive. */
  to: string;
  result: "" | "pass" | "fail" | "interrupted";
  operator: string;
  model: string;
  firmware: string;
  failedStep: string;
  deviceId: string;
  workOrder: string;
}

export const EMPTY_FILTER_FORM: FilterForm = {
  from: "",
  to: "",
  result: "",
  operator: "",
  model: "",
  firmware: "",
  failedStep: "",
  deviceId: "",
  workOrder: "",
};

function localDay(date: string, end: boolean): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date.trim());
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]) - 1, Number(m[3])];
  const at = end ? new Date(y, mo, d, 23, 59, 59, 999) : new Date(y, mo, d, 0, 0, 0, 0);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

const text = (s: string) => (s.trim() === "" ? null : s.trim());

/**
 * The backend filter for `form`. Dates are the operator's local days, sent as RFC 3339 UTC
 * instants: `from` the start of its day, `to` the end of its day.
 */
export function toSessionFilter(form: FilterForm): SessionFilter {
  return {
    from: localDay(form.from, false),
    to: localDay(form.to, true),
    result: form.result === "" ? null : form.result,
    operator: text(form.operator),
    model: text(form.model),
    firmware: text(form.firmware),
    failedStep: text(form.failedStep),
    deviceId: text(form.deviceId),
    workOrder: text(form.workOrder),
  };
}

/** The offset of the last page for `total` rows. */
export function lastOffset(total: number, size = PAGE_SIZE): number {
  return total <= 0 ? 0 : Math.floor((total - 1) / size) * size;
}

/** An offset moved by `pages`, kept inside [0, last]. */
export function moveOffset(offset: number, pages: number, total: number, size = PAGE_SIZE): number {
  return Math.min(Math.max(offset + pages * size, 0), lastOffset(total, size));
}

/** "51–100" for a page of `count` rows at `offset`; "0" for an empty page. */
export function pageRange(offset: number, count: number): string {
  return count === 0 ? "0" : `${offset + 1}–${offset + count}`;
}
