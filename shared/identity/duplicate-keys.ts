/**
 * Whether a JSON text has an object with the same member name twice. JSON.parse keeps the
 * last one silently, so `{"sub":"alice","sub":"admin"}` means different things to different
 * parsers; RFC 7515 §5.2 lets a verifier refuse such input, and the broker does (the claims
 * policy sees must be the claims every other party sees). The text is assumed to be valid
 * JSON already (the caller parsed it); this only walks it.
 */
export function hasDuplicateKeys(json: string): boolean {
  const scopes: Array<Set<string> | undefined> = []; // one per open object (a Set) or array
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let end = i + 1;
      while (end < json.length && json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      const names = scopes[scopes.length - 1];
      if (expectKey && names) {
        const name = JSON.parse(json.slice(i, end + 1)) as string;
        if (names.has(name)) return true;
        names.add(name);
        expectKey = false;
      }
      i = end;
    } else if (c === '{') {
      scopes.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      scopes.push(undefined);
      expectKey = false;
    } else if (c === '}' || c === ']') {
      scopes.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = scopes[scopes.length - 1] !== undefined;
    }
  }
  return false;
}
