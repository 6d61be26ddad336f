import fc from 'fast-check';
import {
  applyFloor,
  copyPolicyProblems,
  floorProblems,
  isOptedIn,
  MAX_RETAIN,
  MAX_RETAIN_DAYS,
  parseCopyPolicy,
  parseCopyRetention,
  parseGroup,
  parseInstancePolicy,
  parseMode,
  parseRecordedRetention,
  parseRetention,
  parseSharePolicy,
  partitionOf,
  retentionTags,
} from '../../../lib/policy';
import { AUTO_SCALING_GROUP_TAG, CopyTag, ImageTag, OperatorTag, ShareTag } from '../../../lib/tags';

const DEFAULT_RETAIN = 7;

/** Values an operator might type that are not whole numbers in range. */
const INVALID_COUNTS = [
  'abc',
  '0',
  '-1',
  '1.5',
  ' 7',
  '7 ',
  '',
  '+7',
  '1e3',
  '0x10',
  '7d',
  '٣', // ARABIC-INDIC DIGIT THREE
  '７', // FULLWIDTH DIGIT SEVEN
  '99999999999999999999999',
  'Infinity',
  'NaN',
];

describe('isOptedIn', () => {
  const optIn = { key: 'Backup', value: 'true' };

  it('is true only for the configured key with exactly the configured value', () => {
    expect(isOptedIn({ Backup: 'true' }, optIn)).toBe(true);
    expect(isOptedIn({ Backup: 'True' }, optIn)).toBe(false);
    expect(isOptedIn({ Backup: 'true ' }, optIn)).toBe(false);
    expect(isOptedIn({ backup: 'true' }, optIn)).toBe(false);
    expect(isOptedIn({}, optIn)).toBe(false);
  });

  it('follows a configured key and value', () => {
    expect(isOptedIn({ 'ops:snapshot': 'nightly' }, { key: 'ops:snapshot', value: 'nightly' })).toBe(true);
    expect(isOptedIn({ Backup: 'true' }, { key: 'ops:snapshot', value: 'nightly' })).toBe(false);
  });
});

describe('parseInstancePolicy', () => {
  it('defaults to reboot mode and the configured retention when the operator set nothing', () => {
    expect(parseInstancePolicy({}, DEFAULT_RETAIN)).toEqual({ ok: true, value: { mode: 'reboot', retain: 7 } });
  });

  it('reads the operator tags', () => {
    // Prepare
    const tags = { [OperatorTag.retain]: '14', [OperatorTag.retainDays]: '30', [OperatorTag.mode]: 'no-reboot' };

    // Act
    const policy = parseInstancePolicy(tags, DEFAULT_RETAIN);

    // Assess
    expect(policy).toEqual({ ok: true, value: { mode: 'no-reboot', retain: 14, retainDays: 30 } });
  });

  it.each([
    ['1', 1],
    ['1000', 1000],
    ['007', 7],
  ])('accepts retain=%p as %p', (raw, retain) => {
    expect(parseInstancePolicy({ [OperatorTag.retain]: raw }, DEFAULT_RETAIN)).toEqual({
      ok: true,
      value: { mode: 'reboot', retain },
    });
  });

  it.each([...INVALID_COUNTS, '1001'])('rejects retain=%p with a problem naming the tag', (raw) => {
    // Act
    const policy = parseInstancePolicy({ [OperatorTag.retain]: raw }, DEFAULT_RETAIN);

    // Assess
    expect(policy.ok).toBe(false);
    if (policy.ok) return;
    expect(policy.problems).toEqual([
      `${OperatorTag.retain}=${JSON.stringify(raw)} must be a whole number from 1 to ${MAX_RETAIN}`,
    ]);
  });

  it.each([...INVALID_COUNTS, '3651'])('rejects retain-days=%p with a problem naming the tag', (raw) => {
    // Act
    const policy = parseInstancePolicy({ [OperatorTag.retainDays]: raw }, DEFAULT_RETAIN);

    // Assess
    expect(policy.ok).toBe(false);
    if (policy.ok) return;
    expect(policy.problems).toEqual([
      `${OperatorTag.retainDays}=${JSON.stringify(raw)} must be a whole number from 1 to ${MAX_RETAIN_DAYS}`,
    ]);
  });

  it.each(['Reboot', 'noreboot', 'no_reboot', '', 'true', ' reboot'])('rejects mode=%p naming the tag', (raw) => {
    // Act
    const policy = parseInstancePolicy({ [OperatorTag.mode]: raw }, DEFAULT_RETAIN);

    // Assess
    expect(policy).toEqual({
      ok: false,
      problems: [`${OperatorTag.mode}=${JSON.stringify(raw)} must be 'reboot' or 'no-reboot'`],
    });
  });

  it('reports every invalid tag at once, mode first', () => {
    // Prepare
    const tags = { [OperatorTag.mode]: 'fast', [OperatorTag.retain]: 'abc', [OperatorTag.retainDays]: '0' };

    // Act
    const policy = parseInstancePolicy(tags, DEFAULT_RETAIN);

    // Assess
    expect(policy.ok).toBe(false);
    if (policy.ok) return;
    expect(policy.problems).toHaveLength(3);
    expect(policy.problems[0]).toContain(OperatorTag.mode);
    expect(policy.problems[1]).toContain(OperatorTag.retain);
    expect(policy.problems[2]).toContain(OperatorTag.retainDays);
  });

  it('accepts exactly the whole numbers from 1 to the maximum, for any text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.integer({ min: -5, max: 5000 }).map(String)), (raw) => {
        const policy = parseInstancePolicy({ [OperatorTag.retain]: raw }, DEFAULT_RETAIN);
        const valid = /^[0-9]+$/.test(raw) && Number(raw) >= 1 && Number(raw) <= MAX_RETAIN;
        expect(policy.ok).toBe(valid);
        if (policy.ok) expect(policy.value.retain).toBe(Number(raw));
      }),
    );
  });
});

