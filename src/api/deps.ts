import type { Config, ConfigKey, ConfigSource } from "../config/index.js";
import type { Keyring } from "../security/secrets.js";
import type { Store } from "../store/connect.js";
import type { Logger } from "../util/logger.js";
import type { AuthSettings } from "./auth.js";

/** What the routes use. */
export interface ApiDeps {
  store: Store;
  config: Config;
  log: Logger;
  auth: AuthSettings;
  keyring: Keyring;
  /** Where each setting came from (GET /config shows it when given). */
  configSources?: Record<ConfigKey, ConfigSource>;
}
