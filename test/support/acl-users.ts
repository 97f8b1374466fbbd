/**
 * Throw-away ACL users on the Redis the tests share, for least-privilege tests: each has a unique
 * name and password, and is deleted (its connections killed) by `drop`.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";

/** A user made by `createAclUser`. */
export interface AclUser {
  readonly name: string;
  /** `redis://<name>:<password>@host:port` on the server of the admin client. */
  readonly url: string;
  /** Deletes the user (which also closes its connections). */
  drop(): Promise<void>;
}

/**
 * Makes the user `ACL SETUSER <unique name> on ><password> ...rules` on the server `admin` is
 * connected to (e.g. rules `["~myprefix:*", "resetchannels", "+@all"]`).
 */
export async function createAclUser(admin: Redis, rules: readonly string[]): Promise<AclUser> {
  const name = `purgatory-test-${randomUUID()}`;
  const password = randomUUID();
  await admin.call("ACL", "SETUSER", name, "on", `>${password}`, ...rules);
  const { host, port } = admin.options;
  return {
    name,
    url: `redis://${encodeURIComponent(name)}:${password}@${host ?? "127.0.0.1"}:${port ?? 6379}`,
    drop: async () => {
      await admin.call("ACL", "DELUSER", name);
    },
  };
}
