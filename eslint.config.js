import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**", ".tmp/**", "bench/.build/**"] },
  js.configs.recommended,
  // Type-aware: no-floating-promises, no-misused-promises, no-unsafe-*, ... on every TypeScript file,
  // each checked against the tsconfig that includes it (projectService).
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // A guarded call's error is re-thrown (or re-rejected) unchanged, whatever it is: anything
      // thrown counts, also values that are not Errors. Such values are typed unknown.
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingUnknown: true }],
      "@typescript-eslint/only-throw-error": ["error", { allowThrowingUnknown: true }],
    },
  },
  {
    // Tests, benchmarks and examples write guarded functions and test doubles as `async` so that
    // they return promises, with or without an await inside.
    files: ["test/**", "bench/**", "examples/**", "*.config.ts"],
    rules: { "@typescript-eslint/require-await": "off" },
  },
  {
    // Plain JavaScript (this file, scripts/): no types to check.
    files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // CommonJS configuration files (dependency-cruiser's): `module` is theirs.
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { module: "writable", require: "readonly" } },
  },
);
