import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

/** The package's version, as the API and the CLI report it. */
export const API_VERSION = pkg.version;
