import fc from 'fast-check';
import {
  isTestInstance,
  judgeTests,
  type Launch,
  newestGoodImages,
  planLaunches,
  type RestoreTestSettings,
  restoreClientToken,
  resultTag,
} from '../../../../lib/decisions/restore-tests';
import type { CheckStatus, Image, Instance, InstanceHealth, InstanceState } from '../../../../lib/model';
import {
  formatRestoreResult,
  formatRunId,
  ImageTag,
  InstanceTag,
  parseRestoreResult,
  RestoreTestTag,
  type Tags,
} from '../../../../lib/tags';
import { daysBefore, OURS, OWNER, ownedImage, secondsAfter } from '../builders';

/** A Sunday noon: the weekly test's start. */
const TEST = new Date('2026-11-29T12:00:00.000Z');
const RUN = formatRunId(TEST);
const A = 'i-0000000000000000a';
const B = 'i-0000000000000000b';
const C = 'i-0000000000000000c';
const SETTINGS: RestoreTestSettings = { timeoutMinutes: 20 };
const OK: InstanceHealth = { instanceStatus: 'ok', systemStatus: 'ok' };

function source(id: string, extra: Partial<Instance> = {}): Instance {
  return { id, state: 'running', tags: { Backup: 'true' }, instanceType: 't3.large', ...extra };
}

/** The newest good backup of `instanceId`, made `daysAgo` days before the test. */
function backup(id: string, instanceId: string, daysAgo = 1, tags: Tags = {}): Image {
  return ownedImage(id, instanceId, { createdAt: daysBefore(TEST, daysAgo), tags });
}

function tested(at: Date, passed = true): Tags {
  return { [RestoreTestTag.result]: formatRestoreResult({ at, passed, ...(passed ? {} : { reason: 'x' }) }) };
}

function testInstance(
  id: string,
  image: Image,
  options: { state?: InstanceState; launchedAt?: Date; run?: string; tags?: Tags } = {},
): Instance {
  return {
    id,
    state: options.state ?? 'running',
    launchedAt: options.launchedAt ?? TEST,
    tags: {
      [ImageTag.managedBy]: OWNER,
      [RestoreTestTag.testInstance]: options.run ?? RUN,
      [RestoreTestTag.imageId]: image.id,
      [ImageTag.instanceId]: image.tags[ImageTag.instanceId] ?? '',
      ...options.tags,
    },
  };
}

const launchesOf = (launches: readonly Launch[]) => launches.map((launch) => [launch.instanceId, launch.imageId]);

describe('restore test results', () => {
  it('reads back what it writes, passed and failed with a reason', () => {
    fc.assert(
      fc.property(fc.date({ noInvalidDate: true }), fc.boolean(), fc.string({ maxLength: 100 }), (at, passed, why) => {
        const reason = why.trim() === '' ? undefined : why;
        const written = formatRestoreResult({ at, passed, ...(reason === undefined ? {} : { reason }) });
        const read = parseRestoreResult(written);
        if (at.getUTCFullYear() < 0 || at.getUTCFullYear() > 9999) return; // not a four-digit ISO year
        expect(read?.at.getTime()).toBe(at.getTime());
        expect(read?.passed).toBe(passed);
        if (!passed) expect(read?.reason).toBe(reason);
      }),
    );
  });

  it.each([undefined, '', 'passed', '2026-11-29 passed', '2026-11-29T12:00:00.000Z ok'])(
    'reads %p as no result',
    (value) => {
      expect(parseRestoreResult(value)).toBeUndefined();
    },
  );

  it('keeps a recorded value within EC2’s 256 characters', () => {
    expect(formatRestoreResult({ at: TEST, passed: false, reason: 'x'.repeat(400) }).length).toBeLessThanOrEqual(256);
  });
});

