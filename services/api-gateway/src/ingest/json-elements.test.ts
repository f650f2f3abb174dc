import { describe, expect, it } from 'vitest';
import { BadPayloadError, BodyTooLargeError } from './decoded-samples.ts';
import { limitJsonElements, MAX_JSON_DEPTH } from './json-elements.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('limitJsonElements', () => {
  it('counts the elements of every array, nested ones too, and refuses one past the limit', () => {
    // 2 resources + 3 points + 4 bucket counts + 1 attribute = 10; an object's fields are not elements.
    const body = bytes(' { "r": [ { "p": [ {"b": [1, 2, 3, 4], "a": [{"k": "x", "v": 1}]}, {}, { } ] }, {"p" : [ ] } ], "empty": [ ] } ');
    expect(() => limitJsonElements(body, 10)).not.toThrow();
    expect(() => limitJsonElements(body, 9)).toThrow(BodyTooLargeError);
  });

  it('reads brackets and commas inside strings as text, escaped quotes included', () => {
    const body = bytes(JSON.stringify({ name: 'a[1,2],"b"\\', values: ['x,y', '[', ']'] }));
    expect(() => limitJsonElements(body, 3)).not.toThrow();
    expect(() => limitJsonElements(body, 2)).toThrow(BodyTooLargeError);
  });

  it('refuses a 16 MiB array of zeros at the limit, without reading the rest', () => {
    const body = bytes(`{"b":[${'0,'.repeat(8 << 20)}0]}`);
    expect(() => limitJsonElements(body, 400_000)).toThrow(/more than 400000 JSON array elements/);
  });

  it('refuses nesting deeper than the most OTLP/JSON needs, before its own stack grows with the body', () => {
    expect(() => limitJsonElements(bytes(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`), 1000)).not.toThrow();
    expect(() => limitJsonElements(bytes('{'.repeat(16 << 20)), 1000)).toThrow(BadPayloadError);
    expect(() => limitJsonElements(bytes(`${'{"a":'.repeat(MAX_JSON_DEPTH + 1)}1`), 1000)).toThrow(`the body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
  });

  it('leaves a body that is not JSON to the parser, which says what is wrong with it', () => {
    for (const text of [']]]', '"unterminated', '{"a": [1, 2', '\u00ff,\u00ff']) expect(() => limitJsonElements(bytes(text), 10)).not.toThrow();
  });
});
