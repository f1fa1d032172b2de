/**
 * The refusal reasons (`error.reason`) are one closed table, shared/refusal-reasons.ts: the
 * compiler holds every place that raises one to the codes listed for it. Here: the table is
 * consistent with the error catalogue, every entry is raised somewhere, docs/audit.md renders
 * exactly this table, and the one place that re-raises a reason under another code (client
 * assertions recasting the shared JWT checks) yields only listed pairs.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { DEFAULTS } from '../../shared/config/defaults';
import { BrokerError, ERROR_CATALOGUE, type CatalogueCode } from '../../shared/errors';
import { verifyClientAssertion, type AssertionCheck } from '../../shared/identity/client-assertion';
import { createMemoryReplayStore } from '../../shared/identity/replay-store';
import { callerError } from '../../shared/mint/upstream-error';
import { isReasonFor, REFUSAL_REASONS, type RefusalReason } from '../../shared/refusal-reasons';
import { b64url, nowSeconds } from '../helpers/forge';

const ROOT = join(__dirname, '..', '..');
const entries = Object.entries(REFUSAL_REASONS) as Array<[RefusalReason, (typeof REFUSAL_REASONS)[RefusalReason]]>;

/** One docs/audit.md table row per reason, as the table in the code renders. */
function renderedRows(): string[] {
  return entries.map(([reason, { codes, meaning }]) => `| \`${reason}\` | ${codes.map((code) => `\`${code}\``).join(', ')} | ${meaning} |`);
}

function documentedRows(): string[] {
  const doc = readFileSync(join(ROOT, 'docs', 'audit.md'), 'utf8');
  const table = /<!-- reasons -->\n([\s\S]*?)<!-- \/reasons -->/.exec(doc)?.[1];
  if (!table) throw new Error('docs/audit.md lacks the <!-- reasons --> table');
  return table.split('\n').filter((line) => line.startsWith('| `'));
}

function sourceText(...dirs: string[]): string {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (name.endsWith('.ts') && full !== join(ROOT, 'shared', 'refusal-reasons.ts')) files.push(full);
    }
  };
  for (const dir of dirs) walk(join(ROOT, dir));
  return files.map((file) => readFileSync(file, 'utf8')).join('\n');
}

describe('the table', () => {
  it('lists each reason once, as a snake_case word with a one-line meaning', () => {
    expect(entries.length).toBeGreaterThan(70);
    for (const [reason, { meaning }] of entries) {
      expect(reason).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
      expect(meaning).toMatch(/^[^\n|]{10,200}$/);
    }
  });

  it('maps every reason to catalogue codes, each once', () => {
    for (const [reason, { codes }] of entries) {
      expect({ reason, unknown: codes.filter((code) => !Object.hasOwn(ERROR_CATALOGUE, code)) }).toEqual({ reason, unknown: [] });
      expect(codes.length).toBeGreaterThan(0);
      expect(new Set(codes).size).toBe(codes.length);
    }
  });

  it('gives every catalogue code a reason, except unauthorized_client, which nothing raises', () => {
    const used = new Set<CatalogueCode>(entries.flatMap(([, { codes }]) => codes));
    expect(Object.keys(ERROR_CATALOGUE).filter((code) => !used.has(code as CatalogueCode))).toEqual(['unauthorized_client']);
  });

  it('holds no reason the code never raises', () => {
    const source = sourceText('shared', 'functions');
    const raised = (reason: string) =>
      source.includes(`'${reason}'`) ||
      // `limit_${admission.limit}` (shared/broker.ts): one reason per LimitKind.
      (reason.startsWith('limit_') && source.includes('`limit_${') && source.includes(`'${reason.slice('limit_'.length)}'`));
    expect(entries.map(([reason]) => reason).filter((reason) => !raised(reason))).toEqual([]);
  });
});

describe('docs/audit.md', () => {
  it('renders exactly this table (regenerate the rows from shared/refusal-reasons.ts when it changes)', () => {
    expect(documentedRows()).toEqual(renderedRows());
  });
});

describe('codes where a reason is re-raised', () => {
  let key: { privateKey: CryptoKey; kid: string };
  let other: CryptoKey;
  let base: Omit<AssertionCheck, 'errorCode'>;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    other = (await generateKeyPair('RS256')).privateKey;
    key = { privateKey: pair.privateKey, kid: 'k1' };
    const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256' }] });
    base = {
      clients: new Map([['reasons-client', { id: 'reasons-client', keys: jwks, algorithms: ['RS256'], maxAssertionLifetimeSeconds: 300 }]]),
      audiences: ['https://broker.example.test'],
      replay: createMemoryReplayStore(),
    };
  });

  const claims = (overrides: Record<string, unknown> = {}): JWTPayload => {
    const now = nowSeconds();
    return { iss: 'reasons-client', sub: 'reasons-client', aud: 'https://broker.example.test', iat: now, exp: now + 60, jti: `j-${Math.random()}`, ...overrides };
  };
  const sign = (payload: JWTPayload, signer: CryptoKey = key.privateKey, kid = key.kid) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid }).sign(signer);

  const cases: Array<[string, () => Promise<string>, RefusalReason]> = [
    ['over the token cap', async () => 'a'.repeat(DEFAULTS.maxTokenBytes + 1), 'token_too_large'],
    ['a JWE', async () => 'aa.bb.cc.dd.ee', 'jwe_not_accepted'],
    ['not a JWS', async () => 'not-a-jwt', 'malformed_token'],
    ['a repeated header member', async () => `${b64url('{"alg":"RS256","alg":"RS256"}')}.${b64url(JSON.stringify(claims()))}.c2ln`, 'duplicate_json_key'],
    ['a wrong signature', () => sign(claims(), other), 'bad_signature'],
    ['an unknown kid', () => sign(claims(), key.privateKey, 'k2'), 'unknown_key'],
    ['expired', () => sign(claims({ iat: nowSeconds() - 200, exp: nowSeconds() - 100 })), 'token_expired'],
    ['issued too long ago', () => sign(claims({ iat: nowSeconds() - 1000, exp: nowSeconds() + 60 })), 'token_too_old'],
    ['without a jti', () => sign(claims({ jti: undefined })), 'missing_claim'],
    ['a sub of the wrong type', () => sign(claims({ sub: 123 })), 'invalid_claim_type'],
    ['claims nested too deeply', () => sign(claims({ deep: Array.from({ length: DEFAULTS.maxClaimDepth }).reduce((inner) => ({ inner }), {}) })), 'too_many_claims'],
  ];

  for (const errorCode of ['invalid_client', 'invalid_grant'] as const) {
    it.each(cases)(`${errorCode}: %s is refused with a listed (code, reason)`, async (_name, assertion, reason) => {
      const err = await verifyClientAssertion(await assertion(), { ...base, errorCode }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(BrokerError);
      const { code, reason: raised } = err as BrokerError;
      expect({ code, reason: raised }).toEqual({ code: errorCode, reason });
      expect(isReasonFor(raised, code)).toBe(true);
    });
  }

  it('IAM refusing to mint is server_error / upstream_refused however it arrives', () => {
    const raw = Object.assign(new Error('Request failed with status code 403'), { response: { status: 403, data: { error: { status: 'PERMISSION_DENIED', message: 'denied' } } } });
    const err = callerError(raw, 1);
    expect({ code: err.code, reason: err.reason }).toEqual({ code: 'server_error', reason: 'upstream_refused' });
    expect(isReasonFor(err.reason, err.code)).toBe(true);
  });
});
