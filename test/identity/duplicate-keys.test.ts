import { hasDuplicateKeys } from '../../shared/identity/duplicate-keys';

it.each([
  ['{"a":1,"a":2}', true],
  ['{"sub":"alice","x":{"y":1},"sub":"admin"}', true],
  ['{"a":{"b":1,"b":2}}', true],
  ['{"a":[{"b":1},{"b":2}]}', false],
  ['{"a":"\\"a\\"","\\"a\\"":1}', false],
  ['{"a":1,"\\u0061":2}', true],
  ['{"a":["a","a"],"b":{"a":1}}', false],
  ['{"__proto__":1,"__proto__":2}', true],
  ['[{"a":1},{"a":1}]', false],
  ['{}', false],
])('%s → %s', (json, expected) => {
  expect(hasDuplicateKeys(json)).toBe(expected);
});
