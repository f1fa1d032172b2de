/**
 * Client authentication (RFC 6749 §2.3, RFC 7523 §2.2) and broker API keys. The HTTP layer
 * hands over what the request carried (ClientCredentials, no framework types); this module
 * decides which client, if any, it proves, and refuses anything ambiguous.
 *
 *   client_secret_basic   Authorization: Basic base64(urlencode(id):urlencode(secret))
 *   client_secret_post    client_id + client_secret form parameters
 *   private_key_jwt       client_assertion_type=…:client-assertion-type:jwt-bearer + client_assertion
 *   api_key               x-goog-api-key header (never the query string)
 * More than one method in one request is refused (RFC 6749 §2.3).
 *
 * The client is reported (OnClientIdentified) as soon as its credential has verified: the
 * secret, the API key's hash, the assertion's signature. The checks that may still refuse it
 * come after (an API key's expiry, address and origin; a `client_id` naming another client; an
 * assertion's times, audience and single use), so their refusals name the client. A claimed
 * id whose credential did not verify is never reported.
 */
import ipaddr from 'ipaddr.js';
import { DEFAULTS } from '../config/defaults';
import { BrokerError, invalidRequest } from '../errors';
import { sha256Fingerprint } from '../fingerprint';
import type { Deadline } from '../resilience/deadline';
import type { TokenParams } from '../token-params';
import type { ApiKeyRecord, ClientRecord, ClientRegistry } from './client-registry';
import type { ReasonFor } from '../refusal-reasons';
import { verifyClientAssertion } from './client-assertion';
import { parseApiKey } from './credential-format';
import type { FailureThrottle } from './failure-throttle';
import { CLIENT_ISSUER, type ClientAuthMethod, type Principal } from './principal';
import type { ReplayStore } from './replay-store';
import { parseSecretHash, type SecretVerifier } from './secret-hash';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** What the request carried beyond its form parameters. */
export interface ClientCredentials {
  /** From `Authorization: Basic`, already decoded. */
  basic?: { clientId: string; clientSecret: string };
  /** The `x-goog-api-key` header. */
  apiKey?: string;
  /** The browser origin (Origin header, else the origin of Referer). */
  origin?: string;
  /** The caller's address as the platform's front end saw it. */
  remoteIp?: string;
}

export interface ClientAuthContext {
  /** The registered clients (the compiled policy). */
  policy: ClientRegistry;
  secrets: SecretVerifier;
  throttle: FailureThrottle;
  replay: ReplayStore;
  /** The broker's own identifiers: accepted `aud` values of client assertions. */
  audiences: readonly string[];
  now: () => number;
}

/** A client whose credential has verified. */
export interface IdentifiedClient {
  readonly id: string;
  readonly authMethod: ClientAuthMethod;
  /** The public id of the API key (`api_key`). */
  readonly apiKeyId?: string;
}

/** Receives the client once its credential has verified, before the checks that may still refuse it. */
export type OnClientIdentified = (client: IdentifiedClient) => void;

const ignore: OnClientIdentified = () => undefined;

/** Parameters client authentication reads; every grant type declares them. */
export const CLIENT_AUTH_PARAMETERS = ['client_id', 'client_secret', 'client_assertion', 'client_assertion_type'] as const;

/** A hash nobody's secret matches, at the default cost: unknown clients pay the same scrypt as known ones. */
const DUMMY_HASH = parseSecretHash(
  `$scrypt$ln=${DEFAULTS.scrypt.ln},r=${DEFAULTS.scrypt.r},p=${DEFAULTS.scrypt.p}$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`,
);

