import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { parseMatcherArg } from './matcher-args.ts';

describe('silence matchers', () => {
  it('reads the four operators and strips double quotes', () => {
    expect(parseMatcherArg('alertname=HighCpu')).toEqual({ tag: 'alertname', op: '=', value: 'HighCpu' });
    expect(parseMatcherArg('job!=api')).toEqual({ tag: 'job', op: '!=', value: 'api' });
    expect(parseMatcherArg('host=~"web-.*"')).toEqual({ tag: 'host', op: '=~', value: 'web-.*' });
    expect(parseMatcherArg('env!~prod|stage')).toEqual({ tag: 'env', op: '!~', value: 'prod|stage' });
  });

  it('refuses text without an operator', () => {
    expect(() => parseMatcherArg('HighCpu')).toThrow(InvalidArgumentError);
  });

  it('passes a regex on as written: the gateway checks it as RE2, which is not JavaScript syntax', () => {
    expect(parseMatcherArg('host=~"(?i)web-.*"')).toEqual({ tag: 'host', op: '=~', value: '(?i)web-.*' });
    expect(parseMatcherArg('job=~(')).toEqual({ tag: 'job', op: '=~', value: '(' });
  });
});
