/**
 * Times as the UI shows them: always with their zone ("2026-01-01 00:00:00 UTC+1"), in the zone the
 * user picked in the top bar: UTC, the browser's zone, or the DAG's own zone. The choice is kept in
 * localStorage (every tab follows it). "The DAG's zone" is the default: on a DAG's pages its
 * timezone, on the DAG list each row's DAG, and UTC where a page shows several DAGs' times at once
 * (the browse lists, the admin pages), as the CLI, the API and run ids do.
 * The arithmetic is in zones.ts.
 */
import { createContext, useContext, useSyncExternalStore, type ReactNode } from "react";
import { formatTime, isZone, type FormatOptions } from "./zones";

export { formatTime, offsetLabel, offsetMs, wallToIso, wallToMs } from "./zones";

export type ZoneChoice = "dag" | "utc" | "browser";

const KEY = "updraft.timezone";
const listeners = new Set<() => void>();

function stored(): ZoneChoice {
  const value = localStorage.getItem(KEY);
  return value === "utc" || value === "browser" || value === "dag" ? value : "dag";
}

let choice: ZoneChoice = stored();

function changed(): void {
  for (const l of listeners) l();
}

export function setZoneChoice(next: ZoneChoice): void {
  choice = next;
  localStorage.setItem(KEY, next);
  changed();
}

// Another tab changed it.
window.addEventListener("storage", (e) => {
  if (e.key !== KEY) return;
  choice = stored();
  changed();
});

const subscribe = (listener: () => void) => {
  listeners.add(listener);
  return () => listeners.delete(listener);
};

export function useZoneChoice(): ZoneChoice {
  return useSyncExternalStore(subscribe, () => choice);
}

export const BROWSER_ZONE: string = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

/** The time zone of the DAG whose page is open (null elsewhere); provided by the layout. */
const PageDagZone = createContext<string | null>(null);

export function PageDagZoneProvider({ zone, children }: { zone: string | null; children: ReactNode }) {
  return <PageDagZone.Provider value={zone}>{children}</PageDagZone.Provider>;
}

export function usePageDagZone(): string | null {
  return useContext(PageDagZone);
}

export function resolveZone(picked: ZoneChoice, dagZone: string | null | undefined): string {
  if (picked === "utc") return "UTC";
  if (picked === "browser") return BROWSER_ZONE;
  return dagZone && isZone(dagZone) ? dagZone : "UTC";
}

/** The zone times are shown in here; `rowDagZone` is the zone of the DAG a row belongs to, when the page shows several. */
export function useTimeZone(rowDagZone?: string | null): string {
  const picked = useZoneChoice();
  const page = usePageDagZone();
  return resolveZone(picked, rowDagZone ?? page);
}

// ── Components ─────────────────────────────────────────────────────────────────────────────────

/** The formatter of the zone in effect here. */
export function useFormatTime(rowDagZone?: string | null): (value: string | number | null | undefined, options?: FormatOptions) => string {
  const zone = useTimeZone(rowDagZone);
  return (value, options) => formatTime(value, zone, options);
}

/** A time in the chosen zone, with the instant in UTC (and the zone's name) on hover. */
export function Time({ iso, dagZone }: { iso: string | null | undefined; dagZone?: string | null }) {
  const zone = useTimeZone(dagZone);
  return (
    <time dateTime={iso ?? undefined} title={iso ? `${new Date(iso).toISOString()} · shown in ${zone}` : undefined}>
      {formatTime(iso, zone)}
    </time>
  );
}

/** The top bar's switch: UTC, the browser's zone, or the DAG's. */
export function ZoneSwitch() {
  const picked = useZoneChoice();
  const pageZone = usePageDagZone();
  return (
    <select
      className="zone-switch"
      aria-label="Time zone"
      value={picked}
      onChange={(e) => setZoneChoice(e.target.value as ZoneChoice)}
      title="Times are shown in this zone. The DAG's zone: on a DAG's pages its own time zone, on the DAG list each DAG's, elsewhere UTC."
      data-testid="zone-switch"
    >
      <option value="dag">{pageZone ? `DAG: ${pageZone}` : "DAG's zone"}</option>
      <option value="utc">UTC</option>
      <option value="browser">Browser: {BROWSER_ZONE}</option>
    </select>
  );
}
