/**
 * The Redis Cluster slot of a key or a shard channel: CRC16 (XMODEM) of its UTF-8 bytes, or of its
 * hash tag (the text between the first `{` and the next `}`, when not empty), modulo 16384. The
 * sharded subscribers route each circuit's channel to the master that serves its slot with it.
 * @module
 */

/** Slots of a Redis Cluster. */
export const SLOTS = 16384;

/** CRC16-XMODEM of every byte value (polynomial 0x1021). */
const TABLE = ((): Uint16Array => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    table[byte] = crc & 0xffff;
  }
  return table;
})();

const encoder = new TextEncoder();

/** The Cluster slot of `key` (a key or a shard channel), as `CLUSTER KEYSLOT` answers it. */
export function keySlot(key: string): number {
  let hashed = key;
  // `{` and `}` are single bytes in UTF-8, so the tag found in the string is the tag in its bytes.
  const open = key.indexOf("{");
  if (open !== -1) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) hashed = key.slice(open + 1, close);
  }
  let crc = 0;
  for (let i = 0; i < hashed.length; i++) {
    const code = hashed.charCodeAt(i);
    // Beyond ASCII, a character is more than one byte: hash the UTF-8 encoding instead.
    if (code >= 0x80) return crcOf(encoder.encode(hashed)) % SLOTS;
    crc = step(crc, code);
  }
  return crc % SLOTS;
}

function crcOf(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = step(crc, byte);
  return crc;
}

function step(crc: number, byte: number): number {
  return ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] ?? 0);
}
