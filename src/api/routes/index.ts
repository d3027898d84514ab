import type { ApiDeps } from "../deps.js";
import type { ApiApp } from "../types.js";
import { registerAuthRoutes } from "./auth.js";
import { registerAuditLogRoutes } from "./audit-log.js";
import { registerConfigRoutes } from "./config.js";
import { registerConnectionRoutes } from "./connections.js";
import { registerPoolRoutes } from "./pools.js";
import { registerRoleRoutes } from "./roles.js";
import { registerTokenRoutes } from "./tokens.js";
import { registerUserRoutes } from "./users.js";
import { registerVariableRoutes } from "./variables.js";
import { registerDagRoutes } from "./dags.js";
import { registerDagRunRoutes } from "./dag-runs.js";
import { registerImportErrorRoutes } from "./import-errors.js";
import { registerTaskInstanceRoutes } from "./task-instances.js";
import { registerHealthRoutes } from "./health.js";

export async function registerRoutes(app: ApiApp, deps: ApiDeps): Promise<void> {
  registerHealthRoutes(app, deps);
  registerAuthRoutes(app, deps);
  registerDagRoutes(app, deps);
  registerDagRunRoutes(app, deps);
  registerTaskInstanceRoutes(app, deps);
  registerImportErrorRoutes(app, deps);
  registerPoolRoutes(app, deps);
  registerConnectionRoutes(app, deps);
  registerVariableRoutes(app, deps);
  registerUserRoutes(app, deps);
  registerRoleRoutes(app, deps);
  registerTokenRoutes(app, deps);
  registerAuditLogRoutes(app, deps);
  registerConfigRoutes(app, deps);
}
