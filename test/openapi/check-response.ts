/**
 * Checks a real HTTP answer against docs/openapi.yaml: the operation is looked up by method and
 * path, the response by status, and then the status must be documented, the media type must
 * be one the response lists, every required header must be present, every documented header
 * present must match its schema, the headers that carry protocol meaning (`SIGNIFICANT_HEADERS`)
 * must be documented when sent, and a JSON body must validate (Ajv, JSON Schema 2020-12, as
 * OpenAPI 3.1 uses it). Anything else is a problem, so an undocumented status or a body that
 * does not match fails the caller's test.
 *
 * Two broker-specific extensions stand in for what OpenAPI cannot say: `x-other-methods` on a
 * path item (the answer to a method the path does not serve) and `x-other-paths` at the root
 * (the answer to a path the broker does not serve).
 *
 * Usage: `const spec = await OpenApiSpec.load(); spec.expectMatches('POST', url, answer)`.
 * `spec.seen` records each (operation, status) checked, for coverage checks.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dereference } from '@readme/openapi-parser';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

export const OPENAPI_FILE = join(__dirname, '..', '..', 'docs', 'openapi.yaml');

/** Methods OpenAPI path items can hold. */
export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Headers that mean something to a client: a response that sends one must document it. */
export const SIGNIFICANT_HEADERS = [
  'allow', 'cache-control', 'pragma', 'location', 'set-cookie', 'retry-after', 'www-authenticate', 'referrer-policy', 'x-request-id',
  'access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods',
  'access-control-allow-headers', 'access-control-max-age', 'access-control-expose-headers',
];

/** What the checker needs of an answer: fetch's Response after `.text()`, or test/helpers/http.ts's Answer. */
export interface ObservedResponse {
  status: number;
  headers: Headers;
  text: string;
}

interface SchemaHolder { schema?: Record<string, unknown> }
interface HeaderObject extends SchemaHolder { required?: boolean }
interface ResponseObject {
  headers?: Record<string, HeaderObject>;
  content?: Record<string, SchemaHolder>;
}
interface Responses { [status: string]: ResponseObject }
interface PathItem { [key: string]: unknown }

/** Where an answer was looked up: `POST /token`, `* /token` (x-other-methods), `* *` (x-other-paths). */
export interface Lookup {
  operation: string;
  responses: Responses;
}

export class OpenApiSpec {
  /** `operation status` pairs checked so far, e.g. `POST /token 200`. */
  readonly seen = new Set<string>();
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<object, ValidateFunction>();
  private readonly matchers: Array<{ template: string; pattern: RegExp }>;

  private constructor(readonly document: Record<string, unknown>) {
    this.ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
    addFormats(this.ajv);
    this.ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
    this.matchers = Object.keys(this.paths()).map((template) => ({
      template,
      pattern: new RegExp(`^${template.split(/\{[^}]+\}/).map(escapeRegExp).join('[^/]+')}$`),
    }));
  }

  /** The document with every `$ref` resolved (offline: it has local references only). */
  static async load(file = OPENAPI_FILE): Promise<OpenApiSpec> {
    return OpenApiSpec.fromDocument(parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>);
  }

  static async fromDocument(document: Record<string, unknown>): Promise<OpenApiSpec> {
    const resolved = await dereference(structuredClone(document) as never) as unknown as Record<string, unknown>;
    return new OpenApiSpec(resolved);
  }

  /** The responses documented for `method` on `path` (a request path, query ignored). */
  lookUp(method: string, path: string): Lookup {
    const pathname = new URL(path, 'http://broker.invalid').pathname;
    const verb = method.toLowerCase();
    const match = this.matchers.find((m) => m.pattern.test(pathname));
    if (!match) return { operation: '* *', responses: responsesOf(this.document['x-other-paths']) };
    const item = this.paths()[match.template] as PathItem;
    const operation = (HTTP_METHODS as readonly string[]).includes(verb) ? item[verb] : undefined;
    if (operation) return { operation: `${method.toUpperCase()} ${match.template}`, responses: responsesOf(operation) };
    return { operation: `* ${match.template}`, responses: responsesOf(item['x-other-methods']) };
  }