/** The client the request authenticates as, or undefined when it carries no client credentials. */
export async function authenticateClient(
  params: TokenParams,
  credentials: ClientCredentials,
  ctx: ClientAuthContext,
  deadline?: Deadline,
  identified: OnClientIdentified = ignore,
): Promise<Principal | undefined> {
  const methods = presentMethods(params, credentials);
  if (methods.length > 1) throw invalidRequest('use exactly one client authentication method', 'multiple_client_auth');
  const clientIdParam = params.get('client_id');
  switch (methods[0]) {
    case undefined:
      return undefined;
    case 'client_secret_basic': {
      const { clientId, clientSecret } = credentials.basic as { clientId: string; clientSecret: string };
      if (clientIdParam !== undefined && clientIdParam !== clientId) throw invalidRequest('client_id does not match the Authorization header', 'client_id_mismatch');
      return bySecret(clientId, clientSecret, 'client_secret_basic', ctx, identified);
    }
    case 'client_secret_post':
      if (!clientIdParam) throw invalidRequest('client_secret requires client_id', 'missing_parameter');
      return bySecret(clientIdParam, params.get('client_secret') ?? '', 'client_secret_post', ctx, identified);
    case 'private_key_jwt':
      return byAssertion(params, ctx, identified, deadline);
    case 'api_key': {
      const client = await byApiKey(credentials, ctx, identified);
      if (clientIdParam !== undefined && clientIdParam !== client.subject) throw invalidRequest('client_id does not match the API key', 'client_id_mismatch');
      return client;
    }
  }
}

/** Whether the request carries any client credential (without one, client authentication has nothing to do). */
export function carriesClientCredentials(params: TokenParams, credentials: ClientCredentials): boolean {
  return presentMethods(params, credentials).length > 0;
}

function presentMethods(params: TokenParams, credentials: ClientCredentials): ClientAuthMethod[] {
  const methods: ClientAuthMethod[] = [];
  if (credentials.basic) methods.push('client_secret_basic');
  if (params.has('client_secret')) methods.push('client_secret_post');
  if (params.has('client_assertion') || params.has('client_assertion_type')) methods.push('private_key_jwt');
  if (credentials.apiKey !== undefined) methods.push('api_key');
  return methods;
}

/**
 * A known public client (gcloud sends its installed-app client id and published secret as HTTP
 * Basic): the request is decided as one without client authentication, with the id known to
 * rules (`client.auth_method == 'public'`) and to the audit trail. Any other secret is refused.
 */
function byPublicClient(clientId: string, secret: string, method: ClientAuthMethod, published: { publishedSecret?: string }, identified: OnClientIdentified): Principal {
  if (secret !== '' && secret !== published.publishedSecret) throw invalidClient('client authentication failed', 'bad_client_secret', method === 'client_secret_basic');
  identified({ id: clientId, authMethod: 'public' });
  return clientPrincipal({ id: clientId, secrets: [] }, 'public', secret);
}

async function bySecret(clientId: string, secret: string, method: ClientAuthMethod, ctx: ClientAuthContext, identified: OnClientIdentified): Promise<Principal> {
  const published = ctx.policy.publicClients.get(clientId);
  if (published) return byPublicClient(clientId, secret, method, published, identified);
  const delay = ctx.throttle.delayMs(clientId);
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  const client = ctx.policy.clients.get(clientId);
  const now = ctx.now();
  const active = (client?.secrets ?? []).filter((s) => s.expiresAtMs === undefined || s.expiresAtMs > now);
  let valid = false;
  for (const candidate of active.length > 0 ? active : [{ hash: DUMMY_HASH }]) {
    // At most two active secrets; the first match ends the search (a recent match is answered
    // from the verifier's memory, so a busy client pays no scrypt at all).
    if (await ctx.secrets.verify(secret, candidate.hash)) {
      valid = active.length > 0;
      break;
    }
  }
  if (!client || !valid) {
    // Only known clients are tracked: made-up ids must not crowd real clients out of the throttle.
    if (client) ctx.throttle.recordFailure(clientId);
    throw invalidClient('client authentication failed', 'bad_client_secret', method === 'client_secret_basic');
  }
  identified({ id: client.id, authMethod: method });
  ctx.throttle.recordSuccess(clientId);
  return clientPrincipal(client, method, secret);
}

