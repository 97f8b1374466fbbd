/**
 * Child process of the propagation benchmark: registers the circuits named on the command line
 * and prints, for each remote `opened`, the circuit name and the time it was received.
 */
import { AsyncCircuitBreakerFactory, RedisStorage } from "../../src/index.js";

const [url, prefix, count] = process.argv.slice(2) as [string, string, string];
const factory = new AsyncCircuitBreakerFactory({
  defaultThreshold: 1,
  defaultTtl: 600,
  storage: new RedisStorage({ url, prefix }),
});
await factory.initialize();
for (let i = 0; i < Number(count); i++) await factory.getBreaker(`trip-${i}`);
factory.addListener((name, eventType, event) => {
  if (eventType === "state_changed" && event.remote === true && event.state === "opened") {
    process.stdout.write(`${name} ${performance.timeOrigin + performance.now()}\n`);
  }
});
process.stdout.write("ready\n");
process.stdin.on("end", () => void factory.close());
process.stdin.resume();
