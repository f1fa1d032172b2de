/**
 * The Google API emulators, driven over real loopback HTTP by the real client
 * libraries (google-auth-library 10.9.1, @google/genai 2.32.0, jose). No mocks.
 */
import { DownscopedClient, Impersonated, OAuth2Client, gaxios, type OAuth2ClientOptions } from 'google-auth-library';
import { StsCredentials } from 'google-auth-library/build/src/auth/stscredentials';
import { ApiError, GoogleGenAI } from '@google/genai';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import {
  startGoogleEmulator,
  uniqueIdFor,
  type CredentialAccessBoundaryWire,
  type GoogleEmulator,
  type RpcErrorWire,
} from '../../dev/google-emulator';
import { startGeminiEmulator, type GeminiEmulator } from '../../dev/gemini-emulator';

// ─── fixtures ────────────────────────────────────────────────────────────────

const READER = 'reader@proj.iam.gserviceaccount.com';
const ADMIN = 'admin@proj.iam.gserviceaccount.com';
const HOP = 'hop@proj.iam.gserviceaccount.com';
const LOCKED_HOP = 'locked-hop@proj.iam.gserviceaccount.com';
const CALLER = 'broker-caller-token';
const OTHER_CALLER = 'other-caller-token';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const USERINFO_EMAIL = 'https://www.googleapis.com/auth/userinfo.email';
const DEVSTORAGE_RO = 'https://www.googleapis.com/auth/devstorage.read_only';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

const CAB: CredentialAccessBoundaryWire = {
  accessBoundary: {
    accessBoundaryRules: [
      {
        availableResource: '//storage.googleapis.com/projects/_/buckets/bucket-a',
        availablePermissions: ['inRole:roles/storage.objectViewer'],
        availabilityCondition: { expression: "resource.name.startsWith('projects/_/buckets/bucket-a/objects/customer-a')" },
      },
    ],
  },
};

let google: GoogleEmulator;
let gemini: GeminiEmulator;

beforeAll(async () => {
  google = await startGoogleEmulator({
    serviceAccounts: [READER, ADMIN, HOP, LOCKED_HOP],
    callerTokens: [CALLER, OTHER_CALLER],
    // OTHER_CALLER may only impersonate READER; nobody may impersonate ADMIN.
    canImpersonate: (caller, sa) => sa !== ADMIN && (caller === CALLER || sa === READER),
    canDelegate: (from) => from !== LOCKED_HOP,
  });
  gemini = await startGeminiEmulator({ googleEmulator: google });
});

afterAll(async () => {
  await gemini.close();
  await google.close();
});

afterEach(() => {
  google.faults.clear();
  google.requests.length = 0;
  gemini.requests.length = 0;
});

// ─── helpers ─────────────────────────────────────────────────────────────────

interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

async function raw(url: string, init: RequestInit = {}): Promise<RawResponse> {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** `token: null` sends no Authorization header. */
function postJson(url: string, body: unknown, token: string | null = CALLER): Promise<RawResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  return raw(url, { method: 'POST', headers, body: JSON.stringify(body) });
}

function postForm(url: string, fields: Record<string, string>): Promise<RawResponse> {
  return raw(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
}

function iamUrl(base: string, sa: string, method: 'generateAccessToken' | 'generateIdToken', project = '-'): string {
  return `${base}/v1/projects/${project}/serviceAccounts/${sa}:${method}`;
}

/** A raw generateAccessToken call; returns the minted token (asserting 200). */
async function mintRaw(base: string, sa: string, scope: string[] = [CLOUD_PLATFORM], lifetime = '3600s'): Promise<string> {
  const res = await postJson(iamUrl(base, sa, 'generateAccessToken'), { scope, lifetime });
  expect(res.status).toBe(200);
  return (res.json as { accessToken: string }).accessToken;
}

/**
 * gaxios 7 lazily does `await import('node-fetch')`, which jest (CommonJS, no
 * --experimental-vm-modules) refuses: "A dynamic import callback was invoked
 * without --experimental-vm-modules". Every google-auth-library client in
 * these tests therefore gets Node's global fetch explicitly.
 */
const transporterOptions = { fetchImplementation: fetch };

type OAuth2ClientEndpointsOverride = NonNullable<OAuth2ClientOptions['endpoints']>;

function oauth2Client(extra: { endpoints?: OAuth2ClientEndpointsOverride } = {}): OAuth2Client {
  return new OAuth2Client({ ...extra, transporterOptions });
}

function stsCredentials(): StsCredentials {
  return new StsCredentials({
    tokenExchangeEndpoint: `${google.url}/v1/token`,
    transporter: new gaxios.Gaxios(transporterOptions),
  });
}

function sourceClient(token = CALLER): OAuth2Client {
  const client = oauth2Client();
  client.setCredentials({ access_token: token });
  return client;
}

function impersonated(
  targetPrincipal: string,
  extra: { targetScopes?: string[]; lifetime?: number; delegates?: string[]; caller?: string } = {},
): Impersonated {
  return new Impersonated({
    sourceClient: sourceClient(extra.caller),
    targetPrincipal,
    targetScopes: extra.targetScopes ?? [CLOUD_PLATFORM],
    lifetime: extra.lifetime ?? 3600,
    delegates: extra.delegates ?? [],
    endpoint: google.url,
  });
}

function stsForm(subjectToken: string, options: unknown = CAB): Record<string, string> {
  return {
    grant_type: TOKEN_EXCHANGE,
    requested_token_type: ACCESS_TOKEN_TYPE,
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN_TYPE,
    options: JSON.stringify(options),
  };
}

/** Runs `fn`, expecting it to reject, and returns the rejection. */
async function rejectionOf(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

function asGaxiosError(err: unknown): InstanceType<typeof gaxios.GaxiosError> {
  expect(err).toBeInstanceOf(gaxios.GaxiosError);
  return err as InstanceType<typeof gaxios.GaxiosError>;
}

const AUTH_HELP = 'See https://developers.google.com/identity/sign-in/web/devconsole-project.';

function unauthenticatedBody(reason: string, service: string, method: string, missing: boolean): RpcErrorWire {
  return {
    error: {
      code: 401,
      message: missing
        ? `Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. ${AUTH_HELP}`
        : `Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. ${AUTH_HELP}`,
      status: 'UNAUTHENTICATED',
      details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'googleapis.com', metadata: { service, method } }],
    },
  };
}