  /** Every problem with `answer` as the answer to `method url`; empty when it matches the document. */
  check(method: string, url: string, answer: ObservedResponse): string[] {
    const { operation, responses } = this.lookUp(method, url);
    const where = `${method.toUpperCase()} ${new URL(url, 'http://broker.invalid').pathname} → ${answer.status} (${operation})`;
    const response = responses[String(answer.status)];
    if (!response) return [`${where}: status ${answer.status} is not documented (documented: ${Object.keys(responses).join(', ') || 'none'})`];
    this.seen.add(`${operation} ${answer.status}`);
    return [...this.headerProblems(response, answer), ...this.bodyProblems(method, response, answer)].map((p) => `${where}: ${p}`);
  }

  /** Throws with every problem listed when `answer` does not match the document. */
  expectMatches(method: string, url: string, answer: ObservedResponse): void {
    const problems = this.check(method, url, answer);
    if (problems.length > 0) throw new Error(`the answer does not match docs/openapi.yaml:\n  ${problems.join('\n  ')}\nbody: ${answer.text.slice(0, 500)}`);
  }

  /** Every `operation status` the document lists, in the form `seen` records. */
  documented(): string[] {
    const keys: string[] = [];
    for (const [template, item] of Object.entries(this.paths())) {
      for (const method of HTTP_METHODS) {
        const op = (item as PathItem)[method];
        if (op) keys.push(...Object.keys(responsesOf(op)).map((status) => `${method.toUpperCase()} ${template} ${status}`));
      }
      keys.push(...Object.keys(responsesOf((item as PathItem)['x-other-methods'])).map((status) => `* ${template} ${status}`));
    }
    keys.push(...Object.keys(responsesOf(this.document['x-other-paths'])).map((status) => `* * ${status}`));
    return keys;
  }

  /** The path items, keyed by template. */
  paths(): Record<string, PathItem> {
    return (this.document.paths ?? {}) as Record<string, PathItem>;
  }

  private headerProblems(response: ResponseObject, answer: ObservedResponse): string[] {
    const problems: string[] = [];
    const documented = new Map(Object.entries(response.headers ?? {}).map(([name, header]) => [name.toLowerCase(), header]));
    for (const [name, header] of documented) {
      const values = headerValues(answer.headers, name);
      if (values.length === 0) {
        if (header.required) problems.push(`required header ${name} is missing`);
        continue;
      }
      const validate = header.schema && this.validator(header.schema);
      for (const value of values) {
        if (validate && !validate(value)) problems.push(`header ${name}: ${JSON.stringify(value)} ${this.ajv.errorsText(validate.errors, { dataVar: 'value' })}`);
      }
    }
    for (const name of SIGNIFICANT_HEADERS) {
      if (!documented.has(name) && answer.headers.has(name)) problems.push(`header ${name} is sent but not documented for this response`);
    }
    return problems;
  }

  private bodyProblems(method: string, response: ResponseObject, answer: ObservedResponse): string[] {
    const content = response.content ?? {};
    const mediaTypes = Object.keys(content);
    const contentType = answer.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
    if (mediaTypes.length === 0) {
      return answer.text === '' ? [] : [`no body is documented, but one was sent (${contentType ?? 'no content type'})`];
    }
    if (!contentType || !mediaTypes.includes(contentType)) return [`content type ${contentType ?? '(none)'} is not documented (${mediaTypes.join(', ')})`];
    if (method.toUpperCase() === 'HEAD') return answer.text === '' ? [] : ['a HEAD answer has a body'];
    const schema = content[contentType]?.schema;
    if (!schema) return [];
    let body: unknown;
    try {
      body = JSON.parse(answer.text);
    } catch {
      return [`the body is not JSON: ${answer.text.slice(0, 100)}`];
    }
    const validate = this.validator(schema);
    return validate(body) ? [] : [`body: ${this.ajv.errorsText(validate.errors, { dataVar: 'body' })}`];
  }

  private validator(schema: Record<string, unknown>): ValidateFunction {
    let validate = this.validators.get(schema);
    if (!validate) {
      validate = this.ajv.compile(schema);
      this.validators.set(schema, validate);
    }
    return validate;
  }
}

function responsesOf(holder: unknown): Responses {
  return ((holder as { responses?: Responses } | undefined)?.responses ?? {});
}

/** A header's values: each `Set-Cookie` line on its own (each must match), any other header as fetch combines it. */
function headerValues(headers: Headers, name: string): string[] {
  if (name === 'set-cookie') return headers.getSetCookie();
  const value = headers.get(name);
  return value === null ? [] : [value];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
