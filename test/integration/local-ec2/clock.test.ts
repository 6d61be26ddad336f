import fc from 'fast-check';
import { SimClock, startLocalEc2 } from '../../../local/ec2';
import { wildcardToRegExp } from '../../../local/ec2/filters';
import { MinHeap } from '../../../local/ec2/heap';
import { TokenBucket } from '../../../local/ec2/throttle';

describe('MinHeap', () => {
  it('pops any set of numbers in ascending order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), (values) => {
        const heap = new MinHeap<number>((a, b) => a < b);
        for (const value of values) heap.push(value);
        const popped: number[] = [];
        for (let value = heap.pop(); value !== undefined; value = heap.pop()) popped.push(value);
        expect(popped).toEqual([...values].sort((a, b) => a - b));
      }),
    );
  });
});

describe('SimClock', () => {
  const start = new Date('2026-01-01T00:00:00Z');

  it('manual: never moves by itself, and runs due tasks in time order at their own time inside advance', () => {
    const clock = SimClock.manual(start);
    const runs: [string, number][] = [];
    clock.schedule(start.getTime() + 300, () => runs.push(['c', clock.nowMs()]));
    clock.schedule(start.getTime() + 100, () => {
      runs.push(['a', clock.nowMs()]);
      // A task may schedule more work; it runs in order within the same advance.
      clock.schedule(start.getTime() + 200, () => runs.push(['b', clock.nowMs()]));
    });
    clock.schedule(start.getTime() + 1000, () => runs.push(['late', clock.nowMs()]));

    expect(clock.now()).toEqual(start);
    clock.advance(500);
    expect(runs).toEqual([
      ['a', start.getTime() + 100],
      ['b', start.getTime() + 200],
      ['c', start.getTime() + 300],
    ]);
    expect(clock.nowMs()).toBe(start.getTime() + 500);
    clock.advanceTo(new Date(start.getTime() + 1000));
    expect(runs.at(-1)).toEqual(['late', start.getTime() + 1000]);
  });

  it('runs tasks with equal times in scheduling order, skips cancelled ones, and refuses to go back', () => {
    const clock = SimClock.manual(start);
    const runs: string[] = [];
    clock.schedule(start, () => runs.push('first'));
    const cancel = clock.schedule(start, () => runs.push('cancelled'));
    clock.schedule(start, () => runs.push('second'));
    cancel();
    clock.advance(0);
    expect(runs).toEqual(['first', 'second']);
    expect(() => clock.advanceTo(new Date(start.getTime() - 1))).toThrow(RangeError);
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });

  it('real time: runs at the given speed, and advance jumps ahead', () => {
    const realStart = Date.now();
    const clock = SimClock.realTime({ speed: 1000, start });
    const busyUntil = realStart + 20;
    while (Date.now() < busyUntil) {
      // let 20 real milliseconds pass
    }
    const elapsed = clock.nowMs() - start.getTime();
    expect(elapsed).toBeGreaterThanOrEqual(20 * 1000 - 1000);
    const before = clock.nowMs();
    clock.advance(3_600_000);
    expect(clock.nowMs()).toBeGreaterThanOrEqual(before + 3_600_000);
  });
});

describe('startLocalEc2', () => {
  it('runs its default clock at the speed it is given', async () => {
    const ec2 = await startLocalEc2({ speed: 3600, throttling: false });
    try {
      const before = ec2.clock.nowMs();
      const busyUntil = Date.now() + 20;
      while (Date.now() < busyUntil) {
        // let 20 real milliseconds pass
      }
      expect(ec2.clock.nowMs() - before).toBeGreaterThanOrEqual(19 * 3600);
    } finally {
      await ec2.stop();
    }
  });
});

describe('wildcardToRegExp', () => {
  it('matches EC2 filter wildcards: * any run, ? one character, \\ escapes, everything else literal', () => {
    const matches = (pattern: string, value: string) => wildcardToRegExp(pattern).test(value);
    expect(matches('web-*', 'web-1')).toBe(true);
    expect(matches('web-*', 'Web-1')).toBe(false);
    expect(matches('web-?', 'web-12')).toBe(false);
    expect(matches('*', '')).toBe(true);
    expect(matches('a\\*b', 'a*b')).toBe(true);
    expect(matches('a\\*b', 'axb')).toBe(false);
    expect(matches('(1).[x]+', '(1).[x]+')).toBe(true);
    expect(matches('line*', 'line\nbreak')).toBe(true);
  });
});

describe('TokenBucket', () => {
  it('starts full, refuses when empty, refills at its rate up to its capacity', () => {
    const bucket = new TokenBucket({ capacity: 5, refillPerSecond: 2 }, 0);
    expect(Array.from({ length: 6 }, () => bucket.take(1, 0))).toEqual([true, true, true, true, true, false]);
    expect(bucket.take(1, 499)).toBe(false);
    expect(bucket.take(1, 500)).toBe(true);
    expect(bucket.take(5, 60_000)).toBe(true);
    expect(bucket.take(1, 60_000)).toBe(false);
  });
});
