// Which screen the shell shows, and which tabs an operator may use. Pure, so it is tested
// without a window.
import type { Role, StationStatus } from "./api-types";

export type Route = "setup" | "unlock" | "login" | "main";

export type Tab = "line" | "recommission" | "journal" | "yield" | "audit" | "settings" | "log";

/** Every tab in nav order; Alt+1..7 follow this order. */
export const TABS: readonly { id: Tab; label: string }[] = [
  { id: "line", label: "Line" },
  { id: "recommission", label: "Recommission" },
  { id: "journal", label: "Journal" },
  { id: "yield", label: "Yield" },
  { id: "audit", label: "Audit" },
  { id: "settings", label: "Settings" },
  { id: "log", label: "Log" },
];

const BY_ROLE: Readonly<Record<Role, readonly Tab[]>> = {
  // Settings for everyone: each operator changes their own PIN there.
  technician: ["line", "settings"],
  field_engineer: ["line", "recommission", "settings"],
  qa: ["journal", "yield", "audit", "settings", "log"],
  admin: TABS.map((t) => t.id),
};

export const ROLE_LABEL: Readonly<Record<Role, string>> = {
  technician: "Technician",
  field_engineer: "Field engineer",
  qa: "QA",
  admin: "Admin",
};

/** The first screen `status` calls for. */
export function routeFor(status: StationStatus): Route {
  if (!status.configured) return "setup";
  if (!status.caUnlocked) return "unlock";
  if (status.operatorsEnforced && !status.operator) return "login";
  return "main";
}

/** The tabs the signed-in operator may use; all of them when operators are not enforced. */
export function tabsFor(status: StationStatus): Tab[] {
  if (!status.operatorsEnforced) return TABS.map((t) => t.id);
  const role = status.operator?.role;
  if (!role) return [];
  const allowed = BY_ROLE[role] ?? [];
  return TABS.map((t) => t.id).filter((id) => allowed.includes(id));
}

/** The tab Alt+`digit` selects, if the operator may use it. */
export function tabForShortcut(digit: string, allowed: readonly Tab[]): Tab | null {
  const n = Number.parseInt(digit, 10);
  if (!Number.isInteger(n) || n < 1 || n > TABS.length) return null;
  const tab = TABS[n - 1]?.id;
  return tab && allowed.includes(tab) ? tab : null;
}
