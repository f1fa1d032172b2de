/** The parameters of one token request, already checked to be single strings. */
export type TokenParams = ReadonlyMap<string, string>;

/** A grant type's declaration: its URI and the parameters it reads; all others are dropped. */
export interface GrantTypeDefinition<Request> {
  readonly grantType: string;
  readonly parameters: readonly string[];
  parse(params: TokenParams): Request;
}
