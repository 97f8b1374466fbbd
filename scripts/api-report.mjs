/**
 * The API reports: one per entry point of the package, etc/<name>.api.md, made by API Extractor
 * from the built declarations (dist/*.d.ts, `npm run build` first), with what is tagged
 * `@internal` already left out of them.
 *
 *   node scripts/api-report.mjs           check: fails when an entry point's public API differs
 *                                         from its report (npm run api:check, a CI step)
 *   node scripts/api-report.mjs --update  rewrites the reports (npm run api:update)
 *
 * A change of the public API is thus a change of etc/*.api.md in the same commit, for review.
 */
import console from "node:console";
import { existsSync } from "node:fs";
import process from "node:process";
import { fileURLToPath, URL } from "node:url";
import { Extractor, ExtractorConfig } from "@microsoft/api-extractor";

const root = fileURLToPath(new URL("..", import.meta.url));
const update = process.argv.includes("--update");

/** The entry points: the package's subpath, its declarations, its report. */
const ENTRIES = [
  ["purgatory", "index", "purgatory"],
  ["purgatory/fetch", "fetch", "purgatory-fetch"],
  ["purgatory/undici", "undici", "purgatory-undici"],
  ["purgatory/storage", "storage", "purgatory-storage"],
  ["purgatory/prometheus", "prometheus", "purgatory-prometheus"],
  ["purgatory/otel", "otel", "purgatory-otel"],
];

const base = ExtractorConfig.loadFile(`${root}api-extractor.json`);
const failed = [];
for (const [subpath, file, report] of ENTRIES) {
  const declarations = `${root}dist/${file}.d.ts`;
  if (!existsSync(declarations)) {
    console.error(`${declarations} is missing: run npm run build first`);
    process.exit(1);
  }
  const config = ExtractorConfig.prepare({
    configObject: {
      ...base,
      projectFolder: root,
      mainEntryPointFilePath: declarations,
      apiReport: { ...base.apiReport, reportFileName: `${report}.api.md` },
    },
    configObjectFullPath: `${root}api-extractor.json`,
    packageJsonFullPath: `${root}package.json`,
  });
  const result = Extractor.invoke(config, { localBuild: update, showVerboseMessages: false });
  const changed = result.apiReportChanged;
  if (!result.succeeded || (changed && !update)) {
    failed.push(subpath);
    if (changed && !update) console.error(`${subpath}: its public API differs from etc/${report}.api.md`);
  } else {
    console.log(`${subpath}: ${changed ? `etc/${report}.api.md rewritten` : "matches its report"}`);
  }
}
if (failed.length > 0) {
  console.error(
    `\nThe public API of ${failed.join(", ")} changed (or API Extractor reported an error above).\n` +
      "If the change is meant, run npm run api:update and commit etc/*.api.md with it.",
  );
  process.exit(1);
}
