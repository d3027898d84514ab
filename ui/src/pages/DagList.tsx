import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { get, patch, seg } from "../api/client";
import type { Dag, ImportError } from "../api/types";
import { Empty, ErrorBox, Loading, Pager, StateDot } from "../components/common";
import { useDagIndex, useSearchState } from "../components/filters";
import { Time, useFormatTime } from "../components/time";
import { Trigger } from "./dag/Trigger";

const PAGE = 50;

export function scheduleInWords(dag: Pick<Dag, "schedule" | "schedule_description" | "timezone">): string {
  if (dag.schedule === null || dag.schedule === undefined) return "manual only";
  const words = dag.schedule_description || String(JSON.stringify(dag.schedule));
  // A cron schedule is read in the DAG's timezone (the description names it); an interval is not.
  if (!dag.timezone || words.includes(dag.timezone) || typeof dag.schedule === "object") return words;
  return `${words} (${dag.timezone})`;
}

export function PauseSwitch({ dag }: { dag: Pick<Dag, "dag_id" | "is_paused" | "my_access"> }) {
  const client = useQueryClient();
  const toggle = useMutation({
    mutationFn: () => patch<Dag>(`/dags/${seg(dag.dag_id)}`, { is_paused: !dag.is_paused }),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["dags"] });
      void client.invalidateQueries({ queryKey: ["dag", dag.dag_id] });
    },
  });
  return (
    <button
      className={`switch${dag.is_paused ? "" : " on"}`}
      role="switch"
      aria-checked={!dag.is_paused}
      aria-label={dag.is_paused ? `Unpause ${dag.dag_id}` : `Pause ${dag.dag_id}`}
      title={!dag.my_access.edit ? "Your role may not pause or unpause this DAG" : dag.is_paused ? "Paused: click to unpause" : "Active: click to pause"}
      disabled={!dag.my_access.edit || toggle.isPending}
      onClick={() => toggle.mutate()}
    />
  );
}

