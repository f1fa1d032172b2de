/** A scripted stand-in for the broker's fetch: records every request, answers from a script. Unit tests only (no sockets). */
export interface Recorded {
  url: string;
  init: RequestInit;
  headers: Headers;
  form: URLSearchParams;
}

export type Answer = Response | Error | ((request: Recorded) => Response | Error | Promise<Response | Error>);

export interface FakeFetch {
  fetch: typeof fetch;
  requests: Recorded[];
  /** Answers used in order; the last one repeats. */
  script: Answer[];
}

export function fakeFetch(...script: Answer[]): FakeFetch {
  const requests: Recorded[] = [];
  const fake: FakeFetch = {
    requests,
    script,
    fetch: (async (input: RequestInfo | URL, init: RequestInit = {}) => {
      const recorded: Recorded = { url: String(input), init, headers: new Headers(init.headers), form: new URLSearchParams(typeof init.body === 'string' ? init.body : '') };
      const index = requests.push(recorded) - 1;
      const step = fake.script[Math.min(index, fake.script.length - 1)];
      if (step === undefined) throw new Error('fake fetch: no answer scripted');
      const answer = typeof step === 'function' ? await step(recorded) : step;
      if (answer instanceof Error) throw answer;
      return answer.clone();
    }) as typeof fetch,
  };
  return fake;
}

export function tokenAnswer(accessToken = 'ya29.first', expiresIn = 900, extra: Record<string, unknown> = {}): Response {
  return Response.json(
    { access_token: accessToken, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: expiresIn, scope: 'https://www.googleapis.com/auth/cloud-platform', ...extra },
    { headers: { 'cache-control': 'no-store' } },
  );
}

export function errorAnswer(status: number, error: string, description: string, headers: Record<string, string> = {}): Response {
  return Response.json({ error, error_description: description }, { status, headers });
}

/** fetch's own failure for an unreachable host. */
export function networkError(): TypeError {
  return new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
}

/** A clock whose sleeps only record and advance time: the retry schedule without waiting. */
export function recordingClock(start = 1_800_000_000_000) {
  const sleeps: number[] = [];
  let now = start;
  return {
    sleeps,
    advance: (ms: number) => {
      now += ms;
    },
    clock: {
      now: () => now,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        now += ms;
      },
    },
  };
}

export const BROKER = 'https://broker.example.test';