describe('parseMode', () => {
  it('reads only the mode, whatever the retention tags say', () => {
    expect(parseMode({ [OperatorTag.retain]: 'abc', [OperatorTag.mode]: 'no-reboot' })).toEqual({
      ok: true,
      value: 'no-reboot',
    });
    expect(parseMode({})).toEqual({ ok: true, value: 'reboot' });
    expect(parseMode({ [OperatorTag.mode]: 'reboot' })).toEqual({ ok: true, value: 'reboot' });
  });
});

describe('parseRetention', () => {
  it('reports a missing count when there is no default', () => {
    expect(parseRetention({}, OperatorTag, undefined)).toEqual({
      ok: false,
      problems: [`${OperatorTag.retain} is missing`],
    });
  });
});

describe('parseRecordedRetention', () => {
  it('reads the retention an image recorded', () => {
    expect(parseRecordedRetention({ [ImageTag.retain]: '3', [ImageTag.retainDays]: '10' })).toEqual({
      ok: true,
      value: { retain: 3, retainDays: 10 },
    });
  });

  it('has no default: an image that recorded no retention has an unreadable one', () => {
    const recorded = parseRecordedRetention({ [ImageTag.managedBy]: 'ami-backup-test' });
    expect(recorded.ok).toBe(false);
  });

  it('rejects a tampered recorded retention', () => {
    expect(parseRecordedRetention({ [ImageTag.retain]: '0' }).ok).toBe(false);
  });
});

describe('retentionTags', () => {
  it('records the count, and the days only when set', () => {
    expect(retentionTags({ retain: 5 })).toEqual({ [ImageTag.retain]: '5' });
    expect(retentionTags({ retain: 5, retainDays: 30 })).toEqual({
      [ImageTag.retain]: '5',
      [ImageTag.retainDays]: '30',
    });
  });

  it('is read back as the same retention, for every valid retention', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: MAX_RETAIN }),
        fc.option(fc.integer({ min: 1, max: MAX_RETAIN_DAYS }), { nil: undefined }),
        (retain, retainDays) => {
          const retention = retainDays === undefined ? { retain } : { retain, retainDays };
          expect(parseRecordedRetention(retentionTags(retention))).toEqual({ ok: true, value: retention });
        },
      ),
    );
  });
});

