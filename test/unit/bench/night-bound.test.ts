import { nightBound, rebootGroups, rebootSlotSeconds, serialSeconds } from '../../../bench/night-bound';

const phases = { rebootGraceSeconds: 300, shutdownSeconds: 30, bootSeconds: 60 };

describe('rebootSlotSeconds', () => {
  it('is the grace period when the instance is back sooner', () => {
    expect(rebootSlotSeconds(phases)).toBe(300);
  });

  it('is the shutdown and the boot when they outlast the grace period', () => {
    expect(rebootSlotSeconds({ ...phases, shutdownSeconds: 120, bootSeconds: 240 })).toBe(360);
  });
});

describe('serialSeconds', () => {
  it('is one slot after another, the last also waiting for its image', () => {
    expect(serialSeconds(9, 300, 220)).toBe(9 * 300);
    expect(serialSeconds(9, 300, 420)).toBe(8 * 300 + 420);
  });

  it('is zero without a slot', () => {
    expect(serialSeconds(0, 300, 220)).toBe(0);
  });
});

describe('rebootGroups', () => {
  it('counts the instances imaged with a reboot and the most of them in one group', () => {
    const members = [
      { group: 'a', reboot: true },
      { group: 'a', reboot: true },
      { group: 'a', reboot: false },
      { group: 'b', reboot: true },
      { reboot: true },
    ];
    expect(rebootGroups(members)).toEqual({ imagedWithReboot: 4, longestGroup: 2, longestGroups: 1 });
  });

  it('counts an instance in no group as a group of its own', () => {
    expect(rebootGroups([{ reboot: true }, { group: 'a', reboot: true }, { reboot: false }])).toEqual({
      imagedWithReboot: 2,
      longestGroup: 1,
      longestGroups: 2,
    });
    expect(rebootGroups([{ group: 'a', reboot: false }])).toEqual({
      imagedWithReboot: 0,
      longestGroup: 0,
      longestGroups: 0,
    });
  });
});

describe('nightBound', () => {
  // 10,000 instances in groups of ten, nine of each imaged with a reboot, one group each down at once.
  const shape = {
    calls: { CreateImage: 10_000, DeregisterImage: 10_000 },
    imagedWithReboot: 9_000,
    longestGroup: 9,
    longestGroups: 1_000,
    maxDownPerGroup: 1,
    maxConcurrentReboots: 1_000,
    rebootSlotSeconds: 300,
    imageSeconds: 220,
  };

  it('is the last group’s first CreateImage call, then its turns, when they outlast the buckets', () => {
    // The 1,000th call comes 950 / 5 = 190 s after the start at the soonest, in the fourth minute: its grace counts
    // from that minute (180 s).
    expect(nightBound(shape)).toEqual({
      seconds: 180 + 2_700,
      by: 'group turns behind CreateImage',
      throttle: { seconds: 9_950 / 5 + 220, by: 'CreateImage' },
      groupSeconds: 2_700,
      staggerSeconds: 180 + 2_700,
      capSeconds: 2_700,
    });
  });

  it('is the longest group’s turns when few groups are that long', () => {
    expect(nightBound({ ...shape, longestGroups: 10 })).toMatchObject({ seconds: 2_700, by: 'group turns' });
  });

  it('lets a group take as many turns at once as maxDownPerGroup allows', () => {
    expect(nightBound({ ...shape, maxDownPerGroup: 2 }).groupSeconds).toBe(5 * 300);
  });

  it('is the fleet-wide cap’s slots when the cap is below the number of groups', () => {
    // The deployment default of 50 at this size: 180 slots, about 15 hours.
    const bound = nightBound({ ...shape, maxConcurrentReboots: 50 });
    expect(bound).toMatchObject({ seconds: 180 * 300, by: 'maxConcurrentReboots', capSeconds: 180 * 300 });
  });

  it('is the CreateImage bucket’s time for what another client leaves of it', () => {
    // Half of the refill left: 9,950 / 2.5 s of calls, then the last image; the 1,000th call at 950 / 2.5 = 380 s.
    const bound = nightBound({ ...shape, competingLoad: 0.5 });
    expect(bound).toMatchObject({
      seconds: 9_950 / 2.5 + 220,
      by: 'CreateImage',
      staggerSeconds: 360 + 2_700,
    });
  });

  it('is the throttle bound when no instance is imaged with a reboot', () => {
    const bound = nightBound({ ...shape, imagedWithReboot: 0, longestGroup: 0, longestGroups: 0 });
    expect(bound).toMatchObject({
      seconds: 9_950 / 5 + 220,
      by: 'CreateImage',
      groupSeconds: 0,
      staggerSeconds: 0,
      capSeconds: 0,
    });
  });
});
