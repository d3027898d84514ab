/** The audit log: logins and every change, who, what, when, from where and how it ended. */
import { useQuery } from "@tanstack/react-query";
import { Fragment } from "react";
import { Link } from "react-router";
import { get, seg } from "../../api/client";
import type { EventLog } from "../../api/types";
import { Empty, ErrorBox, JsonView, Loading, Pager, useOpenSet } from "../../components/common";
import { useSearchState } from "../../components/filters";
import { Time } from "../../components/time";
import { AdminHead, Dash } from "./shared";

const PAGE = 50;
const FILTERS = ["username", "action", "dag_id", "object_type", "outcome"] as const;
type Filter = (typeof FILTERS)[number];

/** The actions and object types the server records, offered as suggestions (the filters match exactly). */
const ACTIONS = [
  "auth.login",
  "auth.logout",
  "auth.refresh",
  "dag.update",
  "dag.delete",
  "dag_run.trigger",
  "dag_run.update",
  "dag_run.clear",
  "dag_run.delete",
  "task_instance.clear",
  "task_instance.set_state",
  "pool.create",
  "pool.update",
  "pool.delete",
  "connection.create",
  "connection.update",
  "connection.delete",
  "variable.create",
  "variable.update",
  "variable.delete",
  "user.create",
  "user.update",
  "user.delete",
  "role.create",
  "role.update",
  "role.delete",
  "token.create",
  "token.revoke",
];
const OBJECT_TYPES = ["dag", "dag_run", "task_instance", "pool", "connection", "variable", "user", "role", "api_token"];
const OUTCOME_CLASS: Record<string, string> = { success: "state-success", denied: "state-upstream_failed", failure: "state-failed" };

export function AuditLog() {
  const { value, offset, set } = useSearchState();
  const [open, toggle] = useOpenSet<number>();
  const filters = Object.fromEntries(FILTERS.map((f) => [f, value(f)])) as Record<Filter, string>;
  const query = { ...Object.fromEntries(FILTERS.map((f) => [f, filters[f].trim() || undefined])), limit: PAGE, offset };
  const events = useQuery({
    queryKey: ["admin", "audit", query],
    queryFn: () => get<{ event_logs: EventLog[]; total_entries: number }>("/eventLogs", query),
    placeholderData: (previous) => previous,
  });
  const filtered = FILTERS.some((f) => filters[f] !== "");

  return (
    <div>
      <AdminHead title="Audit log" count={events.data?.total_entries}>
        <button onClick={() => void events.refetch()} disabled={events.isFetching}>
          {events.isFetching ? "Refreshing…" : "Refresh"}
        </button>
      </AdminHead>
      <div className="toolbar">
        <input type="search" placeholder="User" aria-label="User" value={filters.username} onChange={(e) => set({ username: e.target.value })} style={{ width: 150 }} />
        <input type="search" placeholder="Action" aria-label="Action" list="audit-actions" value={filters.action} onChange={(e) => set({ action: e.target.value })} style={{ width: 200 }} />
        <datalist id="audit-actions">
          {ACTIONS.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        <input type="search" placeholder="DAG id" aria-label="DAG id" value={filters.dag_id} onChange={(e) => set({ dag_id: e.target.value })} style={{ width: 180 }} />
        <select aria-label="Object type" value={filters.object_type} onChange={(e) => set({ object_type: e.target.value })}>
          <option value="">All object types</option>
          {OBJECT_TYPES.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
        <select aria-label="Outcome" value={filters.outcome} onChange={(e) => set({ outcome: e.target.value })}>
          <option value="">All outcomes</option>
          <option value="success">success</option>
          <option value="denied">denied</option>
          <option value="failure">failure</option>
        </select>
        {filtered && (
          <button className="link" onClick={() => set(Object.fromEntries(FILTERS.map((f) => [f, null])))}>
            Clear filters
          </button>
        )}
        <span className="grow" />
        <span className="muted small">Filters match exactly.</span>
      </div>
      <ErrorBox error={events.error} title="Could not load the audit log" />
      <div className="card">
        {events.isLoading ? (
          <Loading what="the audit log" />
        ) : events.data?.event_logs.length === 0 ? (
          <Empty>{filtered ? "No event matches these filters." : "The audit log is empty."}</Empty>
        ) : (
          <div className="table-scroll">
            <table className="table audit-table" data-testid="audit-table">
              <thead>
                <tr>
                  <th style={{ width: 28 }}></th>
                  <th>Time</th>
                  <th>User</th>
                  <th>Action</th>
                  <th>Object</th>
                  <th>DAG</th>
                  <th>Source IP</th>
                  <th>Outcome</th>
                  <th className="num">Status</th>
                </tr>
              </thead>
              <tbody>
                {events.data?.event_logs.map((e) => {
                  const expanded = open.has(e.event_log_id);
                  return (
                    <Fragment key={e.event_log_id}>
                      <tr className={expanded ? "expanded" : undefined}>
                        <td>
                          <button className="icon expand" onClick={() => toggle(e.event_log_id)} aria-expanded={expanded} aria-label={expanded ? "Hide details" : "Show details"} title="Details">
                            {expanded ? "▾" : "▸"}
                          </button>
                        </td>
                        <td className="nowrap">
                          <Time iso={e.when} />
                        </td>
                        <td className="mono">{e.username ?? <Dash />}</td>
                        <td>
                          <button className="link mono" onClick={() => set({ action: e.action })} title="Show only this action">
                            {e.action}
                          </button>
                        </td>
                        <td className="wrap">
                          {e.object_type ? <span className="muted">{e.object_type}</span> : <Dash />}
                          {e.object_id && <span className="mono"> {e.object_id}</span>}
                        </td>
                        <td className="wrap">{e.dag_id ? <Link to={`/dags/${seg(e.dag_id)}`} className="mono">{e.dag_id}</Link> : <Dash />}</td>
                        <td className="mono">{e.source_ip ?? <Dash />}</td>
                        <td>
                          <span className={`badge ${OUTCOME_CLASS[e.outcome] ?? "state-none"}`}>{e.outcome}</span>
                        </td>
                        <td className="num mono">{e.status ?? <Dash />}</td>
                      </tr>
                      {expanded && (
                        <tr className="details-row">
                          <td></td>
                          <td colSpan={8}>
                            <dl className="kv">
                              <dt>Request</dt>
                              <dd className="mono">
                                {e.method ?? "—"} {e.path ?? ""}
                              </dd>
                              <dt>Event id</dt>
                              <dd className="mono">{e.event_log_id}</dd>
                              <dt>Details</dt>
                              <dd>
                                <Details value={e.details} />
                              </dd>
                            </dl>
                          </td>
                        </tr>
                      )}
                    </Fragment>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
        {events.data && <Pager total={events.data.total_entries} limit={PAGE} offset={offset} onOffset={(n) => set({ offset: String(n) })} />}
      </div>
    </div>
  );
}

function Details({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <span className="muted">none</span>;
  // Details cut at 4000 characters come back as the unfinished text.
  if (typeof value === "string") return <pre className="json">{value}</pre>;
  return <JsonView value={value} />;
}
