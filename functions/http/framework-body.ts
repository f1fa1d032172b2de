/**
 * Takes over the Functions Framework's body parsing. Before any function code runs, the framework
 * parses every request with body-parser: JSON, text, extended (qs) forms and raw bytes, each with
 * a 1024 MB limit, inflating gzip, deflate and br on the way. For the broker that is all cost and
 * no use: the token handler reads only the raw bytes, strictly (form-params.ts). And it is a hazard:
 * a 200 KB gzip bomb grew an instance by about 630 MB before the handler could refuse it. Malformed
 * JSON, unknown charsets or encodings, and deep qs nesting were answered by express's HTML error
 * page rather than an RFC 6749 error.
 *
 * So the framework's parsers are replaced, once, before it builds its server (it looks them up on
 * body-parser's exports when it does): the JSON, text and form parsers are switched off, and the raw
 * parser keeps the bytes (`req.rawBody`) up to the broker's body cap, inflating nothing. A body it
 * refuses (too large, encoded, aborted) is remembered for the handler, which answers it in RFC 6749
 * form. test/security/token-request.int.test.ts proves both the memory bound and the error form; it
 * fails if the framework stops looking the parsers up this way.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
type ParserFactory = (options?: Record<string, unknown>) => Middleware;
interface BodyParserModule {
  json: ParserFactory;
  text: ParserFactory;
  urlencoded: ParserFactory;
  raw: ParserFactory;
}

/** What the raw parser refused, by body-parser's error `type`. */
export interface BodyFailure {
  type: string;
  status: number;
}

const failures = new WeakMap<IncomingMessage, BodyFailure>();
let installedLimit: number | undefined;

const skip: Middleware = (_req, _res, next) => next();

/** Replaces the framework's body parsers (idempotent). Call before the framework builds its server. */
export function takeOverFrameworkBodyParsing(limitBytes: number): void {
  if (installedLimit !== undefined) {
    if (installedLimit !== limitBytes) throw new Error(`framework body parsing already bounded at ${installedLimit} bytes`);
    return;
  }
  const frameworkRequire = createRequire(require.resolve('@google-cloud/functions-framework'));
  const bodyParser = frameworkRequire('body-parser') as BodyParserModule;
  const raw = bodyParser.raw;
  bodyParser.json = () => skip;
  bodyParser.text = () => skip;
  bodyParser.urlencoded = () => skip;
  bodyParser.raw = (options = {}) => {
    const parser = raw({ ...options, limit: limitBytes, inflate: false });
    return (req, res, next) =>
      parser(req, res, (err?: unknown) => {
        if (err) failures.set(req, describe(err));
        next();
      });
  };
  installedLimit = limitBytes;
}

/** The raw parser's refusal of this request's body, if it refused it. */
export function frameworkBodyFailure(req: IncomingMessage): BodyFailure | undefined {
  return failures.get(req);
}

function describe(err: unknown): BodyFailure {
  const { type, status } = (err ?? {}) as { type?: unknown; status?: unknown };
  return { type: typeof type === 'string' ? type : 'unknown', status: typeof status === 'number' ? status : 400 };
}