async function byAssertion(params: TokenParams, ctx: ClientAuthContext, identified: OnClientIdentified, deadline?: Deadline): Promise<Principal> {
  if (params.get('client_assertion_type') !== CLIENT_ASSERTION_TYPE) {
    throw invalidRequest(`client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`, 'unsupported_client_assertion_type');
  }
  const assertion = params.get('client_assertion');
  if (!assertion) throw invalidRequest('missing required parameter client_assertion', 'missing_parameter');
  const verified = await verifyClientAssertion(assertion, {
    clients: ctx.policy.assertionClients,
    audiences: ctx.audiences,
    replay: ctx.replay,
    errorCode: 'invalid_client',
    expectedClientId: params.get('client_id'),
    onSignatureVerified: (id) => identified({ id, authMethod: 'private_key_jwt' }),
    currentDate: new Date(ctx.now()),
    deadline,
  });
  const client = ctx.policy.clients.get(verified.clientId) as ClientRecord;
  return clientPrincipal(client, 'private_key_jwt', assertion, verified.expiresAt);
}

/** RFC 7523 §2.1: the jwt-bearer grant's `assertion` proves the client itself. */
export async function clientFromGrantAssertion(assertion: string, ctx: ClientAuthContext, deadline?: Deadline, identified: OnClientIdentified = ignore): Promise<Principal> {
  const verified = await verifyClientAssertion(assertion, {
    clients: ctx.policy.assertionClients,
    audiences: ctx.audiences,
    replay: ctx.replay,
    errorCode: 'invalid_grant',
    onSignatureVerified: (id) => identified({ id, authMethod: 'jwt_bearer' }),
    currentDate: new Date(ctx.now()),
    deadline,
  });
  const client = ctx.policy.clients.get(verified.clientId) as ClientRecord;
  return clientPrincipal(client, 'jwt_bearer', assertion, verified.expiresAt);
}

async function byApiKey(credentials: ClientCredentials, ctx: ClientAuthContext, identified: OnClientIdentified): Promise<Principal> {
  // A malformed key or an unknown key id (ids are public) is refused without hashing: no
  // scrypt is spent on input whose shape alone rules it out.
  const parsed = parseApiKey(credentials.apiKey ?? '');
  const key = parsed && ctx.policy.apiKeys.get(parsed.id);
  if (!parsed || !key || !(await ctx.secrets.verify(parsed.secret, key.hash))) throw invalidClient('API key not valid', 'bad_api_key', false);
  identified({ id: key.clientId, authMethod: 'api_key', apiKeyId: key.id });
  if (key.expiresAtMs !== undefined && key.expiresAtMs <= ctx.now()) throw invalidClient('API key expired', 'api_key_expired', false);
  checkApiKeyRestrictions(key, credentials);
  const client = ctx.policy.clients.get(key.clientId) as ClientRecord;
  return clientPrincipal(client, 'api_key', credentials.apiKey ?? '', undefined, key.id);
}

/** Address and origin restrictions: refusals are 403, the key itself was valid. */
function checkApiKeyRestrictions(key: ApiKeyRecord, credentials: ClientCredentials): void {
  if (key.ipRanges) {
    const address = parseAddress(credentials.remoteIp);
    const allowed = address !== undefined && key.ipRanges.some(([range, bits]) => address.kind() === range.kind() && address.match([range, bits] as never));
    if (!allowed) throw new BrokerError('access_denied', 'API key not allowed from this address', { reason: 'api_key_ip_not_allowed' });
  }
  if (key.origins && (credentials.origin === undefined || !key.origins.has(credentials.origin))) {
    throw new BrokerError('access_denied', 'API key not allowed from this origin', { reason: 'api_key_origin_not_allowed' });
  }
}

function parseAddress(value: string | undefined): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (!value || !ipaddr.isValid(value)) return undefined;
  return ipaddr.process(value); // IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4
}

function clientPrincipal(client: ClientRecord, method: ClientAuthMethod, credential: string, expiresAt?: number, apiKeyId?: string): Principal {
  const claims: Record<string, unknown> = Object.create(null);
  claims.client_id = client.id;
  claims.auth_method = method;
  if (apiKeyId) claims.api_key_id = apiKeyId;
  return {
    kind: 'client',
    issuer: CLIENT_ISSUER,
    subject: client.id,
    claims: Object.freeze(claims),
    credentialSha256: sha256Fingerprint(credential),
    expiresAt,
  };
}

function invalidClient(description: string, reason: ReasonFor<'invalid_client'>, basic: boolean): BrokerError {
  return new BrokerError('invalid_client', description, { reason, challenge: basic ? 'Basic realm="token-broker", charset="UTF-8"' : undefined });
}
