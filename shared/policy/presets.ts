/**
 * Presets: one line in a policy that stands for the explicit settings that are easy to get
 * wrong. Issuer presets (`firebase`, `google`) fill in the issuer, audiences, keys and browser
 * defaults; grant presets (`gemini-vertex`, `gemini-developer-api`) the scope their API
 * accepts. The compiler and `npm run admin -- policy expand` both expand them here.
 */
import { SCOPE_CLOUD_PLATFORM } from '../oauth-uris';
import { issuerNames, type GrantPreset, type IssuerDocument, type PolicyDocument, type RuleDocument } from './schema';

/** Google's published keys for Firebase Auth ID tokens and for Google Sign-In ID tokens. */
const FIREBASE_JWKS = 'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com';
const GOOGLE_JWKS = 'https://www.googleapis.com/oauth2/v3/certs';

/** A preset entry as the explicit entry it stands for. */
export interface ExpandedIssuer extends IssuerDocument {
  issuer: string;
  audiences: string[];
  aliases: string[];
  requireAuthTime: boolean;
}

/** The scopes of a grant: its own, or its preset's (the schema allows exactly one of the two). */
export function grantScopes(grant: RuleDocument['grant']): readonly string[] {
  if (grant.preset !== undefined) return GRANT_PRESET_SCOPES[grant.preset];
  return grant.scopes ?? [];
}

/** What each grant preset expands to: the scope its API accepts. The lifetime stays the rule's default. */
const GRANT_PRESET_SCOPES: Readonly<Record<GrantPreset, readonly string[]>> = {
  'gemini-vertex': [SCOPE_CLOUD_PLATFORM],
  'gemini-developer-api': ['https://www.googleapis.com/auth/generative-language'],
};

export function expandPreset(doc: IssuerDocument): ExpandedIssuer {
  const [issuer = ''] = issuerNames(doc);
  if (doc.preset === 'firebase') {
    return { ...doc, issuer, audiences: [doc.project_id ?? ''], jwks_uri: FIREBASE_JWKS, algorithms: ['RS256'], browser: doc.browser ?? true, aliases: [], requireAuthTime: true };
  }
  if (doc.preset === 'google') {
    return { ...doc, issuer, audiences: [...(doc.client_ids ?? [])], jwks_uri: GOOGLE_JWKS, algorithms: ['RS256'], browser: doc.browser ?? true, aliases: ['accounts.google.com'], requireAuthTime: false };
  }
  return { ...doc, issuer, audiences: [...(doc.audiences ?? [])], aliases: [], requireAuthTime: false };
}

/**
 * The document with every preset written out as the settings it stands for, as an operator
 * would have to write them without presets (internal fields such as aliases left out).
 */
export function expandPresets(document: PolicyDocument): PolicyDocument {
  return {
    ...document,
    issuers: document.issuers.map((doc) => {
      if (doc.preset === undefined) return doc;
      const { preset: _preset, project_id: _project, client_ids: _clients, aliases: _aliases, requireAuthTime: _authTime, ...explicit } = expandPreset(doc);
      return explicit;
    }),
    rules: document.rules.map((rule) => {
      if (rule.grant.preset === undefined) return rule;
      const { preset: _preset, ...grant } = rule.grant;
      return { ...rule, grant: { ...grant, scopes: [...grantScopes(rule.grant)] } };
    }),
  };
}
