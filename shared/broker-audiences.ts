/** The `audience` values that name the broker itself: selecting no rule in particular, and the only `aud` of client assertions. */
export function brokerAudiences(issuerUrl: string | undefined): string[] {
  if (issuerUrl === undefined) return [];
  return [issuerUrl, `${issuerUrl}/token`, `${issuerUrl}/v1/token`, `${issuerUrl}/v1/introspect`];
}
