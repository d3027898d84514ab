import { Type } from "typebox";
import { CONFIG_KEYS, describeConfig, type ConfigKey, type ConfigSource } from "../../config/index.js";
import type { ApiDeps } from "../deps.js";
import { ERRORS, Nullable } from "../schemas.js";
import type { ApiApp } from "../types.js";

const Option = Type.Object(
  {
    key: Type.String(),
    env: Type.String({ description: "the environment variable that sets it" }),
    value: Type.String({ description: 'secrets are shown as "***" (a database URL without its password)' }),
    source: Nullable(Type.String({ description: "default, file, env or flag; null when the server was not told" })),
    description: Type.String(),
  },
  { additionalProperties: false },
);

export function registerConfigRoutes(app: ApiApp, { config, configSources }: ApiDeps): void {
  app.get(
    "/config",
    {
      config: { access: "config:read" },
      schema: {
        tags: ["config"],
        summary: "The server's configuration, secrets redacted",
        response: { 200: Type.Object({ options: Type.Array(Option), total_entries: Type.Integer() }, { additionalProperties: false }), ...ERRORS },
      },
    },
    async () => {
      const sources = configSources ?? (Object.fromEntries(CONFIG_KEYS.map((k) => [k, "default"])) as Record<ConfigKey, ConfigSource>);
      const options = describeConfig({ config, sources }).map((row) => ({ ...row, source: configSources ? row.source : null }));
      return { options, total_entries: options.length };
    },
  );
}