describe('which image is tested', () => {
  it('launches from each opted-in instance’s newest good backup, with its instance type and a token of image and run', () => {
    // Prepare
    const images = [backup('ami-0000000a1', A, 1), backup('ami-0000000a2', A, 2), backup('ami-0000000b1', B, 3)];

    // Act
    const launches = planLaunches(
      [source(A), source(B, { instanceType: 'm5.large' })],
      images,
      [],
      OURS,
      TEST,
      SETTINGS,
    );

    // Assess
    expect(launches).toEqual([
      {
        instanceId: A,
        imageId: 'ami-0000000a1',
        instanceType: 't3.large',
        testRun: RUN,
        clientToken: restoreClientToken('ami-0000000a1', RUN),
      },
      {
        instanceId: B,
        imageId: 'ami-0000000b1',
        instanceType: 'm5.large',
        testRun: RUN,
        clientToken: restoreClientToken('ami-0000000b1', RUN),
      },
    ]);
  });

  it('uses the configured instance type over the source’s', () => {
    const launches = planLaunches([source(A)], [backup('ami-0000000a1', A)], [], OURS, TEST, {
      ...SETTINGS,
      instanceType: 't3.nano',
    });
    expect(launches[0]?.instanceType).toBe('t3.nano');
  });

  it('leaves the instance type to EC2 when nobody says', () => {
    const { instanceType: _type, ...untyped } = source(A);
    const launches = planLaunches([untyped], [backup('ami-0000000a1', A)], [], OURS, TEST, SETTINGS);
    expect(launches[0]).not.toHaveProperty('instanceType');
  });

  it('skips an image not (yet) good: unverified, failed, pending, and takes the newest good one', () => {
    // Prepare
    const { [InstanceTag.state]: _state, ...unrecorded } = backup('ami-0000000a0', A, 0).tags;
    const images = [
      { ...backup('ami-0000000a0', A, 0), tags: unrecorded },
      ownedImage('ami-0000000af', A, { state: 'failed', createdAt: daysBefore(TEST, 0.5) }),
      ownedImage('ami-0000000ap', A, { state: 'pending', createdAt: daysBefore(TEST, 0.1) }),
      backup('ami-0000000a2', A, 2),
    ];

    // Act / Assess
    expect(launchesOf(planLaunches([source(A)], images, [], OURS, TEST, SETTINGS))).toEqual([[A, 'ami-0000000a2']]);
  });

  it('never launches from a look-alike: another owner, another account, another name or source instance', () => {
    const images = [
      backup('ami-0000000a1', A, 1, { [ImageTag.managedBy]: 'ami-backup-prod' }),
      ownedImage('ami-0000000a2', A, { createdAt: daysBefore(TEST, 2), ownerId: '999999999999' }),
      ownedImage('ami-0000000a3', A, { createdAt: daysBefore(TEST, 3), name: 'golden' }),
      ownedImage('ami-0000000a4', A, { createdAt: daysBefore(TEST, 4), sourceInstanceId: B }),
    ];
    expect(planLaunches([source(A)], images, [], OURS, TEST, SETTINGS)).toEqual([]);
  });

  it('tests nothing for an instance without a good backup, opted out, or gone', () => {
    const images = [backup('ami-0000000b1', B), backup('ami-0000000c1', C)];
    const launches = planLaunches([source(A), source(C, { state: 'terminated' })], images, [], OURS, TEST, SETTINGS);
    expect(launches).toEqual([]);
  });

  it('tests a stopped instance’s backup too', () => {
    const launches = planLaunches(
      [source(A, { state: 'stopped' })],
      [backup('ami-0000000a1', A)],
      [],
      OURS,
      TEST,
      SETTINGS,
    );
    expect(launchesOf(launches)).toEqual([[A, 'ami-0000000a1']]);
  });

  it('launches nothing again for an image tested in this run, whatever the result', () => {
    const images = [
      backup('ami-0000000a1', A, 1, tested(secondsAfter(TEST, 1200), true)),
      backup('ami-0000000b1', B, 1, tested(TEST, false)),
    ];
    expect(planLaunches([source(A), source(B)], images, [], OURS, TEST, SETTINGS)).toEqual([]);
  });

  it('tests again an image tested in an earlier run', () => {
    const images = [backup('ami-0000000a1', A, 1, tested(daysBefore(TEST, 7)))];
    expect(launchesOf(planLaunches([source(A)], images, [], OURS, TEST, SETTINGS))).toEqual([[A, 'ami-0000000a1']]);
  });

  it('launches nothing for an instance with a test in flight, or for an image with a test instance of this run', () => {
    // Prepare
    const a = backup('ami-0000000a1', A);
    const b = backup('ami-0000000b1', B);
    const earlierImageOfA = backup('ami-0000000a9', A, 9);
    const tests = [
      testInstance('i-00000000000000001', earlierImageOfA, { run: formatRunId(daysBefore(TEST, 7)), state: 'pending' }),
      testInstance('i-00000000000000002', b, { state: 'terminated' }),
    ];

    // Act / Assess
    expect(planLaunches([source(A), source(B)], [a, b, earlierImageOfA], tests, OURS, TEST, SETTINGS)).toEqual([]);
  });

  it('launches for an image whose earlier run’s test instance is gone', () => {
    const a = backup('ami-0000000a1', A);
    const tests = [
      testInstance('i-00000000000000001', a, { run: formatRunId(daysBefore(TEST, 7)), state: 'terminated' }),
    ];
    expect(launchesOf(planLaunches([source(A)], [a], tests, OURS, TEST, SETTINGS))).toEqual([[A, 'ami-0000000a1']]);
  });

  it('ignores instances that are not the service’s test instances', () => {
    const a = backup('ami-0000000a1', A);
    const foreign = testInstance('i-00000000000000001', a, { tags: { [ImageTag.managedBy]: 'ami-backup-prod' } });
    expect(isTestInstance(foreign, OWNER)).toBe(false);
    expect(launchesOf(planLaunches([source(A)], [a], [foreign], OURS, TEST, SETTINGS))).toEqual([[A, 'ami-0000000a1']]);
  });
});

