/**
 * The import rules of src/, checked by `npm run lint` (dependency-cruiser): no cycle, and the pure
 * core imports nothing outside itself (docs/design.md, "Where a change goes").
 */
module.exports = {
  forbidden: [
    {
      name: "no-cycle",
      severity: "error",
      comment: "A module may not import, directly or not, a module that imports it.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "core-is-pure",
      severity: "error",
      comment: "The state machine is plain functions over plain data: src/core imports only src/core.",
      from: { path: "^src/core/" },
      to: { pathNot: "^src/core/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "^(dist|node_modules|test|bench|examples)/" },
  },
};
