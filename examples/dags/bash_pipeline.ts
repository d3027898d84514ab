// A bash pipeline with retries: bash() tasks sharing a work directory, extra environment
// variables, a step that fails on its first try and succeeds on the retry (it reads
// $UPDRAFT_TRY_NUMBER), exponential backoff from a 1 s delay, execution timeouts, a TypeScript
// task that takes the output (last stdout line) of two bash tasks, and a cleanup that always runs.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bash, dag, task, type TaskContext } from "updraft";

/** A shell script from lines; it stops at the first failing command. */
const script = (...lines: string[]) => ["set -euo pipefail", ...lines].join("\n");

/** One work directory per run, so runs never see each other's files. */
const workDir = (ctx: TaskContext) => join(tmpdir(), "updraft-examples", "bash_pipeline", ctx.runId.replace(/[^A-Za-z0-9_.-]/g, "_"));

const summarize = task({
  id: "summarize",
  run: (input: { rows: string; totalEur: string }, ctx) => {
    const report = { day: ctx.ds, rows: Number(input.rows), totalEur: Number(input.totalEur) };
    if (!Number.isFinite(report.rows) || !Number.isFinite(report.totalEur)) throw new Error(`unexpected step output: ${JSON.stringify(input)}`);
    ctx.log.info(`${report.rows} payments, ${report.totalEur} EUR`);
    return report;
  },
});

export default dag(
  {
    id: "bash_pipeline",
    description: "Payments file → exchange rates → EUR total, with shell steps",
    schedule: { every: "6h" },
    startDate: "2026-11-01",
    owner: "ops",
    tags: ["bash", "retries", "example"],
    // Every task: a try may take at most 30 s; a try that is stuck is stopped and retried.
    defaults: { executionTimeout: "30s", retries: 1, retryDelay: "1s" },
  },
  () => {
    const prepare = bash({
      id: "prepare",
      command: (ctx) =>
        script(
          `mkdir -p "${workDir(ctx)}" && cd "${workDir(ctx)}"`,
          `printf 'id,currency,amount\\n1,EUR,12.50\\n2,USD,40.00\\n3,EUR,7.25\\n4,USD,3.10\\n' > payments.csv`,
          `echo "prepared the payments of $UPDRAFT_DS"`,
          `tail -n +2 payments.csv | wc -l`, // the last line printed is the task's output
        ),
    });

    // Flaky on purpose: the first try fails as if the rates service were busy; the retry works.
    const fetchRates = bash({
      id: "fetch_rates",
      command: (ctx) =>
        script(
          `cd "${workDir(ctx)}"`,
          `if [ "$UPDRAFT_TRY_NUMBER" -lt 2 ]; then echo "rates service answered 503 on try $UPDRAFT_TRY_NUMBER" >&2; exit 1; fi`,
          `printf 'EUR 1.00\\nUSD %s\\n' "$USD_TO_EUR" > rates.txt`,
          `echo "rates fetched on try $UPDRAFT_TRY_NUMBER"`,
        ),
      env: { USD_TO_EUR: "0.92" },
      retries: 3,
      retryDelay: "1s",
      retryBackoff: "exponential", // waits 1 s, 2 s, 4 s before tries 2, 3, 4
      maxRetryDelay: "10s",
      executionTimeout: "10s",
    }).after(prepare);

    const convert = bash({
      id: "convert",
      command: (ctx) =>
        script(
          `cd "${workDir(ctx)}"`,
          `awk 'NR == FNR { rate[$1] = $2; next } FNR > 1 { split($0, f, ","); total += f[3] * rate[f[2]] } END { printf "%.2f\\n", total }' rates.txt payments.csv`,
        ),
      env: { LC_ALL: "C" },
    }).after(fetchRates);

    // Outputs travel as XCom, not as files: this task needs no work directory.
    summarize({ rows: prepare, totalEur: convert });

    // all_done: the work directory goes away whether the shell steps succeeded or not. It is a
    // leaf beside summarize (not after it), so a failed step still fails the run: summarize
    // ends upstream_failed, and a run with a failed or upstream_failed leaf fails.
    bash({
      id: "cleanup",
      command: (ctx) => `rm -rf "${workDir(ctx)}"`,
      triggerRule: "all_done",
    }).after(convert);
  },
);