function permissionDeniedBody(permission: string): RpcErrorWire {
  return {
    error: {
      code: 403,
      message: `Permission '${permission}' denied on resource (or it may not exist).`,
      status: 'PERMISSION_DENIED',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'IAM_PERMISSION_DENIED',
          domain: 'iam.googleapis.com',
          metadata: { permission },
        },
      ],
    },
  };
}

const GENERATE_ACCESS_TOKEN_RPC = 'google.iam.credentials.v1.IAMCredentials.GenerateAccessToken';

// ─── IAM Credentials: generateAccessToken ───────────────────────────────────

describe('generateAccessToken', () => {
  it('mints a token for the real Impersonated client, recorded and looked up', async () => {
    const client = impersonated(READER, { lifetime: 600 });
    const { token } = await client.getAccessToken();

    expect(token).toMatch(/^ya29\./);
    const issued = google.lookup(token ?? '');
    expect(issued).toEqual({
      kind: 'impersonated',
      serviceAccount: READER,
      scopes: [CLOUD_PLATFORM],
      expiresAt: client.credentials.expiry_date,
      delegates: [],
    });
    const remaining = (issued?.expiresAt ?? 0) - Date.now();
    expect(remaining).toBeGreaterThan(590_000);
    expect(remaining).toBeLessThanOrEqual(600_000);

    const [request] = google.requests;
    expect(request).toMatchObject({
      method: 'POST',
      path: `/v1/projects/-/serviceAccounts/${READER}:generateAccessToken`,
      endpoint: 'generateAccessToken',
    });
    expect(request?.headers['authorization']).toBe(`Bearer ${CALLER}`);
    expect(JSON.parse(request?.body ?? '')).toEqual({ delegates: [], scope: [CLOUD_PLATFORM], lifetime: '600s' });
  });

  it('answers with accessToken and a whole-second RFC 3339 UTC expireTime', async () => {
    let clock = Date.parse('2026-11-25T17:00:00.250Z');
    const fixed = await startGoogleEmulator({ serviceAccounts: [READER], callerTokens: [CALLER], now: () => clock });
    try {
      const res = await postJson(iamUrl(fixed.url, READER, 'generateAccessToken'), { scope: [CLOUD_PLATFORM] });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json; charset=UTF-8');
      const body = res.json as { accessToken: string; expireTime: string };
      expect(Object.keys(body)).toEqual(['accessToken', 'expireTime']);
      expect(body.expireTime).toBe('2026-11-25T18:00:00Z');
      expect(fixed.lookup(body.accessToken)?.expiresAt).toBe(Date.parse('2026-11-25T18:00:00Z'));
      clock += 3_600_000;
      expect(fixed.now()).toBe(clock);
    } finally {
      await fixed.close();
    }
  });

  it('accepts a percent-encoded email and the unique-id form of the name', async () => {
    const encoded = await postJson(iamUrl(google.url, encodeURIComponent(READER), 'generateAccessToken'), { scope: [CLOUD_PLATFORM] });
    expect(encoded.status).toBe(200);
    const byId = await postJson(iamUrl(google.url, uniqueIdFor(READER), 'generateAccessToken'), { scope: [CLOUD_PLATFORM] });
    expect(byId.status).toBe(200);
    expect(google.lookup((byId.json as { accessToken: string }).accessToken)?.serviceAccount).toBe(READER);
  });

  it('follows a delegation chain and records it', async () => {
    const client = impersonated(READER, { delegates: [`projects/-/serviceAccounts/${HOP}`] });
    const { token } = await client.getAccessToken();
    expect(google.lookup(token ?? '')?.delegates).toEqual([HOP]);
  });

  it('401 UNAUTHENTICATED without a bearer token', async () => {
    const res = await postJson(iamUrl(google.url, READER, 'generateAccessToken'), { scope: [CLOUD_PLATFORM] }, null);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="https://accounts.google.com/"');
    expect(res.json).toEqual(
      unauthenticatedBody('CREDENTIALS_MISSING', 'iamcredentials.googleapis.com', GENERATE_ACCESS_TOKEN_RPC, true),
    );
  });

  it('401 UNAUTHENTICATED with a bearer token that is not an accepted caller', async () => {
    const res = await postJson(iamUrl(google.url, READER, 'generateAccessToken'), { scope: [CLOUD_PLATFORM] }, 'nope');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="https://accounts.google.com/", error="invalid_token"');
    expect(res.json).toEqual(
      unauthenticatedBody('ACCESS_TOKEN_TYPE_UNSUPPORTED', 'iamcredentials.googleapis.com', GENERATE_ACCESS_TOKEN_RPC, false),
    );
  });

  it('403 PERMISSION_DENIED when the caller may not impersonate the account', async () => {
    const res = await postJson(iamUrl(google.url, ADMIN, 'generateAccessToken'), { scope: [CLOUD_PLATFORM] });
    expect(res.status).toBe(403);
    expect(res.json).toEqual(permissionDeniedBody('iam.serviceAccounts.getAccessToken'));

    const other = await postJson(iamUrl(google.url, HOP, 'generateAccessToken'), { scope: [CLOUD_PLATFORM] }, OTHER_CALLER);
    expect(other.status).toBe(403);
    expect((await postJson(iamUrl(google.url, READER, 'generateAccessToken'), { scope: [CLOUD_PLATFORM] }, OTHER_CALLER)).status).toBe(200);
  });

  it('403 surfaces from Impersonated as a GaxiosError with status and the google.rpc body', async () => {
    const err = asGaxiosError(await rejectionOf(() => impersonated(ADMIN).getAccessToken()));
    expect(err.status).toBe(403);
    expect(err.message).toBe(
      "PERMISSION_DENIED: unable to impersonate: Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
    );
    expect(err.response?.data).toEqual(permissionDeniedBody('iam.serviceAccounts.getAccessToken'));
    // 403 is not retried by gaxios: exactly one request went out.
    expect(google.requests.filter((r) => r.endpoint === 'generateAccessToken')).toHaveLength(1);
  });

  it('403 for a delegation hop that is not allowed (implicitDelegation)', async () => {
    const res = await postJson(iamUrl(google.url, READER, 'generateAccessToken'), {
      scope: [CLOUD_PLATFORM],
      delegates: [`projects/-/serviceAccounts/${LOCKED_HOP}`, `projects/-/serviceAccounts/${HOP}`],
    });
    expect(res.status).toBe(403);
    expect(res.json).toEqual(permissionDeniedBody('iam.serviceAccounts.implicitDelegation'));
  });

  it('404 NOT_FOUND for an unknown service account or delegate', async () => {
    const ghost = 'ghost@proj.iam.gserviceaccount.com';
    const res = await postJson(iamUrl(google.url, ghost, 'generateAccessToken'), { scope: [CLOUD_PLATFORM] });
    expect(res.status).toBe(404);
    expect(res.json).toEqual({
      error: { code: 404, message: `Not found; Gaia id not found for email ${ghost}`, status: 'NOT_FOUND' },
    });
    const viaDelegate = await postJson(iamUrl(google.url, READER, 'generateAccessToken'), {
      scope: [CLOUD_PLATFORM],
      delegates: [`projects/-/serviceAccounts/${ghost}`],
    });
    expect(viaDelegate.status).toBe(404);
  });

  it('addServiceAccounts: an unregistered account is 404 NOT_FOUND with Google\'s body; once registered it mints, as target, delegate and by unique id', async () => {
    const late = 'late@proj.iam.gserviceaccount.com';
    const lateHop = 'late-hop@proj.iam.gserviceaccount.com';
    const notFound = (email: string) => ({ error: { code: 404, message: `Not found; Gaia id not found for email ${email}`, status: 'NOT_FOUND' } });
    const before = await postJson(iamUrl(google.url, late, 'generateAccessToken'), { scope: [CLOUD_PLATFORM] });
    expect(before.status).toBe(404);
    expect(before.headers.get('content-type')).toBe('application/json; charset=UTF-8');
    expect(before.json).toEqual(notFound(late));
    const hopBefore = await postJson(iamUrl(google.url, READER, 'generateAccessToken'), {
      scope: [CLOUD_PLATFORM],
      delegates: [`projects/-/serviceAccounts/${lateHop}`],
    });
    expect(hopBefore.status).toBe(404);
    expect(hopBefore.json).toEqual(notFound(lateHop));
    expect(google.serviceAccounts()).not.toContain(late);

    google.addServiceAccounts(['LATE@proj.iam.gserviceaccount.com', lateHop, READER]);
    expect(google.serviceAccounts()).toEqual([READER, ADMIN, HOP, LOCKED_HOP, late, lateHop]);

    expect(google.lookup(await mintRaw(google.url, late))?.serviceAccount).toBe(late);
    expect(google.lookup(await mintRaw(google.url, uniqueIdFor(late)))?.serviceAccount).toBe(late);
    const viaHop = await postJson(iamUrl(google.url, READER, 'generateAccessToken'), {
      scope: [CLOUD_PLATFORM],
      delegates: [`projects/-/serviceAccounts/${lateHop}`],
    });
    expect(viaHop.status).toBe(200);
    expect(google.lookup((viaHop.json as { accessToken: string }).accessToken)?.delegates).toEqual([lateHop]);
    // Registered accounts obey the same impersonation rules as the others.
    const otherCaller = await postJson(iamUrl(google.url, late, 'generateAccessToken'), { scope: [CLOUD_PLATFORM] }, OTHER_CALLER);
    expect(otherCaller.status).toBe(403);
  });

  it('400 INVALID_ARGUMENT for an out-of-range lifetime', async () => {
    const res = await postJson(iamUrl(google.url, READER, 'generateAccessToken'), { scope: [CLOUD_PLATFORM], lifetime: '7200s' });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      error: {
        code: 400,
        message: 'Request contains an invalid argument.',
        status: 'INVALID_ARGUMENT',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.BadRequest',
            fieldViolations: [
              {
                field: 'lifetime',
                description:
                  'The lifetime must be between 1s and 3600s; got 7200s. Longer lifetimes need the constraints/iam.allowServiceAccountCredentialLifetimeExtension organization policy.',
              },
            ],
          },
        ],
      },
    });
    for (const lifetime of ['0s', '0.5s', '3600.5s', '-5s']) {
      const bad = await postJson(iamUrl(google.url, READER, 'generateAccessToken'), { scope: [CLOUD_PLATFORM], lifetime });
      expect([lifetime, bad.status]).toEqual([lifetime, 400]);
    }
    expect((await postJson(iamUrl(google.url, READER, 'generateAccessToken'), { scope: [CLOUD_PLATFORM], lifetime: '1.5s' })).status).toBe(200);
  });

  it('400 INVALID_ARGUMENT for a lifetime that is not a Duration string', async () => {
    for (const lifetime of ['1h', '3600', 3600]) {
      const res = await postJson(iamUrl(google.url, READER, 'generateAccessToken'), { scope: [CLOUD_PLATFORM], lifetime });
      expect(res.status).toBe(400);
      const description = `Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), ${JSON.stringify(lifetime)}`;
      expect(res.json).toEqual({
        error: {
          code: 400,
          message: description,
          status: 'INVALID_ARGUMENT',
          details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'lifetime', description }] }],
        },
      });
    }
  });

  it('Impersonated with lifetime 7200 fails with 400, without retries', async () => {
    const err = asGaxiosError(await rejectionOf(() => impersonated(READER, { lifetime: 7200 }).getAccessToken()));
    expect(err.status).toBe(400);
    expect(err.message).toBe('INVALID_ARGUMENT: unable to impersonate: Request contains an invalid argument.');
    expect(google.requests.filter((r) => r.endpoint === 'generateAccessToken')).toHaveLength(1);
  });

  it('400 INVALID_ARGUMENT for an empty or missing scope', async () => {
    const expected: RpcErrorWire = {
      error: {
        code: 400,
        message: 'Request contains an invalid argument.',
        status: 'INVALID_ARGUMENT',
        details: [
          { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'scope', description: 'At least one scope is required.' }] },
        ],
      },
    };
    for (const body of [{ scope: [] }, {}, { scope: [''] }]) {
      const res = await postJson(iamUrl(google.url, READER, 'generateAccessToken'), body);
      expect(res.status).toBe(400);
      expect(res.json).toEqual(expected);
    }
  });

  it('400 for unknown fields, broken JSON, a project id instead of "-", and malformed delegates', async () => {
    const unknownField = await postJson(iamUrl(google.url, READER, 'generateAccessToken'), { scope: [CLOUD_PLATFORM], scopes: ['x'] });
    expect(unknownField.status).toBe(400);
    expect(unknownField.json).toEqual({
      error: {
        code: 400,
        message: 'Invalid JSON payload received. Unknown name "scopes": Cannot find field.',
        status: 'INVALID_ARGUMENT',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.BadRequest',
            fieldViolations: [{ description: 'Invalid JSON payload received. Unknown name "scopes": Cannot find field.' }],
          },
        ],
      },
    });
    const broken = await raw(iamUrl(google.url, READER, 'generateAccessToken'), {
      method: 'POST',
      headers: { authorization: `Bearer ${CALLER}`, 'content-type': 'application/json' },
      body: '{"scope": [',
    });
    expect(broken.status).toBe(400);
    const withProject = await postJson(iamUrl(google.url, READER, 'generateAccessToken', 'proj'), { scope: [CLOUD_PLATFORM] });
    expect(withProject.status).toBe(400);
    const badDelegate = await postJson(iamUrl(google.url, READER, 'generateAccessToken'), { scope: [CLOUD_PLATFORM], delegates: [HOP] });
    expect(badDelegate.status).toBe(400);
    expect((badDelegate.json as RpcErrorWire).error.status).toBe('INVALID_ARGUMENT');
  });

  it('serves Google-style HTML 404s for routes it does not know', async () => {
    const res = await raw(`${google.url}/v1/projects/-/serviceAccounts/${READER}:signBlob`, { method: 'POST' });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('text/html; charset=UTF-8');
    expect(res.text).toContain('That’s an error.');
  });
});

