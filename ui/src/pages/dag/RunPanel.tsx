/** One run: its dates, conf and note, its task instances' states, and what may be done with it. */
import { useState } from "react";
import { del, post } from "../../api/client";
import type { TaskChange } from "../../api/types";
import { useAuth } from "../../auth";
import { Confirm, ErrorBox, JsonView, Loading, StateBadge, StateDot, durationBetween, formatDuration } from "../../components/common";
import { Time } from "../../components/time";
import { ChangeDialog, type ChangeRequest } from "./changes";
import type { Selection } from "./DagPage";
import { runPath, useDag, useRun, useRunTis } from "./hooks";

export function RunPanel({ dagId, selection }: { dagId: string; selection: Selection }) {
  const runId = selection.runId!;
  const run = useRun(dagId, runId);
  const tis = useRunTis(dagId, runId);
  const { can } = useAuth();
  const mayChange = useDag(dagId).data?.my_access.trigger ?? false;
  const [action, setAction] = useState<ChangeRequest | null>(null);
  const [deleting, setDeleting] = useState(false);
  const path = runPath(dagId, runId);

  const clear = (onlyFailed: boolean): ChangeRequest => ({
    title: onlyFailed ? "Clear the failed tasks of this run?" : "Clear the whole run?",
    confirmLabel: "Clear",
    note: "Cleared task instances run again; the run goes back to queued.",
    run: (dryRun) => post<{ task_instances: TaskChange[] }>(`${path}/clear`, { dry_run: dryRun, only_failed: onlyFailed }),
  });
  const mark = (state: "success" | "failed"): ChangeRequest => ({
    title: `Mark the run ${state}?`,
    confirmLabel: `Mark ${state}`,
    danger: state === "failed",
    note:
      state === "success"
        ? "Every task instance not yet successful or skipped is marked success, and so is the run."
        : "Running task instances are marked failed, those still waiting skipped, and the run failed.",
    run: (dryRun) => post<{ task_instances: TaskChange[] }>(`${path}/mark`, { state, dry_run: dryRun }),
  });

  if (run.isLoading) return <Loading what="the run" />;
  if (!run.data) return <ErrorBox error={run.error} title="Could not load the run" />;
  const r = run.data;
  const counts = new Map<string, number>();
  for (const t of tis.data?.task_instances ?? []) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);

  return (
    <div data-testid="run-panel">
      <header>
        <strong className="mono" style={{ flex: 1, overflow: "hidden", textOverflow: "ellipsis" }} title={r.dag_run_id}>
          {r.dag_run_id}
        </strong>
        <StateBadge state={r.state} />
        <button className="icon" aria-label="Close" onClick={() => selection.select(null)}>
          ×
        </button>
      </header>
      <section>
        <dl className="kv">
          <dt>Type</dt>
          <dd>{r.run_type}</dd>
          <dt>Logical date</dt>
          <dd>
            <Time iso={r.logical_date} />
          </dd>
          <dt>Data interval</dt>
          <dd>
            <Time iso={r.data_interval_start} /> → <Time iso={r.data_interval_end} />
          </dd>
          <dt>Started</dt>
          <dd>
            <Time iso={r.start_date} />
          </dd>
          <dt>Ended</dt>
          <dd>
            <Time iso={r.end_date} />
          </dd>
          <dt>Duration</dt>
          <dd>{formatDuration(durationBetween(r.start_date, r.end_date))}</dd>
          <dt>DAG version</dt>
          <dd>{r.dag_version ?? "—"}</dd>
          {r.note && (
            <>
              <dt>Note</dt>
              <dd>{r.note}</dd>
            </>
          )}
        </dl>
        {mayChange && (
          <div className="toolbar" style={{ marginTop: 12, marginBottom: 0 }}>
            <button onClick={() => setAction(clear(false))} data-testid="clear-run">
              Clear run
            </button>
            <button onClick={() => setAction(clear(true))}>Clear failed</button>
            <button onClick={() => setAction(mark("success"))}>Mark success</button>
            <button onClick={() => setAction(mark("failed"))}>Mark failed</button>
            {can("runs:delete") && (
              <button className="danger" onClick={() => setDeleting(true)}>
                Delete
              </button>
            )}
          </div>
        )}
      </section>
      <section>
        <h3 style={{ marginTop: 0 }}>Task instances</h3>
        <div className="toolbar">
          {[...counts.entries()].map(([state, n]) => (
            <span key={state}>
              <StateDot state={state} /> {n} {state.replace(/_/g, " ")}
            </span>
          ))}
        </div>
        <table className="table">
          <tbody>
            {(tis.data?.task_instances ?? []).map((t) => (
              <tr key={t.task_id} style={{ cursor: "pointer" }} onClick={() => selection.select(runId, t.task_id)}>
                <td className="mono">{t.task_id}</td>
                <td>
                  <StateBadge state={t.state} />
                </td>
                <td className="muted">{formatDuration(t.duration_ms ?? durationBetween(t.start_date, t.end_date))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section>
        <h3 style={{ marginTop: 0 }}>Conf</h3>
        <JsonView value={r.conf} />
      </section>
      {action && <ChangeDialog request={action} dagId={dagId} onClose={() => setAction(null)} />}
      {deleting && (
        <Confirm
          title="Delete this run?"
          confirmLabel="Delete the run"
          danger
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await del(path);
            selection.select(null);
          }}
        >
          <p>
            The run <strong className="mono">{r.dag_run_id}</strong> and its task instances, logs and XComs are deleted.
          </p>
        </Confirm>
      )}
    </div>
  );
}