function ImportErrors() {
  const [open, setOpen] = useState(false);
  const errors = useQuery({ queryKey: ["importErrors"], queryFn: () => get<{ import_errors: ImportError[]; total_entries: number }>("/importErrors", { limit: 100, severity: "all" }) });
  const format = useFormatTime();
  const list = errors.data?.import_errors ?? [];
  if (list.length === 0) return null;
  const warned = list.filter((e) => e.severity === "warning").length;
  const failed = list.length - warned;
  const summary = [
    failed > 0 ? (failed === 1 ? "1 DAG file failed to import" : `${failed} DAG files failed to import`) : "",
    warned > 0 ? (warned === 1 ? "1 DAG file has type errors" : `${warned} DAG files have type errors`) : "",
  ].filter(Boolean).join(" · ");
  return (
    <div className="banner" role="status">
      <button className="link" onClick={() => setOpen((o) => !o)} aria-expanded={open}>
        {summary} {open ? "▴" : "▾"}
      </button>
      {open && (
        <ul>
          {list.map((e) => (
            <li key={`${e.severity ?? "error"}-${e.import_error_id}`}>
              <strong className="mono">
                {e.filename}
                {e.line !== null ? `:${e.line}${e.column !== null ? `:${e.column}` : ""}` : ""}
              </strong>{" "}
              <span className="muted">
                {e.severity === "warning" ? "warning, its DAGs are registered · " : ""}
                {e.code} · {format(e.timestamp)}
              </span>
              <pre className="json" style={{ marginTop: 4 }}>
                {e.message}
              </pre>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function DagList() {
  const { value, offset, set } = useSearchState();
  const search = value("search");
  const tag = value("tag");
  const status = value("status") || "all";
  const [triggering, setTriggering] = useState<string | null>(null);
  const [triggered, setTriggered] = useState<{ dagId: string; runId: string } | null>(null);
  const query = { dag_id_pattern: search || undefined, tags: tag ? [tag] : undefined, paused: status === "all" ? undefined : status === "paused", limit: PAGE, offset, recent_runs: 12 };
  const dags = useQuery({ queryKey: ["dags", query], queryFn: () => get<{ dags: Dag[]; total_entries: number }>("/dags", query), placeholderData: (previous) => previous });
  const index = useDagIndex();
  const allTags = [...new Set((index.data ?? []).flatMap((d) => d.tags))].sort();

  return (
    <div>
      <div className="page-head">
        <h1>DAGs</h1>
        <span className="muted">{dags.data ? `${dags.data.total_entries} in all` : ""}</span>
      </div>
      <ImportErrors />
      {triggered && (
        <div className="banner notice" role="status" data-testid="triggered">
          Run <Link to={`/dags/${seg(triggered.dagId)}/grid?run=${encodeURIComponent(triggered.runId)}`} className="mono">{triggered.runId}</Link> of{" "}
          <span className="mono">{triggered.dagId}</span> was created.{" "}
          <button className="link" onClick={() => setTriggered(null)}>
            Dismiss
          </button>
        </div>
      )}
      <div className="toolbar">
        <input type="search" placeholder="Search DAGs" aria-label="Search DAGs" value={search} onChange={(e) => set({ search: e.target.value })} style={{ width: 260 }} />
        <select aria-label="Tag" value={tag} onChange={(e) => set({ tag: e.target.value })}>
          <option value="">All tags</option>
          {allTags.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
        <select aria-label="Status" value={status} onChange={(e) => set({ status: e.target.value })}>
          <option value="all">Active and paused</option>
          <option value="active">Active</option>
          <option value="paused">Paused</option>
        </select>
      </div>
      <ErrorBox error={dags.error} title="Could not load the DAGs" />
      <div className="card">
        {dags.isLoading ? (
          <Loading what="DAGs" />
        ) : dags.data?.dags.length === 0 ? (
          <Empty>No DAG matches. DAG files go in the DAGs folder; they appear here within a second.</Empty>
        ) : (
          <table className="table" data-testid="dag-table">
            <thead>
              <tr>
                <th style={{ width: 56 }}></th>
                <th>DAG</th>
                <th>Owner</th>
                <th>Schedule</th>
                <th>Next run</th>
                <th>Recent runs</th>
                <th style={{ width: 64 }}></th>
              </tr>
            </thead>
            <tbody>
              {dags.data?.dags.map((d) => (
                <tr key={d.dag_id} data-dag-id={d.dag_id}>
                  <td>
                    <PauseSwitch dag={d} />
                  </td>
                  <td>
                    <Link to={`/dags/${seg(d.dag_id)}`} className="mono" style={{ fontWeight: 600 }}>
                      {d.dag_id}
                    </Link>
                    {d.has_import_errors && (
                      <span className="badge state-upstream_failed" style={{ marginLeft: 8 }} title="Its file has an import error; the last good version is shown">
                        import error
                      </span>
                    )}
                    {d.description && <div className="muted">{d.description}</div>}
                    <div style={{ marginTop: 4 }}>
                      {d.tags.map((t) => (
                        <button key={t} className="tag" onClick={() => set({ tag: t })}>
                          {t}
                        </button>
                      ))}
                    </div>
                  </td>
                  <td>{d.owner}</td>
                  <td>{scheduleInWords(d)}</td>
                  <td className="nowrap">{d.is_paused || !d.next_dagrun_create_after ? <span className="muted">—</span> : <Time iso={d.next_dagrun_create_after} dagZone={d.timezone} />}</td>
                  <td>
                    <span style={{ display: "inline-flex", gap: 3, flexDirection: "row-reverse" }}>
                      {(d.recent_runs ?? []).map((r) => (
                        <Link key={r.dag_run_id} to={`/dags/${seg(d.dag_id)}/grid?run=${encodeURIComponent(r.dag_run_id)}`}>
                          <StateDot state={r.state} title={`${r.dag_run_id}: ${r.state}`} />
                        </Link>
                      ))}
                    </span>
                    {(d.recent_runs ?? []).length === 0 && <span className="muted">no runs yet</span>}
                  </td>
                  <td className="row-actions">
                    {d.my_access.trigger && (
                      <button className="icon-button" onClick={() => setTriggering(d.dag_id)} aria-label={`Trigger ${d.dag_id}`} title="Trigger a run" data-testid="trigger-row">
                        ▶
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {dags.data && <Pager total={dags.data.total_entries} limit={PAGE} offset={offset} onOffset={(n) => set({ offset: String(n) })} />}
      </div>
      {triggering && (
        <Trigger
          dagId={triggering}
          onClose={() => setTriggering(null)}
          onTriggered={(runId) => setTriggered({ dagId: triggering, runId })}
        />
      )}
    </div>
  );
}
