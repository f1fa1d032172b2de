/**
 * Trace context for audit entries, from W3C `traceparent` or Google's
 * `X-Cloud-Trace-Context`: parsed strictly, a malformed header ignored (never an error), and
 * `traceparent` first when both are valid.
 */
import { parseTraceContext } from '../../shared/audit/trace-context';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('traceparent', () => {
  it.each([
    ['00', false],
    ['01', true],
    ['02', false],
    ['03', true],
    ['ff', true],
  ])('reads trace id, span id and the sampled bit (flags %s)', (flags, sampled) => {
    expect(parseTraceContext({ traceparent: `00-${TRACE}-${SPAN}-${flags}` })).toEqual({ traceId: TRACE, spanId: SPAN, sampled });
  });

  it('ignores surrounding whitespace', () => {
    expect(parseTraceContext({ traceparent: ` 00-${TRACE}-${SPAN}-01\t` })?.traceId).toBe(TRACE);
  });

  it.each([
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['an all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['another version', `01-${TRACE}-${SPAN}-01`],
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['a short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`],
    ['a long span id', `00-${TRACE}-${SPAN}0-01`],
    ['a trailing field', `00-${TRACE}-${SPAN}-01-extra`],
    ['a newline inside', `00-${TRACE}\n-${SPAN}-01`],
    ['an empty string', ''],
    ['a "__proto__"', '__proto__'],
  ])('ignores %s', (_, traceparent) => {
    expect(parseTraceContext({ traceparent })).toBeUndefined();
  });

  it('wins over X-Cloud-Trace-Context when valid, and gives way to it when not', () => {
    const cloudTrace = `${'a'.repeat(32)}/1;o=1`;
    expect(parseTraceContext({ traceparent: `00-${TRACE}-${SPAN}-00`, cloudTrace })?.traceId).toBe(TRACE);
    expect(parseTraceContext({ traceparent: `00-${'0'.repeat(32)}-${SPAN}-00`, cloudTrace })?.traceId).toBe('a'.repeat(32));
  });
});

describe('X-Cloud-Trace-Context', () => {
  it.each([
    [`${TRACE}/123;o=1`, { traceId: TRACE, spanId: '000000000000007b', sampled: true }],
    [`${TRACE}/123;o=0`, { traceId: TRACE, spanId: '000000000000007b', sampled: false }],
    [`${TRACE}/123`, { traceId: TRACE, spanId: '000000000000007b', sampled: undefined }],
    [TRACE, { traceId: TRACE, spanId: undefined, sampled: undefined }],
    [`${TRACE.toUpperCase()};o=1`, { traceId: TRACE, spanId: undefined, sampled: true }],
    [`${TRACE}/18446744073709551615`, { traceId: TRACE, spanId: 'ffffffffffffffff', sampled: undefined }],
  ])('reads %j', (cloudTrace, context) => {
    expect(parseTraceContext({ cloudTrace })).toEqual(context);
  });

  it('keeps a span id of 20 digits beyond 64 bits to 16 hex digits', () => {
    expect(parseTraceContext({ cloudTrace: `${TRACE}/99999999999999999999` })?.spanId).toMatch(/^[0-9a-f]{16}$/);
  });

  it.each([
    ['a span id of 21 digits', `${TRACE}/${'9'.repeat(21)}`],
    ['a hex span id', `${TRACE}/7b`],
    ['o=2', `${TRACE}/1;o=2`],
    ['a short trace id', `${TRACE.slice(1)}/1`],
    ['a non-hex trace id', `${'g'.repeat(32)}/1`],
    ['anything after the options', `${TRACE}/1;o=1;x=1`],
    ['an empty string', ''],
  ])('ignores %s', (_, cloudTrace) => {
    expect(parseTraceContext({ cloudTrace })).toBeUndefined();
  });
});
