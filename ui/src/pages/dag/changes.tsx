/**
 * State changes that touch several task instances (clear, mark) are asked for as a dry run
 * first; the confirmation lists exactly what will change, then the same request runs for real.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import type { TaskChange } from "../../api/types";
import { Confirm, ErrorBox, Loading, StateBadge } from "../../components/common";

export interface ChangeRequest {
  title: string;
  confirmLabel: string;
  danger?: boolean;
  /** Runs the request; `dryRun` true must change nothing. */
  run(dryRun: boolean): Promise<{ task_instances: TaskChange[] } | void>;
  /** What happens besides the listed changes (for a whole run). */
  note?: string;
}

export function ChangeDialog({ request, dagId, onClose }: { request: ChangeRequest; dagId: string; onClose(): void }) {
  const [preview, setPreview] = useState<TaskChange[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const client = useQueryClient();
  useEffect(() => {
    let live = true;
    request.run(true).then(
      (result) => live && setPreview(result ? result.task_instances : []),
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [request]);
  return (
    <Confirm
      title={request.title}
      confirmLabel={request.confirmLabel}
      danger={request.danger}
      onClose={onClose}
      onConfirm={async () => {
        if (error) throw error;
        await request.run(false);
        await client.invalidateQueries({ queryKey: ["grid", dagId] });
        await client.invalidateQueries({ queryKey: ["tis", dagId] });
        await client.invalidateQueries({ queryKey: ["ti", dagId] });
        await client.invalidateQueries({ queryKey: ["run", dagId] });
        await client.invalidateQueries({ queryKey: ["runs", dagId] });
      }}
    >
      {request.note && <p>{request.note}</p>}
      <ErrorBox error={error} title="The dry run failed" />
      {preview === null && !error && <Loading what="what would change" />}
      {preview !== null && preview.length === 0 && <p className="muted">Nothing would change.</p>}
      {preview !== null && preview.length > 0 && (
        <>
          <p>
            {preview.length === 1 ? "This task instance changes:" : `These ${preview.length} task instances change:`}
          </p>
          <div style={{ maxHeight: 260, overflow: "auto" }}>
            <table className="table" data-testid="change-list">
              <thead>
                <tr>
                  <th>Task</th>
                  <th>Run</th>
                  <th>Now</th>
                  <th>Becomes</th>
                </tr>
              </thead>
              <tbody>
                {preview.map((c) => (
                  <tr key={`${c.dag_run_id}/${c.task_id}`}>
                    <td className="mono">{c.task_id}</td>
                    <td className="mono">{c.dag_run_id}</td>
                    <td>
                      <StateBadge state={c.previous_state} />
                    </td>
                    <td>
                      <StateBadge state={c.new_state} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Confirm>
  );
}
