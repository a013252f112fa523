// The fixtures that Python wrote for these tests (tests/explorer/test_page_maths.py: torch's and our Python's own
// answers), read from the folder GE_JS_FIXTURES names. JSON has no ∞ or NaN: Python writes them as strings.
import {readFileSync} from 'node:fs';
import {join} from 'node:path';

const special = {Infinity, '-Infinity': -Infinity, NaN};
export const fixture = name => {
  const dir = process.env.GE_JS_FIXTURES;
  if (!dir) throw new Error('GE_JS_FIXTURES is not set: run these through tests/explorer/test_page_maths.py');
  return JSON.parse(readFileSync(join(dir, name), 'utf8'), (k, v) => (typeof v === 'string' && v in special ? special[v] : v));
};
export const file = name => readFileSync(join(process.env.GE_JS_FIXTURES, name));

// within `rel` relative (plus `abs`); equal infinities are equal
export const close = (got, want, rel = 1e-9, abs = 1e-13) =>
  (Number.isFinite(want) ? Math.abs(got - want) <= rel * Math.abs(want) + abs : Object.is(got, want));
