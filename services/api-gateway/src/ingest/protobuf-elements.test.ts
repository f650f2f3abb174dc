import { describe, expect, it } from 'vitest';
import { WriteRequestType } from '@terminusa/metric-store';
import { BodyTooLargeError } from './decoded-samples.ts';
import { limitElements } from './protobuf-elements.ts';

/** A WriteRequest of `series` series, each with `labels` labels and `samples` samples: 1 + labels + samples elements a series. */
function writeRequest(series: number, labels: number, samples: number): Uint8Array {
  return WriteRequestType.encode(
    WriteRequestType.fromObject({
      timeseries: Array.from({ length: series }, (_, s) => ({
        labels: Array.from({ length: labels }, (_, l) => ({ name: `l${l}`, value: `v${s}` })),
        samples: Array.from({ length: samples }, (_, i) => ({ value: i, timestamp: i })),
      })),
    }),
  ).finish();
}

describe('limitElements', () => {
  it('counts every repeated message on the wire, nested ones too, and refuses one past the limit', () => {
    const body = writeRequest(10, 3, 5); // 10 × (1 + 3 + 5) = 90 elements
    expect(() => limitElements(WriteRequestType, body, 90)).not.toThrow();
    expect(() => limitElements(WriteRequestType, body, 89)).toThrow(BodyTooLargeError);
  });

  it('leaves a body that is not protobuf to the decoder, which says what is wrong with it', () => {
    expect(() => limitElements(WriteRequestType, new Uint8Array([0xff, 0xff, 0xff]), 10)).not.toThrow();
    expect(() => limitElements(WriteRequestType, new Uint8Array([0x0a, 0x7f, 0x01]), 10)).not.toThrow();
  });
});
