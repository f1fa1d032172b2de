/** `admin deny`'s command lines: what it refuses before it reads any configuration or touches Firestore. */
import { denyCommand, DenyUsageError } from '../../cli/deny';

const io = { out: () => undefined, err: () => undefined };
const NOW = Date.parse('2026-12-06T12:00:00Z');

it.each([
  [['add', '--client', 'x'], /needs --reason/],
  [['add', '--reason', 'r'], /exactly one of/],
  [['add', '--client', 'x', '--rule', 'y', '--reason', 'r'], /exactly one of/],
  [['add', '--subject', 'only-issuer'], /two values/],
  [['add', '--subject', 'i', '', '--reason', 'r'], /two values/],
  [['add', '--claim', 'novalue', '--reason', 'r'], /NAME=VALUE/],
  [['add', '--claim', '=v', '--reason', 'r'], /NAME=VALUE/],
  [['add', '--rule', 'r', '--reason', 'r', '--for', '2 hours'], /--for takes a duration/],
  [['add', '--rule', 'r', '--reason', 'r', '--for', '367d'], /at most 366d/],
  [['add', '--rule', 'r', '--reason', 'r', '--for', '0s'], /--for takes a duration/],
  [['add', '--rule', 'r', '--reason', 'r', '--expires', '2026-12-06T11:59:59Z'], /in the past/],
  [['add', '--rule', 'r', '--reason', 'r', '--expires', '2026-12-07'], /ISO 8601 time with a zone/],
  [['add', '--rule', 'r', '--reason', 'r', '--for', '1h', '--expires', '2027-01-01T00:00:00Z'], /not both/],
  [['add', '--rule', 'r', '--reason', 'r', '--revoke-sessions'], /needs --subject/],
  [['add', '--rule', 'r', '--reason', 'r', '--rule', 'q'], /given twice/],
  [['add', '--rule', 'r', '--reason', 'line\nbreak'], /reason: holds a control character/],
  [['add', '--rule', 'r', '--reason', 'x'.repeat(513)], /reason: longer than 512/],
  [['add', '--policy-version', 'ABC', '--reason', 'r'], /64 lowercase hex/],
  [['add', '--rule', 'r', '--reason', 'r', '--frob'], /unknown option --frob/],
  [['list', '--csv'], /unknown option --csv/],
  [['remove'], /one entry id/],
  [['remove', 'a', 'b'], /one entry id/],
  [['remove', 'a/b'], /letters, digits/],
  [['frobnicate'], /three subcommands/],
  [[], /needs a subcommand/],
])('refuses %j', async (args, message) => {
  await expect(denyCommand(args, {}, io, () => NOW)).rejects.toThrow(expect.objectContaining({ constructor: DenyUsageError, message: expect.stringMatching(message) }));
});
