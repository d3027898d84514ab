/** Reads of DAG runs, task instances, tries, XComs and logs (for the CLI and the API). */
import type { Kysely } from "kysely";
import { UpdraftError } from "../errors/index.js";
import type { Database, DagRunRow, TaskInstanceRow, TaskLogRow, TaskTryRow } from "./schema.js";

export async function listDagRuns(db: Kysely<Database>, options: { dagId?: string; state?: string; runType?: string; limit?: number; offset?: number } = {}): Promise<DagRunRow[]> {
  return db
    .selectFrom("dag_run")
    .selectAll()
    .$if(options.dagId !== undefined, (q) => q.where("dag_id", "=", options.dagId!))
    .$if(options.state !== undefined, (q) => q.where("state", "=", options.state!))
    .$if(options.runType !== undefined, (q) => q.where("run_type", "=", options.runType!))
    .orderBy("logical_date", "desc")
    .orderBy("id", "desc")
    .limit(options.limit ?? 100)
    .offset(options.offset ?? 0)
    .execute();
}

export async function requireDagRun(db: Kysely<Database>, dagId: string, runId: string): Promise<DagRunRow> {
  const run = await db.selectFrom("dag_run").selectAll().where("dag_id", "=", dagId).where("run_id", "=", runId).executeTakeFirst();
  if (run) return run;
  const recent = await db.selectFrom("dag_run").select("run_id").where("dag_id", "=", dagId).orderBy("id", "desc").limit(5).execute();
  throw new UpdraftError("UPDRAFT_E_DAG_RUN_NOT_FOUND", `DAG '${dagId}' has no run '${runId}'`, {
    hint: recent.length ? `recent runs: ${recent.map((r) => r.run_id).join(", ")}` : `DAG '${dagId}' has no runs yet`,
  });
}

export async function listTaskInstances(db: Kysely<Database>, dagRunId: number): Promise<TaskInstanceRow[]> {
  return db.selectFrom("task_instance").selectAll().where("dag_run_id", "=", dagRunId).orderBy("id").execute();
}

export async function requireTaskInstance(db: Kysely<Database>, dagRun: DagRunRow, taskId: string): Promise<TaskInstanceRow> {
  const ti = await db.selectFrom("task_instance").selectAll().where("dag_run_id", "=", dagRun.id).where("task_id", "=", taskId).executeTakeFirst();
  if (ti) return ti;
  const tasks = await db.selectFrom("task_instance").select("task_id").where("dag_run_id", "=", dagRun.id).orderBy("id").limit(30).execute();
  throw new UpdraftError("UPDRAFT_E_TASK_NOT_FOUND", `run '${dagRun.run_id}' of DAG '${dagRun.dag_id}' has no task '${taskId}'`, {
    hint: `its tasks: ${tasks.map((t) => t.task_id).join(", ")}`,
  });
}

export async function listTries(db: Kysely<Database>, tiId: number): Promise<TaskTryRow[]> {
  return db.selectFrom("task_try").selectAll().where("ti_id", "=", tiId).orderBy("try_number").execute();
}

export async function readLogs(db: Kysely<Database>, tiId: number, tryNumber: number, options: { afterId?: number; limit?: number } = {}): Promise<TaskLogRow[]> {
  return db
    .selectFrom("task_log")
    .selectAll()
    .where("ti_id", "=", tiId)
    .where("try_number", "=", tryNumber)
    .$if(options.afterId !== undefined, (q) => q.where("id", ">", options.afterId!))
    .orderBy("id")
    .limit(options.limit ?? 1_000_000)
    .execute();
}

export async function readXcoms(db: Kysely<Database>, dagRunId: number, taskId?: string): Promise<Array<{ task_id: string; key: string; value: string }>> {
  return db
    .selectFrom("xcom")
    .select(["task_id", "key", "value"])
    .where("dag_run_id", "=", dagRunId)
    .$if(taskId !== undefined, (q) => q.where("task_id", "=", taskId!))
    .orderBy("task_id")
    .orderBy("key")
    .execute();
}
