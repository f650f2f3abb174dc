import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = import.meta.dirname;
const scripts = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.lua'));
/** Commands the scripts call that take no key. */
const KEYLESS = new Set(['TIME', 'PUBLISH']);

describe('the alert-manager’s Redis scripts', () => {
  it('are found', () => {
    expect(scripts.length).toBeGreaterThanOrEqual(9);
  });

  for (const file of scripts) {
    it(`${file} touches only keys it was given in KEYS, as Redis asks of a script (a cluster routes by them)`, () => {
      const lua = readFileSync(join(SRC, file), 'utf8').replace(/--.*$/gm, '');
      // Locals that hold a KEYS entry (`local key = KEYS[1]`) name a declared key too, and so does the parameter
      // `key` of alert-transition.lua's functions, which every script that runs them passes KEYS[1].
      const declared = new Set(['key', ...[...lua.matchAll(/local (\w+) = KEYS\[\d+\]\s*$/gm)].map((m) => m[1]!)]);
      const calls = [...lua.matchAll(/redis\.call\('(\w+)'(?:,\s*([^,)]+))?/g)];
      for (const [call, command, key] of calls) {
        if (KEYLESS.has(command!)) continue;
        expect(/^KEYS\[\d+\]$/.test(key!.trim()) || declared.has(key!.trim()), `${file}: ${call}`).toBe(true);
      }
    });
  }
});
