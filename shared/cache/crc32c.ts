/**
 * CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, initial value and final XOR
 * 0xFFFFFFFF. The checksum Cloud KMS uses for its request/response integrity fields.
 * Table-driven, one byte at a time: KMS payloads here are a few dozen bytes.
 */

const TABLE = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC-32C of `data` as an unsigned 32-bit integer. */
export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    // Both indexes are in range by construction; `!` only satisfies noUncheckedIndexedAccess.
    crc = TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
