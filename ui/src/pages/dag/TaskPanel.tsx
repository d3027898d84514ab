/** One task instance of one run: its tries, the log of each (live while it runs), its XComs, and actions. */
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { get, patch, post, seg } from "../../api/client";
import type { TaskChange, TaskInstance, Try, XcomEntry } from "../../api/types";
import { ErrorBox, JsonView, Loading, StateBadge, durationBetween, formatDuration } from "../../components/common";
import { Time } from "../../components/time";
import { ChangeDialog, type ChangeRequest } from "./changes";
import type { Selection } from "./DagPage";
import { tiPath, useDag } from "./hooks";
import { TryLog } from "./TryLog";

export function TaskPanel({ dagId, selection }: { dagId: string; selection: Selection }) {
  const runId = selection.runId!;
  const taskId = selection.taskId!;
  const path = tiPath(dagId, runId, taskId);
  const mayChange = useDag(dagId).data?.my_access.trigger ?? false;
  const ti = useQuery({ queryKey: ["ti", dagId, runId, taskId], queryFn: () => get<TaskInstance>(path) });
  const tries = useQuery({ queryKey: ["tries", dagId, runId, taskId], queryFn: () => get<{ task_instance_tries: Try[] }>(`${path}/tries`) });
  const xcom = useQuery({ queryKey: ["xcom", dagId, runId, taskId], queryFn: () => get<{ xcom_entries: XcomEntry[] }>(`${path}/xcomEntries`) });
  const [pickedTry, setPickedTry] = useState<number | null>(null);
  const [action, setAction] = useState<ChangeRequest | null>(null);
  const [downstream, setDownstream] = useState(true);
  const [upstream, setUpstream] = useState(false);

  const latestTry = ti.data?.try_number ?? 0;
  const shownTry = pickedTry !== null && pickedTry <= latestTry ? pickedTry : latestTry;
  const tryRow = tries.data?.task_instance_tries.find((t) => t.try_number === shownTry);

  const clear: ChangeRequest = {
    title: `Clear ${taskId}?`,
    confirmLabel: "Clear",
    note: `Cleared task instances run again${downstream ? ", with everything downstream of them" : ""}${upstream ? " and upstream of them" : ""}.`,
    run: (dryRun) =>
      post<{ task_instances: TaskChange[] }>(`/dags/${seg(dagId)}/clearTaskInstances`, {
        dag_run_id: runId,
        task_ids: [taskId],
        include_downstream: downstream,
        include_upstream: upstream,
        dry_run: dryRun,
      }),
  };
  const mark = (state: "success" | "failed"): ChangeRequest => ({
    title: `Mark ${taskId} ${state}?`,
    confirmLabel: `Mark ${state}`,
    danger: state === "failed",
    run: (dryRun) => patch<{ task_instances: TaskChange[] }>(path, { new_state: state, include_downstream: downstream, dry_run: dryRun }),
  });

  return (
    <div data-testid="task-panel">
      <header>
        <strong className="mono" style={{ flex: 1, overflow: "hidden", textOverflow: "ellipsis" }} title={taskId}>
          {taskId}
        </strong>
        {ti.data && <StateBadge state={ti.data.state} />}
        <button className="icon" aria-label="Close" onClick={() => selection.select(runId)}>
          ×
        </button>
      </header>
      <ErrorBox error={ti.error} title="Could not load the task instance" />
      {ti.data && (
        <section>
          <dl className="kv">
            <dt>Run</dt>
            <dd className="mono">
              <button className="link" onClick={() => selection.select(runId)}>
                {runId}
              </button>
            </dd>
            <dt>Operator</dt>
            <dd>{ti.data.operator}</dd>
            <dt>Try</dt>
            <dd>
              {ti.data.try_number} of {ti.data.max_tries}
            </dd>
            <dt>Started</dt>
            <dd>
              <Time iso={ti.data.start_date} />
            </dd>
            <dt>Ended</dt>
            <dd>
              <Time iso={ti.data.end_date} />
            </dd>
            <dt>Duration</dt>
            <dd>{formatDuration(ti.data.duration_ms ?? durationBetween(ti.data.start_date, ti.data.end_date))}</dd>
            {ti.data.next_retry_at && (
              <>
                <dt>Next try</dt>
                <dd>
                  <Time iso={ti.data.next_retry_at} />
                </dd>
              </>
            )}
            <dt>Pool</dt>
            <dd>
              {ti.data.pool} ({ti.data.pool_slots} slot{ti.data.pool_slots === 1 ? "" : "s"}), priority {ti.data.priority_weight}
            </dd>
          </dl>
          {mayChange && (
            <div className="ti-actions" style={{ marginTop: 12 }}>
              <div className="toolbar" style={{ marginBottom: 8 }}>
                <label style={{ display: "flex", gap: 6, alignItems: "center" }}>
                  <input type="checkbox" checked={downstream} onChange={(e) => setDownstream(e.target.checked)} /> downstream
                </label>
                <label style={{ display: "flex", gap: 6, alignItems: "center" }}>
                  <input type="checkbox" checked={upstream} onChange={(e) => setUpstream(e.target.checked)} /> upstream (clear)
                </label>
              </div>
              <div className="toolbar" style={{ marginBottom: 0 }}>
                <button onClick={() => setAction(clear)} data-testid="clear-task">
                  Clear
                </button>
                <button onClick={() => setAction(mark("success"))}>Mark success</button>
                <button onClick={() => setAction(mark("failed"))}>Mark failed</button>
              </div>
            </div>
          )}
        </section>
      )}
      <section>
        <h3 style={{ marginTop: 0 }}>Tries</h3>
        {tries.isLoading && <Loading />}
        {tries.data && tries.data.task_instance_tries.length === 0 && <span className="muted">Not tried yet.</span>}
        <div className="toolbar" style={{ marginBottom: 8 }}>
          {tries.data?.task_instance_tries.map((t) => (
            <button key={t.try_number} className={t.try_number === shownTry ? "primary" : ""} onClick={() => setPickedTry(t.try_number)} title={t.state}>
              #{t.try_number} <span className={`dot ${`state-${t.state}`}`} />
            </button>
          ))}
        </div>
        {tryRow && (
          <dl className="kv">
            <dt>State</dt>
            <dd>
              <StateBadge state={tryRow.state} />
            </dd>
            <dt>Start → end</dt>
            <dd>
              <Time iso={tryRow.start_date} /> → <Time iso={tryRow.end_date} />
            </dd>
            <dt>Duration</dt>
            <dd>{formatDuration(tryRow.duration_ms ?? durationBetween(tryRow.start_date, tryRow.end_date))}</dd>
            {tryRow.hostname && (
              <>
                <dt>Host / pid</dt>
                <dd>
                  {tryRow.hostname} / {tryRow.pid ?? "—"}
                </dd>
              </>
            )}
            {tryRow.error_message && (
              <>
                <dt>Error</dt>
                <dd className="mono" style={{ color: "var(--danger)" }}>
                  {tryRow.error_code ? `${tryRow.error_code}: ` : ""}
                  {tryRow.error_message}
                </dd>
              </>
            )}
          </dl>
        )}
        {tryRow?.stack && <TryStack key={tryRow.try_number} stack={tryRow.stack} full={tryRow.full_stack} />}
      </section>
      {shownTry > 0 && (
        <section>
          <h3 style={{ marginTop: 0 }}>Log of try {shownTry}</h3>
          <TryLog key={`${runId}/${taskId}/${shownTry}`} dagId={dagId} runId={runId} taskId={taskId} tryNumber={shownTry} running={shownTry === latestTry && isActive(ti.data?.state)} />
        </section>
      )}
      <section>
        <h3 style={{ marginTop: 0 }}>XCom</h3>
        {xcom.data?.xcom_entries.length === 0 && <span className="muted">No output.</span>}
        {xcom.data?.xcom_entries.map((x) => (
          <div key={x.key} style={{ marginBottom: 8 }}>
            <div className="mono muted">{x.key}</div>
            <JsonView value={x.value} />
          </div>
        ))}
      </section>
      {action && <ChangeDialog request={action} dagId={dagId} onClose={() => setAction(null)} />}
    </div>
  );
}

const isActive = (state: string | undefined) => state === "running" || state === "queued" || state === "scheduled" || state === "up_for_retry";

const frameCount = (stack: string) => stack.split("\n").filter((l) => /^\s+at /.test(l)).length;

/** The failed try's stack: the task's own frames, and Updraft's and Node's behind a switch. */
function TryStack({ stack, full }: { stack: string; full: string | null }) {
  const [all, setAll] = useState(false);
  const hidden = full ? frameCount(full) - frameCount(stack) : 0;
  return (
    <div>
      <pre className="stack" data-testid="stack">
        {all && full ? full : stack}
      </pre>
      {hidden > 0 && (
        <label className="inline-check">
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} data-testid="stack-toggle" /> Show Updraft frames ({hidden} of Updraft&apos;s runner and Node.js)
        </label>
      )}
    </div>
  );
}