describe('the sample', () => {
  const images = [
    backup('ami-0000000a1', A, 1, tested(daysBefore(TEST, 7))),
    backup('ami-0000000b1', B, 1, tested(daysBefore(TEST, 14))),
    backup('ami-0000000c1', C, 1),
  ];
  const fleet = [source(A), source(B), source(C)];

  it('takes the least recently tested first: never tested, then the oldest test, then by instance id', () => {
    expect(launchesOf(planLaunches(fleet, images, [], OURS, TEST, { ...SETTINGS, sample: 2 }))).toEqual([
      [C, 'ami-0000000c1'],
      [B, 'ami-0000000b1'],
    ]);
  });

  it('rotates: the week after, the ones left out come first', () => {
    // Prepare: last week's sample of 2 tested C and B.
    const nextWeek = daysBefore(TEST, -7);
    const after = [
      backup('ami-0000000a1', A, 1, tested(daysBefore(TEST, 7))),
      backup('ami-0000000b2', B, -6, tested(secondsAfter(TEST, 600))),
      backup('ami-0000000c2', C, -6, tested(secondsAfter(TEST, 600))),
    ];

    // Act / Assess
    expect(launchesOf(planLaunches(fleet, after, [], OURS, nextWeek, { ...SETTINGS, sample: 2 }))).toEqual([
      [A, 'ami-0000000a1'],
      [B, 'ami-0000000b2'],
    ]);
  });

  it('orders by instance id among the never tested', () => {
    const untested = [backup('ami-0000000c1', C), backup('ami-0000000a1', A), backup('ami-0000000b1', B)];
    expect(
      launchesOf(planLaunches([...fleet].reverse(), untested, [], OURS, TEST, { ...SETTINGS, sample: 1 })),
    ).toEqual([[A, 'ami-0000000a1']]);
  });

  it('chooses the same instances when the run’s pass is repeated after some results are recorded', () => {
    // Prepare: the first pass launched C and B; C's result is recorded since.
    const later = [
      images[0] as Image,
      images[1] as Image,
      backup('ami-0000000c1', C, 1, tested(secondsAfter(TEST, 300))),
    ];
    const tests = [testInstance('i-00000000000000002', images[1] as Image, { state: 'running' })];

    // Act / Assess: neither A (not in the sample) nor C (tested) nor B (in flight)
    expect(planLaunches(fleet, later, tests, OURS, TEST, { ...SETTINGS, sample: 2 })).toEqual([]);
  });

  it('launches at most the sample, and each image once, whatever the fleet', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 0xfffff }), { maxLength: 12 }),
        fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
        (numbers, sample) => {
          const ids = numbers.map((n) => `i-${n.toString(16).padStart(17, '0')}`);
          const all = ids.map((id, index) => backup(`ami-${index.toString(16).padStart(8, '0')}`, id));
          const launches = planLaunches(
            ids.map((id) => source(id)),
            all,
            [],
            OURS,
            TEST,
            {
              ...SETTINGS,
              ...(sample === undefined ? {} : { sample }),
            },
          );
          expect(launches.length).toBe(sample === undefined ? ids.length : Math.min(sample, ids.length));
          expect(new Set(launches.map((launch) => launch.imageId)).size).toBe(launches.length);
        },
      ),
    );
  });
});

