/**
 * Global set-up of vitest.runtimes.config.ts: the Redis storage suite needs the Redis at
 * `REDIS_URL`. Without one, the run stops at once with one line saying so, instead of every test
 * failing slowly. Nothing is started: the Cluster of the full suite is not needed here.
 */
import { redisAnswers } from "../support/global-setup.js";
import { REDIS_URL } from "../support/redis-helpers.js";

export async function setup(): Promise<void> {
  if (!(await redisAnswers(REDIS_URL))) {
    process.stderr.write(`Redis does not answer at ${REDIS_URL}: start one (see README "Try it") or set REDIS_URL\n`);
    process.exit(1);
  }
}
