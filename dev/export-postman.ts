/**
 * Exports docs/openapi.yaml as a Postman collection (v2.1), one folder per tag, with a
 * `baseUrl` collection variable. The collection is generated, never committed.
 *
 *   tsx dev/export-postman.ts                       the collection on stdout
 *   tsx dev/export-postman.ts OUT.json              written to OUT.json
 *   tsx dev/export-postman.ts --base-url URL [OUT]  `baseUrl` set to URL (default: the document's first server)
 *
 * The document is dereferenced first (@readme/openapi-parser), so the converter sees no
 * `$ref` (the two token paths share one path item).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dereference } from '@readme/openapi-parser';
import { convertV2 } from 'openapi-to-postmanv2';
import { parse as parseYaml } from 'yaml';

export const OPENAPI_FILE = join(__dirname, '..', 'docs', 'openapi.yaml');

/** Conversion options (openapi-to-postmanv2's OPTIONS.md): folders by tag, values from the document's examples, optional parameters present but disabled. */
const CONVERSION_OPTIONS = { folderStrategy: 'Tags', parametersResolution: 'Example', includeAuthInfoInExample: true, enableOptionalParameters: false } as const;

export interface PostmanItem {
  name: string;
  item?: PostmanItem[];
  request?: { method: string; url: { raw?: string; path?: string[] } | string };
}

export interface PostmanCollection {
  info: { name: string; schema: string };
  item: PostmanItem[];
  variable?: Array<{ key: string; value: string }>;
}

/** The collection for the OpenAPI document in `file`, with `baseUrl` set to `baseUrl` when given. */
export async function openApiToPostman(file = OPENAPI_FILE, baseUrl?: string): Promise<PostmanCollection> {
  const document = await dereference(parseYaml(readFileSync(file, 'utf8')) as never);
  const collection = await new Promise<PostmanCollection>((resolve, reject) => {
    convertV2({ type: 'json', data: document as never }, CONVERSION_OPTIONS, (err, result) => {
      if (err) return reject(err);
      if (!result?.result) return reject(new Error(`conversion failed: ${result?.reason ?? 'no reason given'}`));
      const output = result.output?.[0];
      if (output?.type !== 'collection') return reject(new Error('the converter returned no collection'));
      resolve(output.data as PostmanCollection);
    });
  });
  if (baseUrl !== undefined) {
    collection.variable = [...(collection.variable ?? []).filter((v) => v.key !== 'baseUrl'), { key: 'baseUrl', value: baseUrl.replace(/\/+$/, '') }];
  }
  return collection;
}

/** Every request in the collection, folders flattened: `METHOD /path`. */
export function postmanRequests(collection: Pick<PostmanCollection, 'item'>): string[] {
  const walk = (items: PostmanItem[]): string[] => items.flatMap((item) => {
    if (item.item) return walk(item.item);
    if (!item.request) return [];
    const url = item.request.url;
    const path = typeof url === 'string' ? url.replace(/^\{\{baseUrl\}\}/, '') : `/${(url.path ?? []).join('/')}`;
    return [`${item.request.method} ${path.split('?')[0]}`];
  });
  return walk(collection.item);
}

async function main(argv: string[]): Promise<void> {
  const args = [...argv];
  let baseUrl: string | undefined;
  const at = args.indexOf('--base-url');
  if (at >= 0) {
    baseUrl = args[at + 1];
    if (!baseUrl) throw new Error('--base-url needs a URL');
    args.splice(at, 2);
  }
  if (args.length > 1 || args.some((a) => a.startsWith('-'))) throw new Error('usage: export-postman [--base-url URL] [OUT.json]');
  const json = `${JSON.stringify(await openApiToPostman(OPENAPI_FILE, baseUrl), null, 2)}\n`;
  const out = args[0];
  if (out === undefined) process.stdout.write(json);
  else {
    writeFileSync(out, json);
    process.stderr.write(`wrote ${out}\n`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`export-postman: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