describe('parseGroup', () => {
  it('reads the operator group tag', () => {
    expect(parseGroup({ [OperatorTag.group]: 'db cluster/eu-1' })).toEqual({ ok: true, value: 'db cluster/eu-1' });
  });

  it('falls back to the Auto Scaling group, and to none', () => {
    expect(parseGroup({ [AUTO_SCALING_GROUP_TAG]: 'web-asg' })).toEqual({ ok: true, value: 'web-asg' });
    expect(parseGroup({})).toEqual({ ok: true, value: undefined });
  });

  it('prefers the operator tag over the Auto Scaling group', () => {
    expect(parseGroup({ [OperatorTag.group]: 'canary', [AUTO_SCALING_GROUP_TAG]: 'web-asg' })).toEqual({
      ok: true,
      value: 'canary',
    });
  });

  it.each(['', 'x'.repeat(129), 'web\nservers', 'web;rm', 'a"b'])(
    'reports an invalid group %p, naming the tag',
    (raw) => {
      const parsed = parseGroup({ [OperatorTag.group]: raw });
      expect(parsed.ok).toBe(false);
      expect(parsed.ok ? '' : parsed.problems.join()).toContain(OperatorTag.group);
    },
  );

  it('makes an invalid group a policy problem of the instance', () => {
    const parsed = parseInstancePolicy({ [OperatorTag.group]: '' }, 7);
    expect(parsed.ok ? [] : parsed.problems).toEqual([expect.stringContaining(OperatorTag.group)]);
  });
});

describe('the retention floor', () => {
  const floor = { retain: 3, retainDays: 14 };

  it.each([
    [{ retain: 1 }, { retain: 3, retainDays: 14 }],
    [
      { retain: 5, retainDays: 30 },
      { retain: 5, retainDays: 30 },
    ],
    [
      { retain: 5, retainDays: 2 },
      { retain: 5, retainDays: 14 },
    ],
  ])('raises %p to %p', (retention, floored) => {
    expect(applyFloor(retention, floor)).toEqual(floored);
  });

  it('adds no retain-days when its floor is 0', () => {
    expect(applyFloor({ retain: 2 }, { retain: 1, retainDays: 0 })).toEqual({ retain: 2 });
  });

  it('reports a tag below the floor, and nothing for tags at or above it, absent or unreadable', () => {
    expect(floorProblems({ [OperatorTag.retain]: '2', [OperatorTag.retainDays]: '13' }, OperatorTag, floor)).toEqual([
      `${OperatorTag.retain}="2" is below the deployment's floor of 3 (minRetain): 3 kept`,
      `${OperatorTag.retainDays}="13" is below the deployment's floor of 14 days (minRetainDays): 14 kept`,
    ]);
    expect(floorProblems({ [OperatorTag.retain]: '3', [OperatorTag.retainDays]: '14' }, OperatorTag, floor)).toEqual(
      [],
    );
    expect(floorProblems({}, OperatorTag, floor)).toEqual([]);
    expect(floorProblems({ [OperatorTag.retain]: '0', [OperatorTag.retainDays]: 'x' }, OperatorTag, floor)).toEqual([]);
    expect(floorProblems({ [OperatorTag.retainDays]: '1' }, OperatorTag, { retain: 1, retainDays: 0 })).toEqual([]);
  });
});