describe('a test instance’s verdict', () => {
  const image = backup('ami-0000000a1', A);
  const judge = (
    test: Instance,
    checks: Partial<InstanceHealth> | undefined,
    now: Date,
    images: readonly Image[] = [image],
  ) =>
    judgeTests(
      [test],
      images,
      new Map(checks === undefined ? [] : [[test.id, { ...OK, ...checks }]]),
      OWNER,
      now,
      SETTINGS,
    )[0];
  const T = 'i-00000000000000001';

  it('passes once running with both status checks ok, and terminates it', () => {
    const verdict = judge(testInstance(T, image), {}, secondsAfter(TEST, 300));
    expect(verdict).toEqual({
      testInstanceId: T,
      instanceId: A,
      imageId: image.id,
      action: 'passed',
      result: { at: secondsAfter(TEST, 300), passed: true },
      terminate: true,
    });
    expect(resultTag(verdict as NonNullable<typeof verdict>)).toBe(`${secondsAfter(TEST, 300).toISOString()} passed`);
  });

  it.each<[CheckStatus, CheckStatus]>([
    ['initializing', 'initializing'],
    ['initializing', 'ok'],
    ['ok', 'initializing'],
    ['insufficient-data', 'ok'],
  ])('waits while the checks are %s / %s within the timeout', (instanceStatus, systemStatus) => {
    expect(judge(testInstance(T, image), { instanceStatus, systemStatus }, secondsAfter(TEST, 600))).toMatchObject({
      action: 'wait',
      terminate: false,
    });
  });

  it('waits while pending within the timeout', () => {
    expect(judge(testInstance(T, image, { state: 'pending' }), undefined, secondsAfter(TEST, 60))).toMatchObject({
      action: 'wait',
      terminate: false,
    });
  });

  it.each<[CheckStatus, CheckStatus]>([
    ['impaired', 'ok'],
    ['ok', 'impaired'],
    ['impaired', 'impaired'],
  ])('fails at once when the checks are %s / %s', (instanceStatus, systemStatus) => {
    expect(judge(testInstance(T, image), { instanceStatus, systemStatus }, secondsAfter(TEST, 300))).toMatchObject({
      action: 'failed',
      reason: `status checks impaired (instance ${instanceStatus}, system ${systemStatus})`,
      result: { passed: false },
      terminate: true,
    });
  });

  it.each<InstanceState>(['pending', 'running'])('times out %s at the timeout, not a minute before', (state) => {
    const test = testInstance(T, image, { state });
    const checks = state === 'running' ? { instanceStatus: 'initializing' as const } : undefined;
    expect(judge(test, checks, secondsAfter(TEST, 20 * 60 - 60))?.action).toBe('wait');
    expect(judge(test, checks, secondsAfter(TEST, 20 * 60))).toMatchObject({
      action: 'failed',
      reason: expect.stringMatching(/^not running with both status checks ok within 20 minutes \(/),
      terminate: true,
    });
  });

  it.each<InstanceState>(['stopping', 'stopped'])('fails a test instance %s', (state) => {
    expect(judge(testInstance(T, image, { state }), undefined, secondsAfter(TEST, 300))).toMatchObject({
      action: 'failed',
      reason: `test instance ${state}`,
      terminate: true,
    });
  });

  it.each<InstanceState>(['shutting-down', 'terminated'])(
    'fails a test instance %s by someone else before a result, without terminating it again',
    (state) => {
      expect(judge(testInstance(T, image, { state }), undefined, secondsAfter(TEST, 300))).toMatchObject({
        action: 'failed',
        reason: `test instance ${state} before its status checks passed`,
        terminate: false,
      });
    },
  );

  it('only terminates a test instance whose result is recorded (a crash after recording)', () => {
    const recorded = backup('ami-0000000a1', A, 1, tested(secondsAfter(TEST, 300)));
    expect(judge(testInstance(T, recorded), {}, secondsAfter(TEST, 600), [recorded])).toMatchObject({
      action: 'terminate',
      terminate: true,
    });
    expect(
      judge(testInstance(T, recorded, { state: 'terminated' }), {}, secondsAfter(TEST, 600), [recorded]),
    ).toMatchObject({ action: 'done', terminate: false });
  });

  it('does not take an earlier test’s result for this one', () => {
    const earlier = backup('ami-0000000a1', A, 1, tested(daysBefore(TEST, 7)));
    expect(judge(testInstance(T, earlier), {}, secondsAfter(TEST, 300), [earlier])?.action).toBe('passed');
  });

  it('terminates a test instance whose image is gone, recording nothing', () => {
    expect(judge(testInstance(T, image), {}, secondsAfter(TEST, 300), [])).toEqual({
      testInstanceId: T,
      instanceId: A,
      imageId: image.id,
      action: 'terminate',
      reason: 'its image is gone',
      terminate: true,
    });
  });

  it('leaves alone instances that are not the service’s test instances', () => {
    const notOurs = testInstance(T, image, { tags: { [ImageTag.managedBy]: 'ami-backup-prod' } });
    const { [RestoreTestTag.testInstance]: _marker, ...untagged } = testInstance(T, image).tags;
    expect(
      judgeTests([notOurs, { ...testInstance(T, image), tags: untagged }], [image], new Map(), OWNER, TEST, SETTINGS),
    ).toEqual([]);
  });

  it('terminates every test instance older than the timeout, whatever its state and checks', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<InstanceState>('pending', 'running', 'stopping', 'stopped'),
        fc.constantFrom<CheckStatus>('ok', 'impaired', 'initializing', 'insufficient-data', 'not-applicable'),
        fc.constantFrom<CheckStatus>('ok', 'impaired', 'initializing', 'insufficient-data', 'not-applicable'),
        fc.boolean(),
        fc.integer({ min: 20 * 60, max: 7 * 86_400 }),
        (state, instanceStatus, systemStatus, recorded, age) => {
          const tagged = recorded ? backup('ami-0000000a1', A, 1, tested(secondsAfter(TEST, 60))) : image;
          const verdict = judge(
            testInstance(T, tagged, { state }),
            { instanceStatus, systemStatus },
            secondsAfter(TEST, age),
            [tagged],
          );
          expect(verdict?.terminate).toBe(true);
          expect(['passed', 'failed', 'terminate']).toContain(verdict?.action);
        },
      ),
    );
  });
});

describe('the newest good images', () => {
  it('takes the newest good own image of each instance, newer id first on a tie', () => {
    const images = [
      backup('ami-0000000a1', A, 2),
      backup('ami-0000000a2', A, 1),
      backup('ami-0000000a3', A, 1),
      backup('ami-0000000b1', B, 1, { [ImageTag.managedBy]: 'someone' }),
    ];
    expect([...newestGoodImages(images, OURS)].map(([id, image]) => [id, image.id])).toEqual([[A, 'ami-0000000a3']]);
  });
});
