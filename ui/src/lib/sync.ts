// The status bar's sync indicator: what `commissioner sync status` says, in a few words.
import type { SyncStatus } from "./api-types";

/** A backlog older than this (or never synced) is shown as behind. */
export const BEHIND_AFTER_MS = 5 * 60_000;

/** How long ago `iso` was, from `now`, as a person reads it. */
export function ago(iso: string, now: Date): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const s = Math.max(0, Math.round((now.getTime() - then) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

export interface SyncView {
  text: string;
  /** Entries wait and the last sync is old or never happened. */
  behind: boolean;
  /** The longer wording, for the tooltip and screen readers. */
  title: string;
}

export function syncView(s: SyncStatus, now: Date): SyncView {
  const last = s.lastSync ? `last sync ${ago(s.lastSync, now)}` : "never synced";
  const stale = !s.lastSync || now.getTime() - Date.parse(s.lastSync) > BEHIND_AFTER_MS;
  const behind = s.pending > 0 && stale;
  const text = s.pending === 0 ? `Central: up to date · ${last}` : `Central: ${s.pending} waiting · ${last}`;
  const title =
    `${s.pending} journal entr${s.pending === 1 ? "y" : "ies"} (${s.pendingSessions} session(s)) ` +
    `wait for the central store; ${s.lastSync ? `last successful sync ${s.lastSync}` : "never synced"}`;
  return { text, behind, title };
}
