import type { FastifyInstance } from "fastify";
import type { ApiDeps } from "../deps.js";
import { registerAuthRoutes } from "./auth.js";
import { registerDagRoutes } from "./dags.js";
import { registerHealthRoutes } from "./health.js";

export async function registerRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  registerHealthRoutes(app, deps);
  registerAuthRoutes(app, deps);
  registerDagRoutes(app, deps);
}
