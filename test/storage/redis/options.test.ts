/**
 * RedisStorage's options that are checked without a server: the URL (scheme, host, database
 * number), with a password masked in errors.
 */
import { describe, expect, it } from "vitest";
import { InvalidOptionError, RedisStorage } from "../../../src/index.js";

function thrownBy(call: () => unknown): InvalidOptionError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return error as InvalidOptionError;
  }
  throw new Error("expected the call to throw");
}

describe("RedisStorage url", () => {
  it.each(["redis://127.0.0.1:6379/99999", "redis://127.0.0.1:6379/16", "redis://127.0.0.1/6379"])(
    "rejects the database number of %s: 0 to 15",
    (url) => {
      const error = thrownBy(() => new RedisStorage(url));
      expect(error.option).toBe("url");
      expect(error.value).toBe(url);
      expect(error.message).toContain("a database number from 0 to 15");
    },
  );

  it("rejects redis:// with no host", () => {
    const error = thrownBy(() => new RedisStorage("redis://"));
    expect(error.message).toBe(
      'Invalid option "url": expected a Redis URL with a host, such as "redis://127.0.0.1:6379/0", got "redis://"',
    );
  });

  it("masks the password of a URL it rejects", () => {
    const error = thrownBy(() => new RedisStorage("redis://app:s3cret@cache.internal:6379/99"));
    expect(error.message).not.toContain("s3cret");
    expect(error.value).toBe("redis://app:***@cache.internal:6379/99");
  });

  it("accepts databases 0 to 15 and no database, without connecting", async () => {
    for (const url of ["redis://cache.internal", "redis://cache.internal:6379/0", "rediss://u:p@cache.internal/15"]) {
      const storage = new RedisStorage(url);
      expect(storage.available).toBe(false);
      await storage.close();
    }
  });
});
