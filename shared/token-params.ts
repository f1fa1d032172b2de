/** The parameters of one token request, already checked to be single strings (functions/http/form-params.ts). */
export type TokenParams = ReadonlyMap<string, string>;
