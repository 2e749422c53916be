/**
 * Memory per vCPU at 1,024 vCPUs: LocalApic + its 4 KiB page + its armed timer (the backend
 * state of a Machine is not counted). The target is 8 KiB; the page alone is 4 KiB. Not a
 * timing test: heap and ArrayBuffer sizes after full GCs. bench/memory.ts does the measuring.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { measureMemory } from '../../bench/memory.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('memory', () => {
  it('a vCPU (LocalApic, page, timer) takes at most 8 KiB at 1024 vCPUs', () => {
    const m = measureMemory(1024, gc);
    expect(m.arrayBufferBytesPerVcpu).toBeGreaterThanOrEqual(4096); // the page is really there
    expect(m.bytesPerVcpu).toBeLessThanOrEqual(8 * 1024);
  });
});
