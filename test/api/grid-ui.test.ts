/** The grid answer, recent runs on the DAG list, and the web UI's files and pages as the API server serves them. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { UI_CSP } from "../../src/api/ui.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createApiEnv, type ApiEnv } from "./helpers.js";

const DAGS = {
  "grouped.ts": `
    import { dag, group, task } from "updraft";
    const start = task({ id: "start", run: () => 1 });
    const a = task({ id: "a", run: (n: number) => n });
    const b = task({ id: "b", run: (n: number) => n });
    const end = task({ id: "end", run: () => null });
    export default dag({ id: "grouped", access: { "team-g": ["read"] } }, () => {
      const s = start();
      const parts = group("parts", () => [a(s), b(s)]);
      end().after(...parts);
    });
  `,
  // Daily at 03:00 Berlin time: a manual run covers the last whole day before its logical date.
  "daily.ts": `
    import { dag, task } from "updraft";
    const work = task({ id: "work", run: () => 1 });
    export default dag({ id: "daily", schedule: "0 3 * * *", timezone: "Europe/Berlin", startDate: "2026-01-01" }, () => { work(); });
  `,
  "other.ts": `
    import { dag, task } from "updraft";
    const only = task({ id: "only", run: () => 1 });
    export default dag({ id: "other" }, () => { only(); });
  `,
};

let api: ApiEnv | undefined;
let dir: string | undefined;
afterEach(async () => {
  await api?.cleanup();
  api = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe.each(DIALECTS)("grid and recent runs (%s)", (dialect) => {
  it("the grid gives runs newest first with one state and try per task, in the DAG's task order, groups included", async () => {
    api = await createApiEnv({ dialect, dags: DAGS, users: [{ username: "admin", roles: ["Admin"] }, { username: "g", roles: ["team-g"] }] });
    const admin = await api.login("admin");
    const runs: string[] = [];
    for (let day = 1; day <= 3; day++) {
      const res = await api.inject(admin, "POST", "/dags/grouped/dagRuns", { dag_run_id: `r${day}`, logical_date: `2026-11-0${day}T00:00:00Z` });
      expect(res.status, res.body).toBe(200);
      runs.push(res.json.dag_run_id);
    }
    const marked = await api.inject(admin, "PATCH", "/dags/grouped/dagRuns/r2/taskInstances/parts.a", { new_state: "failed", dry_run: false });
    expect(marked.status, marked.body).toBe(200);

    const grid = await api.inject(await api.login("g"), "GET", "/dags/grouped/grid?limit=2");
    expect(grid.status, grid.body).toBe(200);
    expect(grid.json.tasks.map((t: { task_id: string; group: string | null }) => [t.task_id, t.group])).toEqual([
      ["start", null],
      ["parts.a", "parts"],
      ["parts.b", "parts"],
      ["end", null],
    ]);
    expect(grid.json.groups).toEqual([{ group_id: "parts", parent: null }]);
    expect(grid.json.runs.map((r: { dag_run_id: string }) => r.dag_run_id)).toEqual(["r3", "r2"]);
    const r2 = grid.json.runs[1];
    expect(r2.states).toHaveLength(4);
    expect(r2.states[1]).toBe("failed");
    expect(r2.tries).toHaveLength(4);
    expect(grid.json.runs[0].states[1]).not.toBe("failed");

    // Each run carries its dates, for the run header and the duration bars.
    const run = await api.inject(admin, "GET", "/dags/grouped/dagRuns/r2");
    expect(r2).toMatchObject({
      logical_date: "2026-11-02T00:00:00.000Z",
      data_interval_start: run.json.data_interval_start,
      data_interval_end: run.json.data_interval_end,
      start_date: run.json.start_date,
      end_date: run.json.end_date,
    });

    const older = await api.inject(admin, "GET", `/dags/grouped/grid?before=${encodeURIComponent(grid.json.runs[1].logical_date)}`);
    expect(older.json.runs.map((r: { dag_run_id: string }) => r.dag_run_id)).toEqual(["r1"]);

    // A user of one DAG cannot read another's grid; bad limits are refused.
    expect((await api.inject(await api.login("g"), "GET", "/dags/other/grid")).status).toBe(404);
    expect((await api.inject(admin, "GET", "/dags/grouped/grid?limit=1000")).status).toBe(400);
    expect((await api.inject(admin, "GET", "/dags/nope/grid")).json.code).toBe("UPDRAFT_E_DAG_NOT_FOUND");
  });

  it("the grid's data interval is the run's, not its logical date: a daily 03:00 Berlin run covers the day before", async () => {
    api = await createApiEnv({ dialect, dags: DAGS, users: [{ username: "admin", roles: ["Admin"] }] });
    const admin = await api.login("admin");
    const res = await api.inject(admin, "POST", "/dags/daily/dagRuns", { dag_run_id: "d1", logical_date: "2026-11-02T00:00:00Z" });
    expect(res.status, res.body).toBe(200);
    const grid = await api.inject(admin, "GET", "/dags/daily/grid");
    expect(grid.status, grid.body).toBe(200);
    // 01:00 on 2 November in Berlin (CET, UTC+1): the latest whole interval is 31 October 03:00 to 1 November 03:00.
    expect(grid.json.runs[0]).toMatchObject({
      dag_run_id: "d1",
      logical_date: "2026-11-02T00:00:00.000Z",
      data_interval_start: "2026-10-31T02:00:00.000Z",
      data_interval_end: "2026-11-01T02:00:00.000Z",
    });
  });

  it("recent_runs on the DAG list: each DAG's latest runs, newest first, at most as many as asked", async () => {
    api = await createApiEnv({ dialect, dags: DAGS, users: [{ username: "admin", roles: ["Admin"] }] });
    const admin = await api.login("admin");
    for (let day = 1; day <= 3; day++) {
      expect((await api.inject(admin, "POST", "/dags/grouped/dagRuns", { dag_run_id: `g${day}`, logical_date: `2026-11-0${day}T00:00:00Z` })).status).toBe(200);
    }
    const list = await api.inject(admin, "GET", "/dags?recent_runs=2");
    expect(list.status, list.body).toBe(200);
    const byId = Object.fromEntries(list.json.dags.map((d: { dag_id: string; recent_runs: unknown }) => [d.dag_id, d.recent_runs]));
    expect((byId.grouped as Array<{ dag_run_id: string; state: string }>).map((r) => r.dag_run_id)).toEqual(["g3", "g2"]);
    expect(byId.other).toEqual([]);
    const plain = await api.inject(admin, "GET", "/dags");
    expect(plain.json.dags[0]).not.toHaveProperty("recent_runs");
    expect((await api.inject(admin, "GET", "/dags?recent_runs=26")).status).toBe(400);
  });
});

describe("what the caller may do with each DAG (sqlite)", () => {
  it("my_access follows the roles and the DAG's access list, on the list and on one DAG", async () => {
    const dags = { ...DAGS, "teamed.ts": DAGS["other.ts"].replace('id: "other"', 'id: "teamed", access: { "team-e": ["edit"] }') };
    api = await createApiEnv({
      dags,
      users: [
        { username: "admin", roles: ["Admin"] },
        { username: "viewer", roles: ["Viewer"] },
        { username: "user", roles: ["User"] },
        { username: "e", roles: ["team-e"] },
      ],
    });
    const of = async (username: string) => {
      const res = await api!.inject(await api!.login(username), "GET", "/dags");
      expect(res.status, res.body).toBe(200);
      return Object.fromEntries(res.json.dags.map((d: { dag_id: string; my_access: unknown }) => [d.dag_id, d.my_access]));
    };
    const all = { edit: true, trigger: true, delete: true };
    const none = { edit: false, trigger: false, delete: false };
    expect(await of("admin")).toEqual({ daily: all, grouped: all, other: all, teamed: all });
    expect(await of("viewer")).toEqual({ daily: none, grouped: none, other: none, teamed: none });
    const userAccess = { ...all, delete: false };
    expect(await of("user")).toEqual({ daily: userAccess, grouped: userAccess, other: userAccess, teamed: userAccess });
    expect(await of("e")).toEqual({ teamed: { edit: true, trigger: true, delete: false } });
    const one = await api.inject(await api.login("e"), "GET", "/dags/teamed");
    expect(one.json.my_access).toEqual({ edit: true, trigger: true, delete: false });
  });
});

describe("the web UI (sqlite)", () => {
  function fakeBuild(): string {
    dir = mkdtempSync(join(tmpdir(), "updraft-ui-"));
    mkdirSync(join(dir, "assets"));
    writeFileSync(join(dir, "index.html"), "<!doctype html><title>Updraft</title><div id=root></div>");
    writeFileSync(join(dir, "assets", "index-abc123.js"), "console.log('app')");
    writeFileSync(join(dir, "favicon.svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>");
    return dir;
  }

  it("pages answer the app's index with a strict CSP; assets are cached for good; other paths and /api stay JSON errors", async () => {
    api = await createApiEnv({ uiRoot: fakeBuild() });
    for (const url of ["/", "/login", "/dags", "/dags/grouped/grid?run=r1&task=a", "/browse/runs?state=failed", "/browse/xcoms", "/admin/users"]) {
      const res = await api.app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers["content-type"]).toMatch(/^text\/html/);
      expect(res.body).toContain('<div id=root>');
      expect(res.headers["content-security-policy"]).toBe(UI_CSP);
      expect(res.headers["x-frame-options"]).toBe("DENY");
    }
    expect(UI_CSP).toContain("script-src 'self'");
    expect(UI_CSP).not.toMatch(/script-src[^;]*unsafe/);

    const asset = await api.app.inject({ method: "GET", url: "/assets/index-abc123.js" });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(asset.headers["content-type"]).toMatch(/javascript/);

    for (const url of ["/etc/passwd", "/assets/missing.js", "/api/v1/nope", "/api/v1/../../etc/passwd", "/dags/../../etc/passwd"]) {
      const res = await api.app.inject({ method: "GET", url });
      if (res.statusCode === 200) expect(res.body, url).toContain("<div id=root>");
      else {
        expect(res.statusCode, url).toBe(404);
        expect(res.json().code).toBe("UPDRAFT_E_NOT_FOUND");
      }
      expect(res.body).not.toContain("root:");
    }
    // The API behind the pages still wants a token, and says no-store.
    const dags = await api.app.inject({ method: "GET", url: "/api/v1/dags" });
    expect(dags.statusCode).toBe(401);
    expect(dags.headers["cache-control"]).toBe("no-store");
  });

  it("without a built UI, / says how to build it and the API works", async () => {
    api = await createApiEnv({ uiRoot: null, users: [{ username: "admin", roles: ["Admin"] }] });
    const res = await api.app.inject({ method: "GET", url: "/" });
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain("npm run build");
    expect((await api.inject(await api.login("admin"), "GET", "/dags")).status).toBe(200);
  });
});
