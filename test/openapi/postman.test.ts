/**
 * dev/export-postman.ts turns docs/openapi.yaml into a Postman collection with one request for
 * every documented operation (both token paths included), in memory: nothing is written.
 */
import { HTTP_METHODS, OpenApiSpec } from './check-response';
import { openApiToPostman, postmanRequests } from '../../dev/export-postman';

it('converts the document into a collection with a request for every operation of every path', async () => {
  const spec = await OpenApiSpec.load();
  const collection = await openApiToPostman();
  expect(collection.info.name).toBe('token-broker');
  expect(collection.info.schema).toMatch(/collection\/v2\.1\.0/);
  const documented = Object.entries(spec.paths()).flatMap(([path, item]) =>
    HTTP_METHODS.filter((method) => item[method] !== undefined).map((method) => `${method.toUpperCase()} ${path}`));
  expect(documented.length).toBeGreaterThanOrEqual(13);
  expect(postmanRequests(collection).sort()).toEqual(documented.sort());
});

it('sets baseUrl when asked', async () => {
  const collection = await openApiToPostman(undefined, 'http://127.0.0.1:8080/');
  expect(collection.variable).toContainEqual({ key: 'baseUrl', value: 'http://127.0.0.1:8080' });
});
