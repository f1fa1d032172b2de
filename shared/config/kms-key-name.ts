/** The resource name of a Cloud KMS key, as BROKER_CACHE_KMS_KEY and the key wrapper take it. */
const PROJECT_ID = '(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20}|[a-z0-9][a-z0-9.-]{0,62}:[a-z][a-z0-9-]{4,61}[a-z0-9])';
const RESOURCE_ID = '[a-zA-Z0-9_-]{1,63}';
const KEY_NAME_PATTERN = new RegExp(`^projects/${PROJECT_ID}/locations/[a-z0-9-]{1,63}/keyRings/${RESOURCE_ID}/cryptoKeys/${RESOURCE_ID}$`);

/** True for projects/P/locations/L/keyRings/R/cryptoKeys/K. */
export function isCryptoKeyName(name: string): boolean {
  return KEY_NAME_PATTERN.test(name);
}
