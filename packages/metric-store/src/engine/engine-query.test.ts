import { describe, expect, it } from 'vitest';
import { engineQuery } from './engine-query.ts';

describe('engineQuery', () => {
  it('wraps the functions whose names the engine keeps, but not under an aggregation that drops them anyway', () => {
    const cases: [string, string][] = [
      ['max_over_time(x{a="b"}[5m] @ start())', 'label_del(max_over_time(x{a="b"}[5m] @ start()), "__name__")'],
      ['round(clamp_min(x, 1)) > 3', 'label_del(round(label_del(clamp_min(x, 1), "__name__")), "__name__") > 3'],
      ['topk(3, round(x))', 'topk(3, label_del(round(x), "__name__"))'],
      ['sum by (__name__) (round(x, 5))', 'sum by (__name__) (label_del(round(x, 5), "__name__"))'],
      ['sum(max_over_time(x[5m]))', 'sum(max_over_time(x[5m]))'],
      ['sum without (job) (min_over_time(x[1m]))', 'sum without (job) (min_over_time(x[1m]))'],
      ['rate(x[1m]) + last_over_time(y[1m])', 'rate(x[1m]) + last_over_time(y[1m])'],
    ];
    for (const [promql, asked] of cases) expect(engineQuery(promql).expr, promql).toBe(asked);
  });

  it("asks for the engine's Prometheus-counting changes", () => {
    const cases: [string, string][] = [
      ['changes(x[5m])', 'changes_prometheus(x[5m])'],
      ['sum(changes(x[5m])) > 2', 'sum(changes_prometheus(x[5m])) > 2'],
      ['round(changes(x[5m]))', 'label_del(round(changes_prometheus(x[5m])), "__name__")'],
    ];
    for (const [promql, asked] of cases) expect(engineQuery(promql).expr, promql).toBe(asked);
  });

  it("asks rate, increase and delta of a range selector as Prometheus computes them with rates: 'prometheus' (values: prometheus-rates.test.ts)", () => {
    const asked = engineQuery('sum(rate(x{a="b"}[5m] offset 1m)) / sum(increase(x{a="b"}[5m] offset 1m)) + delta(y[1m] @ end())', { rates: 'prometheus' }).expr;
    // Each function's template once, whatever the number of calls; the calls in their places.
    expect(asked.match(/__tmon_increase\(__s, __e, __r\) = /g)).toHaveLength(1);
    expect(asked.match(/__tmon_delta\(__s, __e, __r\) = /g)).toHaveLength(1);
    expect(asked).toMatch(
      /\) sum\(\(__tmon_increase\(x\{a="b"\}\[5m\] offset 1m, round\(time\(\) \* 1000\) - \(60000\), 300000\) \/ 300\)\) \/ sum\(__tmon_increase\(x\{a="b"\}\[5m\] offset 1m, round\(time\(\) \* 1000\) - \(60000\), 300000\)\) \+ __tmon_delta\(y\[1m\] @ end\(\), round\(end\(\) \* 1000\) - \(0\), 60000\)$/,
    );
    expect(engineQuery('increase(x[5m])', { rates: 'prometheus' }).expr).not.toContain('__tmon_delta');
    // A subquery's rate, and everything with the engine's semantics, stay as written.
    expect(engineQuery('rate(x[5m:1m])', { rates: 'prometheus' }).expr).toBe('rate(x[5m:1m])');
    expect(engineQuery('rate(x[5m])').expr).toBe('rate(x[5m])');
  });

  it("lengthens every range and subquery by a millisecond with windowStart: 'included', and nothing else (values: prometheus-api.test.ts)", () => {
    const included = { windowStart: 'included' } as const;
    const cases: [string, string][] = [
      ['count_over_time(sum(x)[1m:5s])', 'count_over_time(sum(x)[60001ms:5s])'],
      ['max_over_time(rate(x[30s])[2m:] offset 1m)', 'label_del(max_over_time(rate(x[30001ms])[120001ms:1m] offset 1m), "__name__")'],
      ['sum_over_time(x[1h30m] @ end()) > bool 2', 'sum_over_time(x[5400001ms] @ end()) > bool 2'],
      ['x offset 5m', 'x offset 5m'],
    ];
    for (const [promql, asked] of cases) expect(engineQuery(promql, included).expr, promql).toBe(asked);
    expect(engineQuery('count_over_time(sum(x)[1m:5s])').expr).toBe('count_over_time(sum(x)[1m:5s])');
    // Prometheus' rates select the longer window, and extrapolate over the range as written.
    expect(engineQuery('rate(x[5m] offset 1m)', { rates: 'prometheus', windowStart: 'included' }).expr).toMatch(/ \(__tmon_increase\(x\[300001ms\] offset 1m, round\(time\(\) \* 1000\) - \(60000\), 300000\) \/ 300\)$/);
  });

  it("gives a subquery without a step Prometheus' default one, a minute, not the query's step", () => {
    expect(engineQuery('count_over_time(vector(1)[10m:])').expr).toBe('count_over_time(vector(1)[10m:1m])');
    expect(engineQuery('max_over_time(rate(x[5m])[1h:] offset 5m)').expr).toBe('label_del(max_over_time(rate(x[5m])[1h:1m] offset 5m), "__name__")');
    expect(engineQuery('x[10m:30s]').expr).toBe('x[10m:30s]');
  });

  it('flags the expressions of scalar type', () => {
    for (const expr of ['time()', '-(1 + time())', 'scalar(sum(x)) * 2', '1 > bool 2', 'pi()']) expect(engineQuery(expr).scalar, expr).toBe(true);
    for (const expr of ['x', 'scalar(sum(x)) * x', 'vector(1)', 'sum(x)', 'x[5m]']) expect(engineQuery(expr).scalar, expr).toBe(false);
  });

  it('gives a string literal’s value, read as Go reads its quotes, and flags range vectors', () => {
    expect(engineQuery('"foo"').string).toBe('foo');
    expect(engineQuery(String.raw`("a\"b\n\x41\u00e9")`).string).toBe('a"b\nAé');
    expect(engineQuery("'it\\'s'").string).toBe("it's");
    expect(engineQuery('`raw\\n`').string).toBe('raw\\n');
    expect(engineQuery('label_replace(x, "a", "b", "c", "d")').string).toBeUndefined();
    for (const expr of ['x[5m]', '(rate(x[5m])[1h:])']) expect(engineQuery(expr).rangeVector, expr).toBe(true);
    for (const expr of ['x', 'rate(x[5m])', '"foo"']) expect(engineQuery(expr).rangeVector, expr).toBeUndefined();
  });

  it('leaves what is not PromQL to the engine as written', () => {
    for (const expr of ['WITH (a = round(x)) a', 'round(x', 'rate(x)']) expect(engineQuery(expr)).toEqual({ expr, scalar: false });
    for (const expr of ['rate(x{a=}[5m])', 'increase(x[5m] offset)']) expect(engineQuery(expr, { rates: 'prometheus' })).toEqual({ expr, scalar: false });
  });
});