describe('copy policy', () => {
  const settings = {
    homeRegion: 'us-east-1',
    defaultRegions: ['us-west-2'],
    allowedRegions: ['us-west-2', 'eu-west-1'],
  };

  it("copies to the deployment's default Regions unless the instance names its own, or none", () => {
    expect(parseCopyPolicy({}, settings)).toEqual({ ok: true, value: { regions: ['us-west-2'] } });
    expect(parseCopyPolicy({ [CopyTag.copyTo]: ' eu-west-1 ' }, settings)).toEqual({
      ok: true,
      value: { regions: ['eu-west-1'] },
    });
    expect(parseCopyPolicy({ [CopyTag.copyTo]: '' }, settings)).toEqual({ ok: true, value: { regions: [] } });
  });

  it('names each Region that cannot be copied to, and why', () => {
    const parsed = parseCopyPolicy({ [CopyTag.copyTo]: 'eu-west-1,EU-WEST-1,us-gov-west-1,eu-west-1' }, settings);
    expect(parsed).toEqual({
      ok: false,
      problems: [
        `${CopyTag.copyTo}: "EU-WEST-1" is not a Region name`,
        `${CopyTag.copyTo}: "us-gov-west-1" is not in the partition of us-east-1`,
        `${CopyTag.copyTo}: "eu-west-1" is listed twice`,
      ],
    });
  });

  it.each([
    ['us-east-1', 'aws'],
    ['us-gov-west-1', 'aws-us-gov'],
    ['cn-northwest-1', 'aws-cn'],
    ['us-iso-east-1', 'aws-iso'],
    ['us-isob-east-1', 'aws-iso-b'],
  ])('places %s in the partition %s', (region, partition) => {
    expect(partitionOf(region)).toBe(partition);
  });

  it("keeps the instance's own retention for its copies unless the copy tags say otherwise", () => {
    expect(parseCopyRetention({}, 7)).toEqual({ ok: true, value: { retain: 7 } });
    expect(parseCopyRetention({ [OperatorTag.retain]: '3', [OperatorTag.retainDays]: '10' }, 7)).toEqual({
      ok: true,
      value: { retain: 3, retainDays: 10 },
    });
    expect(
      parseCopyRetention({ [OperatorTag.retain]: '3', [CopyTag.copyRetain]: '1', [CopyTag.copyRetainDays]: '30' }, 7),
    ).toEqual({ ok: true, value: { retain: 1, retainDays: 30 } });
    expect(parseCopyRetention({ [CopyTag.copyRetain]: '0' }, 7)).toEqual({
      ok: false,
      problems: [`${CopyTag.copyRetain}="0" must be a whole number from 1 to 1000`],
    });
  });

  it('reports only the copy tags themselves as copy problems (the instance retention is reported on its own)', () => {
    const floor = { retain: 2, retainDays: 0 };
    expect(copyPolicyProblems({ [OperatorTag.retain]: 'abc' }, settings, floor)).toEqual([]);
    expect(copyPolicyProblems({ [CopyTag.copyRetain]: '1' }, settings, floor)).toEqual([
      `${CopyTag.copyRetain}="1" is below the deployment's floor of 2 (minRetain): 2 kept`,
    ]);
  });
});

describe('parseSharePolicy', () => {
  const OWN = '123456789012';
  const OTHER = '210987654321';
  const THIRD = '111122223333';

  it("shares with the accounts an instance names, else with the deployment's default, an empty tag with none", () => {
    expect(parseSharePolicy({ [ShareTag.shareWith]: `${OTHER}, ${THIRD}` }, [], OWN)).toEqual({
      ok: true,
      value: { accounts: [OTHER, THIRD] },
    });
    expect(parseSharePolicy({}, [THIRD], OWN)).toEqual({ ok: true, value: { accounts: [THIRD] } });
    expect(parseSharePolicy({ [ShareTag.shareWith]: ' ' }, [THIRD], OWN)).toEqual({
      ok: true,
      value: { accounts: [] },
    });
  });

  it('names each entry that is not an account id, the own account or a repeat as a policy error', () => {
    const parsed = parseSharePolicy(
      { [ShareTag.shareWith]: `all,${OWN},12345,${OTHER},${OTHER},,a23456789012` },
      [],
      OWN,
    );
    expect(parsed).toEqual({
      ok: false,
      problems: [
        `${ShareTag.shareWith}: "all" is not a 12-digit account id`,
        `${ShareTag.shareWith}: "${OWN}" is the account the backups are in`,
        `${ShareTag.shareWith}: "12345" is not a 12-digit account id`,
        `${ShareTag.shareWith}: "${OTHER}" is listed twice`,
        `${ShareTag.shareWith}: "" is not a 12-digit account id`,
        `${ShareTag.shareWith}: "a23456789012" is not a 12-digit account id`,
      ],
    });
  });

  it('never lets anything but 12-digit account ids through, whatever the tag says (public sharing cannot be asked for)', () => {
    fc.assert(
      fc.property(fc.string(), (raw) => {
        const parsed = parseSharePolicy({ [ShareTag.shareWith]: raw }, [], OWN);
        if (parsed.ok) expect(parsed.value.accounts.every((id) => /^[0-9]{12}$/.test(id) && id !== OWN)).toBe(true);
      }),
    );
  });
});
