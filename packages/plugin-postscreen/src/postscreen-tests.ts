/**
 * postscreen's tests and their state (postscreen_tests.c): five tests, each
 * with an expiration time that the temporary allowlist (postscreen_cache_map)
 * keeps per client address as "pregr;dnsbl;pipel;nsmtp;barlf" in seconds
 * since the epoch (0: never passed, 1: never passed but disabled), and per
 * session the flags todo/pass/fail/skip/done of each test.
 */

export const TESTS = ['pregr', 'dnsbl', 'pipel', 'nsmtp', 'barlf'] as const;
export type TestName = (typeof TESTS)[number];
export const EARLY: readonly TestName[] = ['pregr', 'dnsbl'];
export const DEEP: readonly TestName[] = ['pipel', 'nsmtp', 'barlf'];

/** PSC_TIME_STAMP_NEW and _DISABLED. */
export const STAMP_NEW = 0;
export const STAMP_DISABLED = 1;

export type ExpireTimes = Record<TestName, number>;

export interface TestFlags {
  todo: boolean;
  pass: boolean;
  fail: boolean;
  skip: boolean;
  done: boolean;
}

export type SessionTests = Record<TestName, TestFlags>;

export const newExpireTimes = (): ExpireTimes => ({ pregr: STAMP_NEW, dnsbl: STAMP_NEW, pipel: STAMP_NEW, nsmtp: STAMP_NEW, barlf: STAMP_NEW });

export const noFlags = (): SessionTests =>
  Object.fromEntries(TESTS.map((t) => [t, { todo: false, pass: false, fail: false, skip: false, done: false }])) as SessionTests;

/** "t1;t2;t3;t4;t5" -> expiration times, or undefined when malformed. */
export function parseStamps(text: string): ExpireTimes | undefined {
  const parts = text.split(';');
  if (parts.length !== TESTS.length || parts.some((p) => !/^\d+$/.test(p))) return undefined;
  return Object.fromEntries(TESTS.map((t, i) => [t, Number(parts[i])])) as ExpireTimes;
}

/** psc_print_tests: never-passed tests of disabled kinds are saved as disabled. */
export function printStamps(times: ExpireTimes, enabled: Readonly<Record<TestName, boolean>>): string {
  return TESTS.map((t) => (!enabled[t] && times[t] === STAMP_NEW ? STAMP_DISABLED : times[t])).join(';');
}

/** psc_todo_tests: which enabled tests have expired at `now` (seconds). `isNew`: some test was never passed. */
export function todoTests(times: ExpireTimes, enabled: Readonly<Record<TestName, boolean>>, now: number): { tests: SessionTests; isNew: boolean } {
  const tests = noFlags();
  let isNew = false;
  for (const t of TESTS) {
    if (times[t] === STAMP_NEW) isNew = true;
    if (enabled[t] && now > times[t]) tests[t].todo = true;
  }
  return { tests, isNew };
}

export const anyFail = (s: SessionTests) => TESTS.some((t) => s[t].fail);
export const anyPass = (s: SessionTests) => TESTS.some((t) => s[t].pass);
export const anyTodo = (s: SessionTests, among: readonly TestName[] = TESTS) => among.some((t) => s[t].todo);
/** Every test to do has passed (PSC_STATE_FLAGS_TODO_TO_PASS). */
export const allTodoPassed = (s: SessionTests, among: readonly TestName[] = TESTS) => among.every((t) => !s[t].todo || s[t].pass);
