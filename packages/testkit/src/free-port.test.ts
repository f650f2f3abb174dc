import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freePort } from './free-port.ts';

describe('freePort', () => {
  it('never hands one port out twice, in one process or to another, while servers are still starting', async () => {
    // 300 draws from ~22,000 ports repeated one with a likelihood of about 87 % when each draw only checked the
    // port was bindable.
    const here: number[] = [];
    for (let i = 0; i < 300; i++) here.push(await freePort());
    expect(new Set(here).size).toBe(300);
    // Another test process drawing at the same time: none of its ports is one of ours.
    const script = "(async () => { const { freePort } = await import('./packages/testkit/src/free-port.ts'); const out = []; for (let i = 0; i < 100; i++) out.push(await freePort()); process.stdout.write(JSON.stringify(out)); })();";
    const there = JSON.parse(execFileSync('npx', ['tsx', '--eval', script], { cwd: new URL('../../..', import.meta.url).pathname, encoding: 'utf8' })) as number[];
    expect(there).toHaveLength(100);
    expect(there.filter((port) => here.includes(port))).toEqual([]);
  });
});
