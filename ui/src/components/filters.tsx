/** Filters of the lists: kept in the URL (so a filtered list can be linked and survives a reload), with dates in the chosen time zone. */
import { useQuery } from "@tanstack/react-query";
import { useSearchParams } from "react-router";
import { get } from "../api/client";
import type { Dag } from "../api/types";
import { useTimeZone, wallToIso } from "./time";

/** Filters in the URL's query; any change but paging starts again at the first page. */
export function useSearchState() {
  const [params, setParams] = useSearchParams();
  const set = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === "") next.delete(k);
      else next.set(k, v);
    }
    if (!("offset" in changes)) next.delete("offset");
    setParams(next, { replace: true });
  };
  return { value: (key: string) => params.get(key) ?? "", offset: Number(params.get("offset") ?? 0) || 0, set, params };
}

export function SelectFilter({ label, value, options, onChange, any = "any" }: { label: string; value: string; options: readonly string[]; onChange(v: string): void; any?: string }) {
  return (
    <label className="filter">
      <span className="muted">{label}</span>
      <select value={value} onChange={(e) => onChange(e.target.value)} aria-label={label}>
        <option value="">{any}</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {o.replace(/_/g, " ")}
          </option>
        ))}
      </select>
    </label>
  );
}

/**
 * Every DAG the user may read, once (ids and tags for filters and suggestions). Refreshed when a
 * DAG changes (api/useLive.ts), not on every run event.
 */
export function useDagIndex() {
  return useQuery({
    queryKey: ["dagIndex"],
    queryFn: async () => (await get<{ dags: Dag[] }>("/dags", { limit: 1000 })).dags.map((d) => ({ dag_id: d.dag_id, tags: d.tags })),
    staleTime: 60_000,
  });
}

export function DagIdFilter({ value, onChange }: { value: string; onChange(v: string): void }) {
  const index = useDagIndex();
  return (
    <label className="filter">
      <span className="muted">DAG</span>
      <input type="search" list="dag-ids" placeholder="any DAG" aria-label="DAG id" value={value} onChange={(e) => onChange(e.target.value.trim())} style={{ width: 190 }} />
      <datalist id="dag-ids">
        {(index.data ?? []).map((d) => (
          <option key={d.dag_id} value={d.dag_id} />
        ))}
      </datalist>
    </label>
  );
}

/** A free-text filter of a list (task id, XCom key, …): what is typed, trimmed. */
export function TextFilter({ label, placeholder, value, onChange }: { label: string; placeholder: string; value: string; onChange(v: string): void }) {
  return (
    <label className="filter">
      <span className="muted">{label}</span>
      <input type="search" placeholder={placeholder} aria-label={label} value={value} onChange={(e) => onChange(e.target.value.trim())} style={{ width: 150 }} />
    </label>
  );
}

/** Logical date from/to as wall-clock times in the chosen zone; `toIso` turns them into instants for the API. */
export function DateRangeFilter({ from, to, onChange, label = "Logical date" }: { from: string; to: string; onChange(from: string, to: string): void; label?: string }) {
  const zone = useTimeZone();
  const where = `in ${zone}`;
  return (
    <>
      <label className="filter" title={`${label} at or after this, ${where}`}>
        <span className="muted">
          {label} ({zone === "UTC" ? "UTC" : zone}) from
        </span>
        <input type="datetime-local" aria-label={`${label} from`} value={from} onChange={(e) => onChange(e.target.value, to)} />
      </label>
      <label className="filter" title={`${label} at or before this, ${where}`}>
        <span className="muted">to</span>
        <input type="datetime-local" aria-label={`${label} to`} value={to} onChange={(e) => onChange(from, e.target.value)} />
      </label>
    </>
  );
}

/** The API's `<name>_gte` and `<name>_lte` for a range of wall-clock inputs in the zone in effect. */
export function useDateBounds(name: string, from: string, to: string): Record<string, string | undefined> {
  const zone = useTimeZone();
  return { [`${name}_gte`]: wallToIso(from, zone), [`${name}_lte`]: wallToIso(to, zone, true) };
}
