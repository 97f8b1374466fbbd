/**
 * Type-level checks of `backoff`, compiled by `tsc --noEmit` (`npm run typecheck`) and never run:
 * `jitter` may be left out wherever a backoff is given (it defaults to 0), as docs/policies.md says;
 * `multiplier` and `maxTtl` may not.
 */
import { AsyncCircuitBreakerFactory, type BackoffOption } from "../../src/index.js";

const factory = new AsyncCircuitBreakerFactory({ defaultBackoff: { multiplier: 2, maxTtl: 300 } });

export async function backoffs(): Promise<void> {
  await factory.getBreaker("a", { backoff: { multiplier: 2, maxTtl: 60 } });
  await factory.getBreaker("b", { backoff: { multiplier: 2, maxTtl: 60, jitter: 0.1 } });
  await factory.reconfigure("a", { backoff: { multiplier: 3, maxTtl: 90 } });
  const option: BackoffOption = { multiplier: 1.5, maxTtl: 30 };
  await factory.reconfigure("b", { backoff: option });
  // @ts-expect-error maxTtl is required
  await factory.getBreaker("c", { backoff: { multiplier: 2 } });
}