// ─── IAM Credentials: generateIdToken ───────────────────────────────────────

describe('generateIdToken', () => {
  const AUDIENCE = 'https://broker.example.test';

  it('Impersonated.fetchIdToken returns an RS256 JWT that verifies against the JWKS', async () => {
    const token = await impersonated(READER).fetchIdToken(AUDIENCE);
    const jwks = createRemoteJWKSet(new URL(`${google.url}/oauth2/v3/certs`));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: 'https://accounts.google.com',
      audience: AUDIENCE,
      algorithms: ['RS256'],
    });
    expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'JWT' });
    expect(protectedHeader.kid).toMatch(/^[0-9a-f]{40}$/);
    expect(payload).toMatchObject({
      iss: 'https://accounts.google.com',
      aud: AUDIENCE,
      sub: uniqueIdFor(READER),
      email: READER,
      email_verified: true,
      azp: READER, // google-auth-library sends useEmailAzp: true
    });
    expect(payload.sub).toMatch(/^1\d{20}$/);
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);

    const [request] = google.requests.filter((r) => r.endpoint === 'generateIdToken');
    expect(JSON.parse(request?.body ?? '')).toEqual({ delegates: [], audience: AUDIENCE, includeEmail: true, useEmailAzp: true });
  });

  it('omits email claims unless includeEmail, with the unique id as azp', async () => {
    const res = await postJson(iamUrl(google.url, READER, 'generateIdToken'), { audience: AUDIENCE });
    expect(res.status).toBe(200);
    const { token } = res.json as { token: string };
    const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${google.url}/oauth2/v3/certs`)), { audience: AUDIENCE });
    expect(payload.email).toBeUndefined();
    expect(payload.email_verified).toBeUndefined();
    expect(payload.azp).toBe(uniqueIdFor(READER));
  });

  it('verifies with OAuth2Client.verifyIdToken against /oauth2/v1/certs', async () => {
    const token = await impersonated(READER).fetchIdToken(AUDIENCE);
    const verifier = oauth2Client({ endpoints: { oauth2FederatedSignonPemCertsUrl: `${google.url}/oauth2/v1/certs` } });
    const ticket = await verifier.verifyIdToken({ idToken: token, audience: AUDIENCE });
    expect(ticket.getPayload()).toMatchObject({ email: READER, aud: AUDIENCE });
  });

  it('tokeninfo accepts the ID token and returns string claims', async () => {
    const token = await impersonated(READER).fetchIdToken(AUDIENCE);
    const res = await raw(`${google.url}/tokeninfo?id_token=${token}`);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      iss: 'https://accounts.google.com',
      aud: AUDIENCE,
      email: READER,
      email_verified: 'true',
      alg: 'RS256',
      typ: 'JWT',
    });
    expect(typeof (res.json as { exp: unknown }).exp).toBe('string');
  });

  it('400 without an audience, 403 when not allowed (getOpenIdToken), 404 for unknown accounts', async () => {
    const noAudience = await postJson(iamUrl(google.url, READER, 'generateIdToken'), { includeEmail: true });
    expect(noAudience.status).toBe(400);
    expect((noAudience.json as RpcErrorWire).error.status).toBe('INVALID_ARGUMENT');
    const denied = await postJson(iamUrl(google.url, ADMIN, 'generateIdToken'), { audience: AUDIENCE });
    expect(denied.status).toBe(403);
    expect(denied.json).toEqual(permissionDeniedBody('iam.serviceAccounts.getOpenIdToken'));
    const missing = await postJson(iamUrl(google.url, 'ghost@proj.iam.gserviceaccount.com', 'generateIdToken'), { audience: AUDIENCE });
    expect(missing.status).toBe(404);
    const noAuth = await postJson(iamUrl(google.url, READER, 'generateIdToken'), { audience: AUDIENCE }, null);
    expect(noAuth.json).toEqual(
      unauthenticatedBody('CREDENTIALS_MISSING', 'iamcredentials.googleapis.com', 'google.iam.credentials.v1.IAMCredentials.GenerateIdToken', true),
    );
  });
});

// ─── STS downscoping ─────────────────────────────────────────────────────────

describe('STS token exchange (Credential Access Boundary)', () => {
  it('downscopes an issued token through a raw form POST', async () => {
    const subject = await mintRaw(google.url, READER, [CLOUD_PLATFORM], '1200s');
    const res = await postForm(`${google.url}/v1/token`, stsForm(subject));
    expect(res.status).toBe(200);
    const body = res.json as { access_token: string; issued_token_type: string; token_type: string; expires_in: number };
    expect(Object.keys(body)).toEqual(['access_token', 'issued_token_type', 'token_type', 'expires_in']);
    expect(body).toMatchObject({ issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer' });
    expect(body.expires_in).toBeGreaterThan(1190);
    expect(body.expires_in).toBeLessThanOrEqual(1200);
    expect(google.lookup(body.access_token)).toEqual({
      kind: 'sts-downscoped',
      serviceAccount: READER,
      scopes: [CLOUD_PLATFORM],
      expiresAt: google.lookup(subject)?.expiresAt,
      delegates: [],
      accessBoundary: CAB,
    });
  });

  it('accepts the JSON (camelCase) request form of the REST reference', async () => {
    const subject = await mintRaw(google.url, READER);
    const res = await postJson(
      `${google.url}/v1/token`,
      {
        grantType: TOKEN_EXCHANGE,
        requestedTokenType: ACCESS_TOKEN_TYPE,
        subjectToken: subject,
        subjectTokenType: ACCESS_TOKEN_TYPE,
        options: JSON.stringify(CAB),
      },
      null,
    );
    expect(res.status).toBe(200);
  });

  it('works with google-auth-library DownscopedClient pointed at the emulator', async () => {
    const source = impersonated(READER);
    const client = new DownscopedClient({ authClient: source, credentialAccessBoundary: CAB });
    // DownscopedClient hard-codes https://sts.googleapis.com/v1/token; swap its private StsCredentials.
    (client as unknown as { stsCredential: StsCredentials }).stsCredential = stsCredentials();
    const { token, expirationTime } = await client.getAccessToken();
    const issued = google.lookup(token ?? '');
    expect(issued?.kind).toBe('sts-downscoped');
    expect(issued?.accessBoundary).toEqual(CAB);
    expect(expirationTime).toBeGreaterThan(Date.now() + 3_500_000);

    const sts = google.requests.find((r) => r.endpoint === 'sts');
    expect(sts?.headers['content-type']).toBe('application/x-www-form-urlencoded;charset=UTF-8');
    const form = new URLSearchParams(sts?.body);
    expect(Object.fromEntries(form)).toEqual({
      grant_type: TOKEN_EXCHANGE,
      requested_token_type: ACCESS_TOKEN_TYPE,
      subject_token: source.credentials.access_token,
      subject_token_type: ACCESS_TOKEN_TYPE,
      options: JSON.stringify(CAB),
    });
  });

  it('DownscopedClient reports STS errors as a plain Error "Error code <error>: <description>" with status', async () => {
    const source = impersonated(READER, { targetScopes: [DEVSTORAGE_RO] });
    const client = new DownscopedClient({ authClient: source, credentialAccessBoundary: CAB });
    (client as unknown as { stsCredential: StsCredentials }).stsCredential = stsCredentials();
    const err = await rejectionOf(() => client.getAccessToken());
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(gaxios.GaxiosError);
    expect((err as Error).message).toBe(`Error code invalid_grant: The subject token must carry the ${CLOUD_PLATFORM} scope.`);
    expect((err as { status?: number }).status).toBe(400);
  });

  it('invalid_grant for unknown, expired or already-downscoped subject tokens', async () => {
    const unknown = await postForm(`${google.url}/v1/token`, stsForm('ya29.not-issued-here'));
    expect(unknown.status).toBe(400);
    expect(unknown.json).toEqual({ error: 'invalid_grant', error_description: 'The subject token is invalid.' });

    const downscoped = await postForm(`${google.url}/v1/token`, stsForm(await mintRaw(google.url, READER)));
    const again = await postForm(`${google.url}/v1/token`, stsForm((downscoped.json as { access_token: string }).access_token));
    expect(again.json).toEqual({ error: 'invalid_grant', error_description: 'The subject token is already downscoped.' });

    let clock = Date.now();
    const fixed = await startGoogleEmulator({ serviceAccounts: [READER], callerTokens: [CALLER], now: () => clock });
    try {
      const subject = await mintRaw(fixed.url, READER, [CLOUD_PLATFORM], '60s');
      clock += 61_000;
      const expired = await postForm(`${fixed.url}/v1/token`, stsForm(subject));
      expect(expired.status).toBe(400);
      expect(expired.json).toEqual({ error: 'invalid_grant', error_description: 'The subject token has expired.' });
    } finally {
      await fixed.close();
    }
  });

  it('invalid_request for malformed access boundaries', async () => {
    const subject = await mintRaw(google.url, READER);
    const rule = CAB.accessBoundary.accessBoundaryRules[0];
    const cases: [unknown, string][] = [
      [{ accessBoundary: { accessBoundaryRules: [] } }, 'at least one access boundary rule is required.'],
      [
        { accessBoundary: { accessBoundaryRules: Array.from({ length: 11 }, () => rule) } },
        'at most 10 access boundary rules are allowed; got 11.',
      ],
      [
        { accessBoundary: { accessBoundaryRules: [{ availablePermissions: ['inRole:roles/storage.objectViewer'] }] } },
        'accessBoundaryRules[0].availableResource is required.',
      ],
      [
        { accessBoundary: { accessBoundaryRules: [{ availableResource: '//storage.googleapis.com/projects/_/buckets/b' }] } },
        'accessBoundaryRules[0].availablePermissions must list at least one permission.',
      ],
      [
        {
          accessBoundary: {
            accessBoundaryRules: [{ availableResource: '//storage.googleapis.com/projects/_/buckets/b', availablePermissions: ['roles/x'] }],
          },
        },
        'accessBoundaryRules[0].availablePermissions entries must look like "inRole:ROLE".',
      ],
      [
        {
          accessBoundary: {
            accessBoundaryRules: [
              { availableResource: '//storage.googleapis.com/projects/_/buckets/b', availablePermissions: ['inRole:r'], availabilityCondition: {} },
            ],
          },
        },
        'accessBoundaryRules[0].availabilityCondition.expression is required when a condition is given.',
      ],
      [{ nope: true }, '"accessBoundary" is required.'],
    ];
    for (const [options, description] of cases) {
      const res = await postForm(`${google.url}/v1/token`, stsForm(subject, options));
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ error: 'invalid_request', error_description: `Invalid value for "options": ${description}` });
    }
    const noCondition = await postForm(
      `${google.url}/v1/token`,
      stsForm(subject, {
        accessBoundary: {
          accessBoundaryRules: [{ availableResource: '//storage.googleapis.com/projects/_/buckets/b', availablePermissions: ['inRole:r'] }],
        },
      }),
    );
    expect(noCondition.status).toBe(200);
  });

  it('rejects the wrong grant or token types', async () => {
    const subject = await mintRaw(google.url, READER);
    const wrongGrant = await postForm(`${google.url}/v1/token`, { ...stsForm(subject), grant_type: 'client_credentials' });
    expect(wrongGrant.json).toMatchObject({ error: 'unsupported_grant_type' });
    const wrongSubjectType = await postForm(`${google.url}/v1/token`, {
      ...stsForm(subject),
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    });
    expect(wrongSubjectType.status).toBe(400);
    expect(wrongSubjectType.json).toMatchObject({ error: 'invalid_request' });
    const noOptions = await postForm(`${google.url}/v1/token`, { ...stsForm(subject), options: '' });
    expect(noOptions.json).toMatchObject({ error: 'invalid_request' });
  });
});

// ─── tokeninfo ───────────────────────────────────────────────────────────────

describe('tokeninfo', () => {
  it('OAuth2Client.getTokenInfo works with an endpoint override', async () => {
    const { token } = await impersonated(READER, { targetScopes: [CLOUD_PLATFORM, USERINFO_EMAIL] }).getAccessToken();
    const client = oauth2Client({ endpoints: { tokenInfoUrl: `${google.url}/tokeninfo` } });
    const info = await client.getTokenInfo(token ?? '');
    expect(info).toMatchObject({
      aud: uniqueIdFor(READER),
      azp: uniqueIdFor(READER),
      sub: uniqueIdFor(READER),
      email: READER,
      email_verified: 'true',
      access_type: 'online',
      scopes: [CLOUD_PLATFORM, USERINFO_EMAIL],
    });
    expect(info.expiry_date).toBeGreaterThan(Date.now() + 3_590_000);
    // getTokenInfo POSTs with the token in the Authorization header and no body.
    const request = google.requests.find((r) => r.endpoint === 'tokeninfo');
    expect(request).toMatchObject({ method: 'POST', body: '' });
    expect(request?.headers['authorization']).toBe(`Bearer ${token}`);
  });

  it('GET ?access_token= returns string values, and no email without the email scope', async () => {
    const clock = Date.parse('2026-11-25T17:00:00Z');
    const fixed = await startGoogleEmulator({ serviceAccounts: [READER], callerTokens: [CALLER], now: () => clock });
    try {
      const token = await mintRaw(fixed.url, READER, [CLOUD_PLATFORM, DEVSTORAGE_RO], '900s');
      const res = await raw(`${fixed.url}/tokeninfo?access_token=${token}`);
      expect(res.status).toBe(200);
      expect(res.json).toEqual({
        azp: uniqueIdFor(READER),
        aud: uniqueIdFor(READER),
        scope: `${CLOUD_PLATFORM} ${DEVSTORAGE_RO}`,
        exp: String(Date.parse('2026-11-25T17:15:00Z') / 1000),
        expires_in: '900',
        access_type: 'online',
      });
      const form = await postForm(`${fixed.url}/tokeninfo`, { access_token: token });
      expect(form.json).toEqual(res.json);
    } finally {
      await fixed.close();
    }
  });

  it('400 invalid_token for unknown or expired tokens, invalid_request without one', async () => {
    const unknown = await raw(`${google.url}/tokeninfo?access_token=ya29.unknown`);
    expect(unknown.status).toBe(400);
    expect(unknown.json).toEqual({ error: 'invalid_token', error_description: 'Invalid Value' });

    let clock = Date.now();
    const fixed = await startGoogleEmulator({ serviceAccounts: [READER], callerTokens: [CALLER], now: () => clock });
    try {
      const token = await mintRaw(fixed.url, READER, [CLOUD_PLATFORM], '10s');
      clock += 10_000;
      const expired = await raw(`${fixed.url}/tokeninfo?access_token=${token}`);
      expect(expired.json).toEqual({ error: 'invalid_token', error_description: 'Invalid Value' });
    } finally {
      await fixed.close();
    }

    const none = await raw(`${google.url}/tokeninfo`);
    expect(none.status).toBe(400);
    expect(none.json).toEqual({ error: 'invalid_request', error_description: 'Either access_token, id_token, or token_handle required' });

    const viaClient = asGaxiosError(
      await rejectionOf(() => oauth2Client({ endpoints: { tokenInfoUrl: `${google.url}/tokeninfo` } }).getTokenInfo('ya29.x')),
    );
    expect(viaClient.status).toBe(400);
    expect(viaClient.response?.data).toEqual({ error: 'invalid_token', error_description: 'Invalid Value' });
  });
});

// ─── fault injection ─────────────────────────────────────────────────────────

describe('fault switches', () => {
  it('setLatency delays matching requests only', async () => {
    google.faults.setLatency(400, 'tokeninfo');
    let started = Date.now();
    await raw(`${google.url}/tokeninfo?access_token=x`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    started = Date.now();
    await raw(`${google.url}/oauth2/v3/certs`);
    await mintRaw(google.url, READER);
    expect(Date.now() - started).toBeLessThan(400);
    google.faults.setLatency(150);
    started = Date.now();
    await mintRaw(google.url, READER);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('failNext fails exactly `count` matching requests, with canonical body and Retry-After', async () => {
    google.faults.failNext({ status: 503, count: 2, retryAfterSeconds: 7, match: 'generateAccessToken' });
    const url = iamUrl(google.url, READER, 'generateAccessToken');
    const first = await postJson(url, { scope: [CLOUD_PLATFORM] });
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('7');
    expect(first.json).toEqual({ error: { code: 503, message: 'The service is currently unavailable.', status: 'UNAVAILABLE' } });
    // Other endpoints do not consume the fault.
    expect((await raw(`${google.url}/tokeninfo?access_token=x`)).status).toBe(400);
    expect((await postJson(url, { scope: [CLOUD_PLATFORM] })).status).toBe(503);
    expect((await postJson(url, { scope: [CLOUD_PLATFORM] })).status).toBe(200);
  });

  it('maps statuses to google.rpc codes and supports count: Infinity until clear()', async () => {
    const url = iamUrl(google.url, READER, 'generateAccessToken');
    const expected: [number, string][] = [
      [429, 'RESOURCE_EXHAUSTED'],
      [500, 'INTERNAL'],
      [403, 'PERMISSION_DENIED'],
      [504, 'DEADLINE_EXCEEDED'],
    ];
    for (const [status, name] of expected) {
      google.faults.failNext({ status });
      const res = await postJson(url, { scope: [CLOUD_PLATFORM] });
      expect([res.status, (res.json as RpcErrorWire).error.status, res.headers.get('retry-after')]).toEqual([status, name, null]);
    }
    google.faults.failNext({ status: 500, count: Infinity });
    for (let i = 0; i < 5; i++) expect((await postJson(url, { scope: [CLOUD_PLATFORM] })).status).toBe(500);
    google.faults.clear();
    expect((await postJson(url, { scope: [CLOUD_PLATFORM] })).status).toBe(200);
    expect(() => google.faults.failNext({ status: 200 })).toThrow(RangeError);
    expect(() => google.faults.failNext({ status: 500, count: 0 })).toThrow(RangeError);
  });

  it('Impersonated retries 5xx (gaxios retry config): one 503 is absorbed', async () => {
    google.faults.failNext({ status: 503, match: 'generateAccessToken' });
    const { token } = await impersonated(READER).getAccessToken();
    expect(google.lookup(token ?? '')).toBeDefined();
    expect(google.requests.filter((r) => r.endpoint === 'generateAccessToken')).toHaveLength(2);
  });

  it('persistent 429: Impersonated gives up after 4 attempts; Retry-After is readable from the GaxiosError', async () => {
    google.faults.failNext({ status: 429, count: Infinity, retryAfterSeconds: 7, match: 'generateAccessToken' });
    const err = asGaxiosError(await rejectionOf(() => impersonated(READER).getAccessToken()));
    expect(err.status).toBe(429);
    expect(err.message).toBe('RESOURCE_EXHAUSTED: unable to impersonate: Resource has been exhausted (e.g. check quota).');
    expect(err.response?.headers.get('retry-after')).toBe('7');
    expect(google.requests.filter((r) => r.endpoint === 'generateAccessToken')).toHaveLength(4);
  });

  it('corruptNext malformed-json: 200 with an HTML body', async () => {
    google.faults.corruptNext({ mode: 'malformed-json', match: 'generateAccessToken' });
    const res = await postJson(iamUrl(google.url, READER, 'generateAccessToken'), { scope: [CLOUD_PLATFORM] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=UTF-8');
    expect(res.text.startsWith('<html>')).toBe(true);
    expect(res.json).toBeUndefined();

    // What google-auth-library makes of it: no token, a generic error.
    google.faults.corruptNext({ mode: 'malformed-json', match: 'generateAccessToken' });
    const err = await rejectionOf(() => impersonated(READER).getAccessToken());
    expect((err as Error).message).toBe('Could not refresh access token.');
  });

  it('corruptNext reset: the socket dies mid-response; Impersonated retries it twice', async () => {
    google.faults.corruptNext({ mode: 'reset', match: 'generateAccessToken' });
    await expect(
      fetch(iamUrl(google.url, READER, 'generateAccessToken'), {
        method: 'POST',
        headers: { authorization: `Bearer ${CALLER}` },
        body: '{"scope":["x"]}',
      }).then((r) => r.text()),
    ).rejects.toThrow();

    google.faults.corruptNext({ mode: 'reset', count: 2, match: 'generateAccessToken' });
    const { token } = await impersonated(READER).getAccessToken();
    expect(google.lookup(token ?? '')).toBeDefined();

    google.faults.corruptNext({ mode: 'reset', count: 3, match: 'generateAccessToken' });
    const err = asGaxiosError(await rejectionOf(() => impersonated(READER).getAccessToken()));
    expect(err.response).toBeUndefined();
    expect(err.message).toMatch(/^unable to impersonate: /);
  });

  it('is controllable over HTTP at /__emulator/faults', async () => {
    const control = `${google.url}/__emulator/faults`;
    const armed = await postJson(
      control,
      {
        failNext: { status: 500, count: 'Infinity', match: 'sts' },
        setLatency: { ms: 50, match: 'tokeninfo' },
        corruptNext: { mode: 'reset', count: 2, match: 'generateIdToken' },
      },
      null,
    );
    expect(armed.status).toBe(200);
    expect(armed.json).toEqual({
      latency: { tokeninfo: 50 },
      pending: [
        { kind: 'fail', status: 500, match: 'sts', remaining: 'Infinity' },
        { kind: 'corrupt', mode: 'reset', match: 'generateIdToken', remaining: 2 },
      ],
    });
    expect((await raw(control)).json).toEqual(armed.json);
    const failed = await postForm(`${google.url}/v1/token`, stsForm('x'));
    expect(failed.status).toBe(500);
    expect(failed.json).toEqual({ error: { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' } });

    const cleared = await raw(control, { method: 'DELETE' });
    expect(cleared.json).toEqual({ latency: {}, pending: [] });
    expect((await postForm(`${google.url}/v1/token`, stsForm('x'))).status).toBe(400);

    const bad = await postJson(control, { failNext: { status: 200 } }, null);
    expect(bad.status).toBe(400);
    expect((bad.json as RpcErrorWire).error.status).toBe('INVALID_ARGUMENT');
    expect((await postJson(control, { explode: {} }, null)).status).toBe(400);
    expect((await postJson(control, { setLatency: { ms: 5, match: 'nope' } }, null)).status).toBe(400);
  });
});

// ─── Gemini (Vertex AI) stand-in ─────────────────────────────────────────────

describe('Gemini emulator', () => {
  function genai(accessToken: string, expiryDate = Date.now() + 3_600_000): GoogleGenAI {
    const authClient = oauth2Client();
    authClient.setCredentials({ access_token: accessToken, expiry_date: expiryDate });
    return new GoogleGenAI({
      vertexai: true,
      project: 'p',
      location: 'us-central1',
      googleAuthOptions: { authClient },
      // Inside jest's sandbox genai cannot find undici's global dispatcher
      // ("Undici globalDispatcher is not available."); an explicit fetch skips that path.
      httpOptions: { baseUrl: gemini.url, fetch },
    });
  }

  const MODEL_PATH = '/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent';

  it('answers @google/genai in Vertex mode with an impersonated token', async () => {
    const { token } = await impersonated(READER).getAccessToken();
    const response = await genai(token ?? '').models.generateContent({ model: 'gemini-2.0-flash', contents: 'hello there' });

    expect(response.text).toBe('[gemini-2.0-flash] echo: hello there');
    expect(response.candidates?.[0]?.finishReason).toBe('STOP');
    expect(response.modelVersion).toBe('gemini-2.0-flash');
    expect(response.usageMetadata).toMatchObject({ promptTokenCount: 3, totalTokenCount: 12 });
    const [request] = gemini.requests;
    expect(request).toMatchObject({ method: 'POST', path: MODEL_PATH, endpoint: 'gemini' });
    expect(request?.headers['authorization']).toBe(`Bearer ${token}`);
    expect(JSON.parse(request?.body ?? '')).toEqual({ contents: [{ parts: [{ text: 'hello there' }], role: 'user' }] });
  });

  it('also serves the v1 path', async () => {
    const token = await mintRaw(google.url, READER);
    const res = await postJson(
      `${gemini.url}/v1/projects/p/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent`,
      { contents: [{ role: 'user', parts: [{ text: 'a' }, { text: 'b' }] }] },
      token,
    );
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      candidates: [{ content: { role: 'model', parts: [{ text: '[gemini-2.5-pro] echo: a\nb' }] }, finishReason: 'STOP' }],
      modelVersion: 'gemini-2.5-pro',
    });
  });

  it('401 for missing, unknown, downscoped and expired tokens', async () => {
    const method = 'google.cloud.aiplatform.v1beta1.PredictionService.GenerateContent';
    const body = { contents: [{ role: 'user', parts: [{ text: 'x' }] }] };
    const missing = await postJson(`${gemini.url}${MODEL_PATH}`, body, null);
    expect(missing.status).toBe(401);
    expect(missing.json).toEqual(unauthenticatedBody('CREDENTIALS_MISSING', 'aiplatform.googleapis.com', method, true));

    const unknown = await postJson(`${gemini.url}${MODEL_PATH}`, body, 'ya29.unknown');
    expect(unknown.json).toEqual(unauthenticatedBody('ACCESS_TOKEN_TYPE_UNSUPPORTED', 'aiplatform.googleapis.com', method, false));

    const err = await rejectionOf(() => genai('ya29.unknown').models.generateContent({ model: 'gemini-2.0-flash', contents: 'x' }));
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    expect(JSON.parse((err as ApiError).message)).toEqual(unknown.json);

    const downscoped = await postForm(`${google.url}/v1/token`, stsForm(await mintRaw(google.url, READER)));
    const cab = await postJson(`${gemini.url}${MODEL_PATH}`, body, (downscoped.json as { access_token: string }).access_token);
    expect(cab.status).toBe(401);

    let clock = Date.now();
    const fixed = await startGoogleEmulator({ serviceAccounts: [READER], callerTokens: [CALLER], now: () => clock });
    const fixedGemini = await startGeminiEmulator({ googleEmulator: fixed });
    try {
      const token = await mintRaw(fixed.url, READER, [CLOUD_PLATFORM], '30s');
      expect((await postJson(`${fixedGemini.url}${MODEL_PATH}`, body, token)).status).toBe(200);
      clock += 30_000;
      const expired = await postJson(`${fixedGemini.url}${MODEL_PATH}`, body, token);
      expect(expired.json).toEqual(unauthenticatedBody('ACCESS_TOKEN_EXPIRED', 'aiplatform.googleapis.com', method, false));
    } finally {
      await fixedGemini.close();
      await fixed.close();
    }
  });

  it('403 insufficient scopes for a token without cloud-platform', async () => {
    const { token } = await impersonated(READER, { targetScopes: [DEVSTORAGE_RO] }).getAccessToken();
    const err = await rejectionOf(() => genai(token ?? '').models.generateContent({ model: 'gemini-2.0-flash', contents: 'x' }));
    expect((err as ApiError).status).toBe(403);
    expect(JSON.parse((err as ApiError).message)).toEqual({
      error: {
        code: 403,
        message: 'Request had insufficient authentication scopes.',
        status: 'PERMISSION_DENIED',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
            domain: 'googleapis.com',
            metadata: {
              service: 'aiplatform.googleapis.com',
              method: 'google.cloud.aiplatform.v1beta1.PredictionService.GenerateContent',
            },
          },
        ],
      },
    });
  });

  it('400 for empty contents; honours gemini faults', async () => {
    const token = await mintRaw(google.url, READER);
    const empty = await postJson(`${gemini.url}${MODEL_PATH}`, { contents: [] }, token);
    expect(empty.status).toBe(400);
    expect((empty.json as RpcErrorWire).error.status).toBe('INVALID_ARGUMENT');

    google.faults.failNext({ status: 429, match: 'gemini', retryAfterSeconds: 3 });
    const err = await rejectionOf(() => genai(token).models.generateContent({ model: 'gemini-2.0-flash', contents: 'x' }));
    expect((err as ApiError).status).toBe(429);
    expect((await genai(token).models.generateContent({ model: 'gemini-2.0-flash', contents: 'x' })).text).toBe(
      '[gemini-2.0-flash] echo: x',
    );
  });
});
