/** The trust policy the HTTP tests run against. */
export const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
export const GENERATIVE_LANGUAGE = 'https://www.googleapis.com/auth/generative-language';
export const STORAGE_READ = 'https://www.googleapis.com/auth/devstorage.read_only';
export const DEPLOYER = 'gemini-caller@token-broker-dev.iam.gserviceaccount.com';
export const READER = 'reader@token-broker-dev.iam.gserviceaccount.com';

export function testPolicy(urls: { issuer: string; broker: string }, extraIssuers = ''): string {
  return `
version: 1
issuers:
  - issuer: "${urls.issuer}"
    audiences: ["${urls.broker}", "https://broker.example.test"]
    algorithms: [RS256]
${extraIssuers}
rules:
  - id: main-branch
    issuer: "${urls.issuer}"
    condition: claims.repository == 'acme/app' && claims.ref == 'refs/heads/main'
    grant:
      service_account: ${DEPLOYER}
      scopes: [${CLOUD_PLATFORM}, ${GENERATIVE_LANGUAGE}]
      max_lifetime_seconds: 900
      id_token_audiences: [https://demo-service.example.run.app, "https://*.internal.example.test"]
    audit_claims: [repository, ref, run_note]
  - id: any-branch
    issuer: "${urls.issuer}"
    condition: claims.repository == 'acme/app'
    grant:
      service_account: ${READER}
      scopes: [${STORAGE_READ}]
      max_lifetime_seconds: 600
`;
}
