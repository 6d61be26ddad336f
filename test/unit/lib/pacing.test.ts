import { AIMD, afterPass, afterThrottle, initialPace, type PaceState, type Rate, reserve } from '../../../lib/pacing';

// CreateImage's documented bucket: 50 calls, refilled at 5 a second.
const ceiling: Rate = { perSecond: 5, burst: 50 };

/** Reserves `count` calls at `nowMs`; the waits they were given. */
function reserveMany(state: PaceState, count: number, nowMs: number): { state: PaceState; waits: number[] } {
  const waits: number[] = [];
  let current = state;
  for (let call = 0; call < count; call++) {
    const reservation = reserve(current, ceiling, nowMs);
    current = reservation.state;
    waits.push(reservation.waitMs);
  }
  return { state: current, waits };
}

describe('reserve', () => {
  it('lets a burst one call short of EC2’s bucket go at once, then spaces calls at the documented rate', () => {
    const { waits } = reserveMany(initialPace(ceiling, 0), 52, 0);

    expect(waits.slice(0, 49)).toEqual(Array(49).fill(0));
    expect(waits.slice(49)).toEqual([200, 400, 600]);
  });

  it('refills at the pace, never above the burst', () => {
    const drained = reserveMany(initialPace(ceiling, 0), 49, 0).state;

    expect(reserve(drained, ceiling, 1_000).waitMs).toBe(0);
    expect(reserveMany(drained, 49, 3_600_000).waits.at(-1)).toBe(0);
    expect(reserveMany(drained, 50, 3_600_000).waits.at(-1)).toBe(200);
  });
});

describe('afterThrottle', () => {
  it('drops the pace by the decrease and drops the saved burst: EC2’s bucket is empty', () => {
    const throttled = afterThrottle(initialPace(ceiling, 0), ceiling, 0, 0);

    expect(throttled.perSecond).toBeCloseTo(5 * AIMD.decrease);
    expect(reserve(throttled, ceiling, 0).waitMs).toBe(Math.ceil(1000 / (5 * AIMD.decrease)));
  });

  it('drops once for the calls reserved at one pace, again for a call reserved after the drop', () => {
    const once = afterThrottle(initialPace(ceiling, 0), ceiling, 100, 500);
    const reservedBefore = afterThrottle(once, ceiling, 400, 700);
    const reservedAfter = afterThrottle(reservedBefore, ceiling, 600, 900);

    expect(reservedBefore.perSecond).toBeCloseTo(5 * AIMD.decrease);
    expect(reservedAfter.perSecond).toBeCloseTo(5 * AIMD.decrease ** 2);
  });

  it('never drops below the floor', () => {
    let state = initialPace(ceiling, 0);
    for (let second = 0; second < 100; second++) state = afterThrottle(state, ceiling, second * 1000, second * 1000);

    expect(state.perSecond).toBeCloseTo(5 * AIMD.floor);
  });
});

describe('afterPass', () => {
  it('creeps back up by the increase for each second of calls passing at the pace, up to the ceiling', () => {
    let state = afterThrottle(initialPace(ceiling, 0), ceiling, 0, 0);
    let nowMs = 0;
    let calls = 0;
    // Calls as fast as the pace allows, each passing.
    while (state.perSecond < ceiling.perSecond && calls < 10_000) {
      const reservation = reserve(state, ceiling, nowMs);
      nowMs += reservation.waitMs;
      state = afterPass(reservation.state, ceiling, nowMs);
      calls += 1;
    }

    // (1 − decrease) / increase seconds of calls: 150 s.
    expect(nowMs / 1000).toBeGreaterThan(140);
    expect(nowMs / 1000).toBeLessThan(160);
    expect(afterPass(state, ceiling, nowMs).perSecond).toBe(ceiling.perSecond);
  });

  it('never goes above EC2’s documented rate', () => {
    let state = initialPace(ceiling, 0);
    for (let call = 0; call < 1_000; call++) state = afterPass(state, ceiling, call * 10);

    expect(state.perSecond).toBe(ceiling.perSecond);
  });
});

describe('AIMD against a bucket another client shares', () => {
  /**
   * A backlog of calls paced by AIMD against EC2's bucket (50, 5 a second) while another client takes half of each
   * refill; each call takes 100 ms and a throttled call is tried again at the pacer's next slot.
   */
  function simulate(seconds: number): { passed: number; throttled: number } {
    const available = 2.5;
    let bucket = 50;
    let bucketAt = 0;
    let state = initialPace(ceiling, 0);
    let nowMs = 0;
    let passed = 0;
    let throttled = 0;
    while (nowMs < seconds * 1000) {
      const reservedAtMs = nowMs;
      const reservation = reserve(state, ceiling, nowMs);
      state = reservation.state;
      nowMs += reservation.waitMs;
      bucket = Math.min(50, bucket + ((nowMs - bucketAt) / 1000) * available);
      bucketAt = nowMs;
      if (bucket >= 1) {
        bucket -= 1;
        passed += 1;
        state = afterPass(state, ceiling, nowMs + 100);
      } else {
        throttled += 1;
        state = afterThrottle(state, ceiling, reservedAtMs, nowMs + 100);
      }
    }
    return { passed, throttled };
  }

  it('gets nearly all that is left to it and is throttled on under 1% of its calls', () => {
    const { passed, throttled } = simulate(4_000);

    // The most possible: the bucket's 50, then 2.5 a second.
    expect(passed / (50 + 2.5 * 4_000)).toBeGreaterThan(0.95);
    expect(throttled / (passed + throttled)).toBeLessThan(0.01);
  });
});
