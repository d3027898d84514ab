import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", ".updraft/", ".bench/", ".scratch/", "docs/sdk-reference/", "**/*.d.ts"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    // The web UI: React's rules of hooks, and the browser's globals.
    files: ["ui/src/**/*.{ts,tsx}"],
    ...reactHooks.configs.flat.recommended,
    languageOptions: { globals: { window: "readonly", document: "readonly", localStorage: "readonly", location: "readonly", WebSocket: "readonly", fetch: "readonly" } },
    // The React Compiler is not used: its memoization warnings do not apply.
    rules: { ...reactHooks.configs.flat.recommended.rules, "react-hooks/incompatible-library": "off" },
  },
);
