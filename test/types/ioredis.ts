/**
 * Type-level checks of `RedisStorage`'s `client` option against both ioredis majors of the peer
 * range (`^5 || ^6`; ioredis 6 comes from the `ioredis6` alias of the dev dependencies): a `Redis`
 * and a `Cluster` of each are accepted. Compiled by `npm run typecheck`, never run.
 */
import { Cluster as Cluster5, Redis as Redis5 } from "ioredis";
import { Cluster as Cluster6, Redis as Redis6 } from "ioredis6";
import { RedisStorage, type RedisClient } from "../../src/index.js";

const nodes = [{ host: "127.0.0.1", port: 7000 }];

export const storages = [
  new RedisStorage({ client: new Redis5({ lazyConnect: true }) }),
  new RedisStorage({ client: new Cluster5(nodes, { lazyConnect: true }) }),
  new RedisStorage({ client: new Redis6({ lazyConnect: true }) }),
  new RedisStorage({ client: new Cluster6(nodes, { lazyConnect: true }) }),
];

// What the storage itself calls still type-checks against the interface.
export const registry = (client: RedisClient): Promise<string[]> => client.zrange("purgatory:circuits", 0, -1);
