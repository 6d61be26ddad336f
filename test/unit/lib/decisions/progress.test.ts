import fc from 'fast-check';
import {
  decideImageOutcome,
  decidePass,
  healthyTags,
  IMAGE_VISIBILITY_GRACE_SECONDS,
  imageOutcomeTags,
  imagingSince,
  imagingTags,
  isDown,
  missedLastWindow,
  needsHealth,
  needsImage,
  outcomeTags,
  type ProgressDecision,
  type ProgressSettings,
  type RunInProgress,
  runImageName,
  runOf,
} from '../../../../lib/decisions/progress';
import type { CheckStatus, Image, ImageState, Instance, InstanceHealth, InstanceState } from '../../../../lib/model';
import {
  Approval,
  ApprovalTag,
  AUTO_SCALING_GROUP_TAG,
  BackupStep,
  FailureKind,
  formatRunId,
  ImageMode,
  ImageTag,
  InstanceTag,
  imageName,
  OperatorTag,
  type Tags,
} from '../../../../lib/tags';
import { anyImageState, anyInstanceState, instance, NIGHT, OPT_IN, OWNER, ownedImage, secondsAfter } from '../builders';

const OPTED_IN: Tags = { [OPT_IN.key]: OPT_IN.value };

const SETTINGS: ProgressSettings = {
  optIn: OPT_IN,
  owner: OWNER,
  defaultRetain: 7,
  rebootGraceSeconds: 300,
  readyTimeoutSeconds: 3600,
  imageTimeoutSeconds: 86_400,
  maxDownPerGroup: 1,
  maxConcurrentReboots: 50,
  rebootWindowMinutes: 180,
};
const ID = 'i-0123456789abcdef0';
const RUN_ID = formatRunId(NIGHT);
const RUN_IMAGE_NAME = imageName(ID, RUN_ID);
const OK: InstanceHealth = { instanceStatus: 'ok', systemStatus: 'ok' };
const WINDOW_END_SECONDS = SETTINGS.rebootWindowMinutes * 60;

/** The moment `seconds` after the run started. */
const atSecond = (seconds: number) => secondsAfter(NIGHT, seconds);

/** An instance queued in tonight's run. */
function queued(id: string, state: InstanceState = 'running', tags: Tags = {}): Instance {
  return instance(id, state, {
    ...OPTED_IN,
    [InstanceTag.state]: BackupStep.queued,
    [InstanceTag.run]: RUN_ID,
    [InstanceTag.since]: NIGHT.toISOString(),
    ...tags,
  });
}

/** An instance imaging in tonight's run, imaged in `mode` at `since` (and back healthy at `healthyAt`, if given). */
function imaging(
  id: string,
  mode: ImageMode,
  options: { since?: Date; healthyAt?: Date; state?: InstanceState; tags?: Tags } = {},
): Instance {
  const since = options.since ?? NIGHT;
  return instance(id, options.state ?? 'running', {
    ...OPTED_IN,
    [InstanceTag.state]: BackupStep.imaging,
    [InstanceTag.run]: RUN_ID,
    [InstanceTag.since]: since.toISOString(),
    [InstanceTag.imageMode]: mode,
    ...(options.healthyAt === undefined ? {} : { [InstanceTag.healthyAt]: options.healthyAt.toISOString() }),
    ...options.tags,
  });
}

/** The run's image of `id` (name and tags as the service makes them). */
function runImage(
  id: string,
  state: ImageState,
  options: { createdAt?: Date; stateReason?: string; tags?: Tags; mode?: ImageMode } = {},
): Image {
  const image = ownedImage(`ami-0${id.slice(2, 18).padEnd(16, '0')}`, id, {
    ...options,
    state,
    name: imageName(id, RUN_ID),
  });
  // No outcome recorded yet, unless the test says so.
  const { [InstanceTag.state]: _recorded, ...tags } = image.tags;
  return {
    ...image,
    tags: { ...tags, [ImageTag.run]: RUN_ID, [ImageTag.imageMode]: options.mode ?? ImageMode.reboot, ...options.tags },
  };
}

/** One instance's decision in a pass of its own. */
function decideOne(progress: RunInProgress, now: Date, settings = SETTINGS): ProgressDecision {
  const [decision] = decidePass([progress], now, settings);
  if (decision === undefined) throw new Error('no decision');
  return decision;
}

function byId(decisions: readonly ProgressDecision[]): Map<string, ProgressDecision> {
  return new Map(decisions.map((decision) => [decision.instanceId, decision]));
}

function creations(decisions: readonly ProgressDecision[]): Array<[string, ImageMode]> {
  return decisions.flatMap((decision) =>
    decision.kind === 'create-image' ? [[decision.instanceId, decision.request.mode] as [string, ImageMode]] : [],
  );
}

describe('runOf and runImageName', () => {
  it('reads the run from the step tags, and names its image', () => {
    expect(runOf(queued(ID))).toEqual({ runId: RUN_ID, since: NIGHT, step: 'queued' });
    expect(runImageName(queued(ID))).toBe(RUN_IMAGE_NAME);
  });

  it.each<Tags>([
    { [InstanceTag.state]: 'queued', [InstanceTag.run]: RUN_ID },
    { [InstanceTag.state]: 'queued', [InstanceTag.since]: NIGHT.toISOString() },
    { [InstanceTag.state]: 'queued', [InstanceTag.run]: RUN_ID, [InstanceTag.since]: 'last night' },
  ])('knows no run when a step tag is missing or unreadable (%#)', (tags) => {
    expect(runOf(instance(ID, 'running', tags))).toBeUndefined();
  });
});

describe('isDown, needsHealth and needsImage', () => {
  it('counts an instance down from its image reboot until it is seen back healthy', () => {
    expect(isDown(imaging(ID, ImageMode.reboot))).toBe(true);
    expect(isDown(imaging(ID, ImageMode.reboot, { healthyAt: atSecond(360) }))).toBe(false);
    // A return seen before this step began is an earlier one.
    expect(isDown(imaging(ID, ImageMode.reboot, { since: atSecond(600), healthyAt: atSecond(360) }))).toBe(true);
  });

  it.each([ImageMode.noReboot, ImageMode.stopped])('never counts an instance imaged in %s mode as down', (mode) => {
    expect(isDown(imaging(ID, mode))).toBe(false);
  });

  it('never counts a queued or finished instance as down', () => {
    expect(isDown(queued(ID))).toBe(false);
    expect(isDown(instance(ID, 'running', { [InstanceTag.state]: BackupStep.succeeded }))).toBe(false);
  });

  it('asks for status checks only once the grace period after the image reboot is over', () => {
    const down = imaging(ID, ImageMode.reboot);
    expect(needsHealth(down, atSecond(SETTINGS.rebootGraceSeconds - 1), SETTINGS)).toBe(false);
    expect(needsHealth(down, atSecond(SETTINGS.rebootGraceSeconds), SETTINGS)).toBe(true);
    expect(needsHealth(imaging(ID, ImageMode.reboot, { state: 'stopped' }), atSecond(900), SETTINGS)).toBe(false);
    expect(needsHealth(imaging(ID, ImageMode.noReboot), atSecond(900), SETTINGS)).toBe(false);
  });

  it('asks for images only of imaging instances past their grace period, never of queued ones', () => {
    expect(needsImage(queued(ID), atSecond(900), SETTINGS)).toBe(false);
    expect(needsImage(imaging(ID, ImageMode.noReboot), atSecond(1), SETTINGS)).toBe(true);
    expect(needsImage(imaging(ID, ImageMode.reboot), atSecond(299), SETTINGS)).toBe(false);
    expect(needsImage(imaging(ID, ImageMode.reboot), atSecond(300), SETTINGS)).toBe(true);
  });
});

describe('imagingSince', () => {
  it.each([
    ['2026-11-26T03:00:00.000Z', '2026-11-26T03:00:00.000Z'],
    ['2026-11-26T03:00:00.001Z', '2026-11-26T03:00:00.000Z'],
    ['2026-11-26T03:00:59.999Z', '2026-11-26T03:00:00.000Z'],
  ])('takes the minute of a call at %s: %s', (called, since) => {
    expect(imagingSince(new Date(called)).toISOString()).toBe(since);
  });

  it('is never later than the call, and less than a minute earlier', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), (ms) => {
        const since = imagingSince(new Date(ms)).getTime();
        expect(since).toBeLessThanOrEqual(ms);
        expect(ms - since).toBeLessThan(60_000);
      }),
    );
  });
});

describe('missedLastWindow', () => {
  const missed = `20261125T0300Z: ${FailureKind.missedWindow}: its turn for an image reboot did not come`;

  it('is true after a run that missed its window, until a later success', () => {
    expect(missedLastWindow(instance(ID, 'running', { [InstanceTag.lastError]: missed }))).toBe(true);
    expect(
      missedLastWindow(
        instance(ID, 'running', { [InstanceTag.lastError]: missed, [InstanceTag.lastSuccess]: '20261124T0300Z' }),
      ),
    ).toBe(true);
    expect(
      missedLastWindow(
        instance(ID, 'running', { [InstanceTag.lastError]: missed, [InstanceTag.lastSuccess]: '20261126T0300Z' }),
      ),
    ).toBe(false);
  });

  it.each([undefined, '20261125T0300Z: image ami-1 is failed', 'missed-window without a run'])(
    'is false for any other last error (%p)',
    (lastError) => {
      const tags: Tags = lastError === undefined ? {} : { [InstanceTag.lastError]: lastError };
      expect(missedLastWindow(instance(ID, 'running', tags))).toBe(false);
    },
  );
});

describe('decidePass: a queued instance', () => {
  it('is imaged through EC2 reboot when it runs in reboot mode and its turn has come', () => {
    const decision = decideOne({ instance: queued(ID) }, atSecond(60));
    expect(decision).toMatchObject({ kind: 'create-image', instanceId: ID, runId: RUN_ID });
    expect(decision.kind === 'create-image' && decision.request).toEqual({
      instanceId: ID,
      name: RUN_IMAGE_NAME,
      description: `ami-backup of ${ID}, run ${RUN_ID}`,
      mode: ImageMode.reboot,
      tags: {
        [ImageTag.managedBy]: OWNER,
        [ImageTag.instanceId]: ID,
        [ImageTag.run]: RUN_ID,
        [ImageTag.imageMode]: ImageMode.reboot,
        [ImageTag.retain]: '7',
      },
    });
  });

  it('is imaged crash-consistent, at once, in no-reboot mode', () => {
    const decision = decideOne({ instance: queued(ID, 'running', { [OperatorTag.mode]: 'no-reboot' }) }, atSecond(60));
    expect(decision.kind === 'create-image' && decision.request.mode).toBe(ImageMode.noReboot);
  });

  it.each(['reboot', 'no-reboot'])('is imaged at rest, at once, when stopped (mode %s)', (mode) => {
    const decision = decideOne({ instance: queued(ID, 'stopped', { [OperatorTag.mode]: mode }) }, atSecond(60));
    expect(decision.kind === 'create-image' && decision.request.mode).toBe(ImageMode.stopped);
  });

  it.each<InstanceState>(['pending', 'stopping'])('waits while %s, then misses the window', (state) => {
    expect(decideOne({ instance: queued(ID, state) }, atSecond(WINDOW_END_SECONDS - 1)).kind).toBe('wait');
    expect(decideOne({ instance: queued(ID, state) }, atSecond(WINDOW_END_SECONDS))).toMatchObject({
      kind: 'failed',
      reason: expect.stringMatching(new RegExp(`^${FailureKind.missedWindow}: instance still ${state}`)),
    });
  });

  it('is not rebooted once the window is over: it misses the window, recorded', () => {
    expect(decideOne({ instance: queued(ID) }, atSecond(WINDOW_END_SECONDS))).toMatchObject({
      kind: 'failed',
      reason: expect.stringMatching(new RegExp(`^${FailureKind.missedWindow}: its turn`)),
    });
  });

  it('is still imaged without downtime after the window (a stopped or no-reboot instance holds no group back)', () => {
    const late = atSecond(WINDOW_END_SECONDS + 600);
    expect(decideOne({ instance: queued(ID, 'stopped') }, late).kind).toBe('create-image');
    expect(decideOne({ instance: queued(ID, 'running', { [OperatorTag.mode]: 'no-reboot' }) }, late).kind).toBe(
      'create-image',
    );
  });

  it.each<InstanceState>(['terminated', 'shutting-down'])('fails when %s', (state) => {
    expect(decideOne({ instance: queued(ID, state) }, atSecond(60))).toMatchObject({
      kind: 'failed',
      reason: `instance is ${state}`,
    });
  });

  it('fails when its mode became invalid since the start', () => {
    expect(decideOne({ instance: queued(ID, 'running', { [OperatorTag.mode]: 'fast' }) }, atSecond(60))).toMatchObject({
      kind: 'failed',
      reason: expect.stringContaining(OperatorTag.mode),
    });
  });

  it('records no retention on the image when the operator tags are invalid', () => {
    const decision = decideOne({ instance: queued(ID, 'running', { [OperatorTag.retain]: 'abc' }) }, atSecond(60));
    expect(decision.kind === 'create-image' && decision.request.tags).not.toHaveProperty([ImageTag.retain]);
  });
});

describe('decidePass: staggering', () => {
  const web = (n: number, state: InstanceState = 'running') =>
    queued(`i-0000000${n}`, state, { [OperatorTag.group]: 'web' });

  it('images one member of a group at a time, in id order', () => {
    const decisions = decidePass(
      [{ instance: web(3) }, { instance: web(1) }, { instance: web(2) }],
      atSecond(60),
      SETTINGS,
    );
    expect(creations(decisions)).toEqual([['i-00000001', ImageMode.reboot]]);
    expect(byId(decisions).get('i-00000002')).toMatchObject({
      kind: 'wait',
      reason: expect.stringContaining('group web: 1'),
    });
  });

  it('numbers the turns it starts: last night’s missed first, then the groups with the most members still to image', () => {
    // Prepare: group a has one member queued, b three, c two; the lone instance (no group) sorts first by id.
    const member = (id: string, group: string | undefined, tags: Tags = {}) =>
      queued(id, 'running', { ...(group === undefined ? {} : { [OperatorTag.group]: group }), ...tags });
    const missedLastNight = {
      [InstanceTag.lastError]: `${formatRunId(secondsAfter(NIGHT, -86_400))}: missed-window: not imaged in time`,
    };
    const instances = [
      member('i-00000001', undefined),
      member('i-00000002', 'a'),
      member('i-00000009', 'b'),
      member('i-00000008', 'b'),
      member('i-00000007', 'b'),
      member('i-00000006', 'c'),
      member('i-00000005', 'c'),
      member('i-0000000f', undefined, missedLastNight),
    ];

    // Act
    const decisions = decidePass(
      instances.map((instance) => ({ instance })),
      atSecond(60),
      SETTINGS,
    );

    // Assess: one member a group; the calls' order is the turns'.
    const turns = decisions
      .flatMap((decision) => (decision.kind === 'create-image' ? [[decision.turn, decision.instanceId] as const] : []))
      .sort(([a], [b]) => (a ?? 0) - (b ?? 0))
      .map(([, id]) => id);
    expect(turns).toEqual(['i-0000000f', 'i-00000007', 'i-00000005', 'i-00000001', 'i-00000002']);
  });

  it('waits while a member is down, and starts the next in the pass that finds it back healthy', () => {
    const down = imaging('i-00000001', ImageMode.reboot, { tags: { [OperatorTag.group]: 'web' } });
    const waiting = decidePass([{ instance: down }, { instance: web(2) }], atSecond(200), SETTINGS);
    expect(creations(waiting)).toEqual([]);

    const back = decidePass(
      [{ instance: down, health: OK, image: runImage('i-00000001', 'pending') }, { instance: web(2) }],
      atSecond(360),
      SETTINGS,
    );
    expect(byId(back).get('i-00000001')?.kind).toBe('healthy');
    expect(creations(back)).toEqual([['i-00000002', ImageMode.reboot]]);
  });

  it('moves on from a member that failed verification', () => {
    const down = imaging('i-00000001', ImageMode.reboot, { tags: { [OperatorTag.group]: 'web' } });
    const health: InstanceHealth = { instanceStatus: 'impaired', systemStatus: 'ok' };
    const decisions = decidePass([{ instance: down, health }, { instance: web(2) }], atSecond(3601), SETTINGS);
    expect(byId(decisions).get('i-00000001')?.kind).toBe('failed');
    expect(creations(decisions)).toEqual([['i-00000002', ImageMode.reboot]]);
  });

  it('does not hold back group members imaged without downtime', () => {
    const down = imaging('i-00000001', ImageMode.reboot, { tags: { [OperatorTag.group]: 'web' } });
    const decisions = decidePass(
      [
        { instance: down },
        { instance: queued('i-00000002', 'stopped', { [OperatorTag.group]: 'web' }) },
        { instance: queued('i-00000003', 'running', { [OperatorTag.group]: 'web', [OperatorTag.mode]: 'no-reboot' }) },
      ],
      atSecond(60),
      SETTINGS,
    );
    expect(creations(decisions)).toEqual([
      ['i-00000002', ImageMode.stopped],
      ['i-00000003', ImageMode.noReboot],
    ]);
  });

  it('groups Auto Scaling members by their group, unless they carry their own group tag', () => {
    const asg = (n: number, tags: Tags = {}) =>
      queued(`i-0000000${n}`, 'running', { [AUTO_SCALING_GROUP_TAG]: 'web-asg', ...tags });
    const decisions = decidePass(
      [{ instance: asg(1) }, { instance: asg(2) }, { instance: asg(3, { [OperatorTag.group]: 'canary' }) }],
      atSecond(60),
      SETTINGS,
    );
    expect(creations(decisions).map(([id]) => id)).toEqual(['i-00000001', 'i-00000003']);
  });

  it('lets maxDownPerGroup members of a group down at once', () => {
    const decisions = decidePass(
      [1, 2, 3].map((n) => ({ instance: web(n) })),
      atSecond(60),
      {
        ...SETTINGS,
        maxDownPerGroup: 2,
      },
    );
    expect(creations(decisions).map(([id]) => id)).toEqual(['i-00000001', 'i-00000002']);
  });

  it('never has more than maxConcurrentReboots down fleet-wide, counting those already down', () => {
    const alreadyDown = imaging('i-00000009', ImageMode.reboot);
    const loose = [1, 2, 3, 4].map((n) => ({ instance: queued(`i-0000000${n}`) }));
    const decisions = decidePass([{ instance: alreadyDown }, ...loose], atSecond(60), {
      ...SETTINGS,
      maxConcurrentReboots: 3,
    });
    expect(creations(decisions).map(([id]) => id)).toEqual(['i-00000001', 'i-00000002']);
    expect(byId(decisions).get('i-00000003')).toMatchObject({
      kind: 'wait',
      reason: expect.stringContaining('fleet-wide cap'),
    });
  });

  it('takes first, in every group, the instances whose last run missed its window', () => {
    const missed = `20261125T0300Z: ${FailureKind.missedWindow}: its turn for an image reboot did not come`;
    const decisions = decidePass(
      [
        { instance: web(1) },
        { instance: queued('i-00000005', 'running', { [OperatorTag.group]: 'web', [InstanceTag.lastError]: missed }) },
      ],
      atSecond(60),
      SETTINGS,
    );
    expect(creations(decisions).map(([id]) => id)).toEqual(['i-00000005']);
  });

  it('picks the same instances whatever order the instances are listed in (two passes at once agree)', () => {
    const fleet = fc.uniqueArray(
      fc.record({
        n: fc.integer({ min: 10, max: 99 }),
        group: fc.constantFrom('a', 'b', undefined),
        down: fc.boolean(),
      }),
      { selector: (member) => member.n, maxLength: 20 },
    );
    fc.assert(
      fc.property(fleet, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 10 }), (members, perGroup, cap) => {
        const settings = { ...SETTINGS, maxDownPerGroup: perGroup, maxConcurrentReboots: cap };
        const runs = members.map(({ n, group, down }) => {
          const tags: Tags = group === undefined ? {} : { [OperatorTag.group]: group };
          const id = `i-000000${n}`;
          return { instance: down ? imaging(id, ImageMode.reboot, { tags }) : queued(id, 'running', tags) };
        });
        const once = creations(decidePass(runs, atSecond(60), settings)).sort();
        const reversed = creations(decidePass([...runs].reverse(), atSecond(60), settings)).sort();
        expect(reversed).toEqual(once);
        // And never more down than allowed, in a group or in all.
        const downAfter = new Map<string, number>();
        let total = 0;
        for (const { instance: subject } of runs) {
          const started = once.some(([id]) => id === subject.id);
          if (!isDown(subject) && !started) continue;
          total += 1;
          const group = subject.tags[OperatorTag.group];
          if (group !== undefined) downAfter.set(group, (downAfter.get(group) ?? 0) + 1);
        }
        const startedAny = once.length > 0;
        if (startedAny) expect(total).toBeLessThanOrEqual(cap);
        for (const [group, count] of downAfter) {
          const startedInGroup = once.some(
            ([id]) => runs.find((run) => run.instance.id === id)?.instance.tags[OperatorTag.group] === group,
          );
          if (startedInGroup) expect(count).toBeLessThanOrEqual(perGroup);
        }
      }),
    );
  });
});

describe('decidePass: an instance in its image reboot', () => {
  it('waits out the grace period even when the checks already say ok', () => {
    expect(decideOne({ instance: imaging(ID, ImageMode.reboot), health: OK }, atSecond(299))).toMatchObject({
      kind: 'wait',
      reason: expect.stringContaining('grace period'),
    });
  });

  it('is back healthy once the grace period is over and both checks are ok; the image is still pending', () => {
    expect(
      decideOne({ instance: imaging(ID, ImageMode.reboot), health: OK, image: runImage(ID, 'pending') }, atSecond(300)),
    ).toMatchObject({ kind: 'healthy', reason: expect.stringContaining('back healthy') });
  });

  it('succeeds at once when back healthy and its image is available', () => {
    const image = runImage(ID, 'available');
    expect(decideOne({ instance: imaging(ID, ImageMode.reboot), health: OK, image }, atSecond(300))).toEqual({
      kind: 'succeeded',
      instanceId: ID,
      runId: RUN_ID,
      image,
    });
  });

  it('does not succeed on an available image while the instance is not back', () => {
    const image = runImage(ID, 'available');
    const health: InstanceHealth = { instanceStatus: 'initializing', systemStatus: 'ok' };
    expect(decideOne({ instance: imaging(ID, ImageMode.reboot), health, image }, atSecond(400)).kind).toBe('wait');
  });

  it('fails when back healthy but its image failed', () => {
    const image = runImage(ID, 'failed', { stateReason: 'snapshot error' });
    expect(decideOne({ instance: imaging(ID, ImageMode.reboot), health: OK, image }, atSecond(300))).toMatchObject({
      kind: 'failed',
      imageId: image.id,
      reason: expect.stringContaining('snapshot error'),
    });
  });

  it.each<[CheckStatus, CheckStatus]>([
    ['initializing', 'ok'],
    ['ok', 'initializing'],
    ['impaired', 'ok'],
    ['ok', 'impaired'],
    ['insufficient-data', 'insufficient-data'],
    ['not-applicable', 'ok'],
  ])('waits while the instance check is %s and the system check %s', (instanceStatus, systemStatus) => {
    const decision = decideOne(
      { instance: imaging(ID, ImageMode.reboot), health: { instanceStatus, systemStatus } },
      atSecond(600),
    );
    expect(decision).toMatchObject({ kind: 'wait', reason: expect.stringContaining(instanceStatus) });
  });

  it('fails verification after the ready timeout, naming the check and keeping the image id', () => {
    const image = runImage(ID, 'available');
    const health: InstanceHealth = { instanceStatus: 'impaired', systemStatus: 'ok' };
    expect(decideOne({ instance: imaging(ID, ImageMode.reboot), health, image }, atSecond(3600)).kind).toBe('wait');
    expect(decideOne({ instance: imaging(ID, ImageMode.reboot), health, image }, atSecond(3601))).toEqual({
      kind: 'failed',
      instanceId: ID,
      runId: RUN_ID,
      imageId: image.id,
      reason: `${FailureKind.failedVerification}: not back healthy 3600 s after its image's reboot (status checks: instance impaired, system ok)`,
    });
  });

  it.each<InstanceState>(['terminated', 'shutting-down'])('fails verification at once when %s', (state) => {
    expect(decideOne({ instance: imaging(ID, ImageMode.reboot, { state }) }, atSecond(60))).toMatchObject({
      kind: 'failed',
      reason: expect.stringMatching(new RegExp(`^${FailureKind.failedVerification}: .*instance is ${state}`)),
    });
  });

  it('counts from its own since: a slow start of the pass never shortens the grace', () => {
    const late = imaging(ID, ImageMode.reboot, { since: atSecond(200) });
    expect(decideOne({ instance: late, health: OK }, atSecond(499)).kind).toBe('wait');
    expect(decideOne({ instance: late, health: OK, image: runImage(ID, 'pending') }, atSecond(500)).kind).toBe(
      'healthy',
    );
  });
});

describe('decidePass: an imaging instance whose outcome depends on its image alone', () => {
  const cases: Array<[string, Instance]> = [
    ['no-reboot', imaging(ID, ImageMode.noReboot)],
    ['stopped', imaging(ID, ImageMode.stopped, { state: 'stopped' })],
    ['back healthy', imaging(ID, ImageMode.reboot, { healthyAt: atSecond(320) })],
  ];

  it.each(cases)('succeeds once the image is available (%s)', (_, subject) => {
    expect(decideOne({ instance: subject, image: runImage(ID, 'available') }, atSecond(400)).kind).toBe('succeeded');
  });

  it.each(cases)('waits while the image is pending (%s), then fails at the image timeout', (_, subject) => {
    const image = runImage(ID, 'pending', { createdAt: NIGHT });
    expect(decideOne({ instance: subject, image }, atSecond(86_400)).kind).toBe('wait');
    expect(decideOne({ instance: subject, image }, atSecond(86_401))).toMatchObject({
      kind: 'failed',
      reason: expect.stringContaining('still pending after 86400 s'),
    });
  });

  it.each<ImageState>(['failed', 'error', 'invalid', 'deregistered', 'disabled'])(
    'fails when the image is %s',
    (state) => {
      expect(
        decideOne({ instance: imaging(ID, ImageMode.noReboot), image: runImage(ID, state) }, atSecond(400)),
      ).toMatchObject({
        kind: 'failed',
        reason: expect.stringContaining(`is ${state}`),
      });
    },
  );

  it('waits for an image not visible yet during the visibility grace, then fails', () => {
    expect(
      decideOne({ instance: imaging(ID, ImageMode.noReboot) }, atSecond(IMAGE_VISIBILITY_GRACE_SECONDS)).kind,
    ).toBe('wait');
    expect(
      decideOne({ instance: imaging(ID, ImageMode.noReboot) }, atSecond(IMAGE_VISIBILITY_GRACE_SECONDS + 1)),
    ).toMatchObject({
      kind: 'failed',
      reason: `image ${RUN_IMAGE_NAME} no longer exists`,
    });
  });

  it('fails when the run name is taken by an image made from another instance, whatever its tags', () => {
    const forged = { ...runImage(ID, 'available'), sourceInstanceId: 'i-0aaaaaaaaaaaaaaaa' };
    expect(decideOne({ instance: imaging(ID, ImageMode.noReboot), image: forged }, atSecond(400))).toMatchObject({
      kind: 'failed',
      reason: expect.stringContaining('did not make from this instance'),
    });
    expect(decideImageOutcome(forged, imaging(ID, ImageMode.noReboot), atSecond(400), SETTINGS).kind).toBe('ignore');
  });

  it('fails when the run name is taken by an image this service does not manage', () => {
    const foreign = { ...runImage(ID, 'available'), tags: { [ImageTag.managedBy]: 'someone-else' } };
    expect(decideOne({ instance: imaging(ID, ImageMode.noReboot), image: foreign }, atSecond(400))).toMatchObject({
      kind: 'failed',
      reason: expect.stringContaining('did not make'),
    });
  });
});

describe('decidePass: any pass', () => {
  it('fails an instance whose step tags cannot be read, instead of leaving it stuck', () => {
    const unreadable = instance(ID, 'running', { [InstanceTag.state]: 'queued', [InstanceTag.run]: RUN_ID });
    expect(decideOne({ instance: unreadable }, atSecond(60))).toMatchObject({ kind: 'failed', runId: RUN_ID });
  });

  it('never succeeds without an owned available image, never images a reboot-mode running instance without a reboot, and never waits forever', () => {
    const steps = fc.constantFrom<'queued' | ImageMode>(
      'queued',
      ImageMode.reboot,
      ImageMode.noReboot,
      ImageMode.stopped,
    );
    const healths = fc.option(
      fc.record({
        instanceStatus: fc.constantFrom<CheckStatus>('ok', 'impaired', 'initializing'),
        systemStatus: fc.constantFrom<CheckStatus>('ok', 'impaired'),
      }),
      { nil: undefined },
    );
    fc.assert(
      fc.property(
        steps,
        anyInstanceState,
        fc.constantFrom('reboot', 'no-reboot'),
        fc.option(anyImageState, { nil: undefined }),
        healths,
        fc.integer({ min: 0, max: 200_000 }),
        (step, state, mode, imageState, health, seconds) => {
          const tags = { [OperatorTag.mode]: mode };
          const subject = step === 'queued' ? queued(ID, state, tags) : imaging(ID, step, { state, tags });
          const image = imageState === undefined ? undefined : runImage(ID, imageState);
          const decision = decideOne(
            { instance: subject, ...(image ? { image } : {}), ...(health ? { health } : {}) },
            atSecond(seconds),
          );
          if (decision.kind === 'succeeded') expect(decision.image.state).toBe('available');
          if (decision.kind === 'create-image' && state === 'running' && mode === 'reboot') {
            expect(decision.request.mode).toBe(ImageMode.reboot);
          }
          if (decision.kind === 'create-image') expect(state === 'running' || state === 'stopped').toBe(true);
          if (seconds > 100_000) expect(decision.kind).not.toBe('wait');
        },
      ),
    );
  });
});

describe('imagingTags and healthyTags', () => {
  it("record the step, the call's minute and the image mode: the same for every call of a pass", () => {
    expect(imagingTags(new Date('2026-11-26T03:00:01.500Z'), ImageMode.reboot)).toEqual({
      [InstanceTag.state]: BackupStep.imaging,
      [InstanceTag.since]: '2026-11-26T03:00:00.000Z',
      [InstanceTag.imageMode]: ImageMode.reboot,
    });
    expect(imagingTags(new Date('2026-11-26T03:00:02Z'), ImageMode.reboot)).toEqual(
      imagingTags(new Date('2026-11-26T03:00:49Z'), ImageMode.reboot),
    );
    expect(healthyTags(NIGHT)).toEqual({ [InstanceTag.healthyAt]: NIGHT.toISOString() });
  });
});

describe('outcomeTags', () => {
  it('records a success with its run, the same tags for every success of the run', () => {
    const one = outcomeTags({ kind: 'succeeded', instanceId: ID, runId: RUN_ID, image: runImage(ID, 'available') });
    const other = outcomeTags({
      kind: 'succeeded',
      instanceId: 'i-00000002',
      runId: RUN_ID,
      image: runImage('i-00000002', 'available'),
    });
    expect(one).toEqual({ [InstanceTag.state]: BackupStep.succeeded, [InstanceTag.lastSuccess]: RUN_ID });
    expect(other).toEqual(one);
  });

  it('records a failure with its run and reason, cut to a valid tag value', () => {
    expect(outcomeTags({ kind: 'failed', instanceId: ID, runId: RUN_ID, reason: 'x'.repeat(400) })).toEqual({
      [InstanceTag.state]: BackupStep.failed,
      [InstanceTag.lastError]: expect.stringMatching(new RegExp(`^${RUN_ID}: x+…$`)),
    });
  });
});

describe('imageOutcomeTags', () => {
  it('approves a good backup on its image, with the outcome, the same tags for every success of the run', () => {
    const tags = imageOutcomeTags({
      kind: 'succeeded',
      instanceId: ID,
      runId: RUN_ID,
      image: runImage(ID, 'available'),
    });
    expect(tags).toEqual({
      [InstanceTag.state]: BackupStep.succeeded,
      [InstanceTag.lastSuccess]: RUN_ID,
      [ApprovalTag.approved]: Approval.verified,
    });
  });

  it('approves no failed image: it gets the outcome alone', () => {
    const failed = { kind: 'failed', instanceId: ID, runId: RUN_ID, imageId: 'ami-1', reason: 'image failed' } as const;
    expect(imageOutcomeTags(failed)).toEqual(outcomeTags(failed));
    expect(imageOutcomeTags(failed)).not.toHaveProperty([ApprovalTag.approved]);
  });
});

describe('decideImageOutcome', () => {
  const now = atSecond(400);

  it('records an image made without a reboot from the image alone', () => {
    const image = runImage(ID, 'available', { mode: ImageMode.noReboot });
    const subject = imaging(ID, ImageMode.noReboot);
    expect(decideImageOutcome(image, subject, now, SETTINGS)).toEqual({
      kind: 'record',
      decision: { kind: 'succeeded', instanceId: ID, runId: RUN_ID, image },
    });
    const failed = runImage(ID, 'failed', { mode: ImageMode.stopped, stateReason: 'boom' });
    expect(decideImageOutcome(failed, subject, now, SETTINGS)).toMatchObject({
      kind: 'record',
      decision: { kind: 'failed', imageId: failed.id, reason: expect.stringContaining('boom') },
    });
  });

  it('records an image made with a reboot only once its instance is back healthy', () => {
    const image = runImage(ID, 'available');
    expect(decideImageOutcome(image, undefined, now, SETTINGS).kind).toBe('ignore');
    expect(decideImageOutcome(image, imaging(ID, ImageMode.reboot), now, SETTINGS)).toMatchObject({
      kind: 'ignore',
      reason: expect.stringContaining('not back'),
    });
    expect(
      decideImageOutcome(image, imaging(ID, ImageMode.reboot, { healthyAt: atSecond(320) }), now, SETTINGS),
    ).toMatchObject({ kind: 'record', decision: { kind: 'succeeded' } });
    // Even a failed image waits: its instance is still down, and its group must not move on yet.
    expect(decideImageOutcome(runImage(ID, 'failed'), imaging(ID, ImageMode.reboot), now, SETTINGS).kind).toBe(
      'ignore',
    );
  });

  it('does not take a return from another run for this image', () => {
    const image = runImage(ID, 'available');
    const otherRun = instance(ID, 'running', {
      [InstanceTag.state]: BackupStep.imaging,
      [InstanceTag.run]: '20261127T0300Z',
      [InstanceTag.since]: atSecond(86_400).toISOString(),
      [InstanceTag.imageMode]: ImageMode.reboot,
      [InstanceTag.healthyAt]: atSecond(86_800).toISOString(),
    });
    expect(decideImageOutcome(image, otherRun, now, SETTINGS).kind).toBe('ignore');
  });

  it.each<[string, Image, Date]>([
    ['not managed by this service', { ...runImage(ID, 'available'), tags: {} }, now],
    [
      'named for another run',
      { ...runImage(ID, 'available', { mode: ImageMode.noReboot }), name: 'ami-backup-x' },
      now,
    ],
    [
      'already recorded',
      runImage(ID, 'available', { mode: ImageMode.noReboot, tags: { [InstanceTag.state]: 'succeeded' } }),
      now,
    ],
    ['still pending', runImage(ID, 'pending', { mode: ImageMode.noReboot }), now],
    ['older than the image timeout', runImage(ID, 'available', { mode: ImageMode.noReboot }), atSecond(86_401)],
  ])('ignores an image %s', (_, image, at) => {
    expect(decideImageOutcome(image, undefined, at, SETTINGS).kind).toBe('ignore');
  });
});

describe('an instance opted out mid-run', () => {
  /** The instance without its opt-in tag. */
  const optedOut = (subject: Instance): Instance => {
    const { [OPT_IN.key]: _optIn, ...tags } = subject.tags;
    return { ...subject, tags };
  };

  it('is dropped while queued: never imaged, nothing recorded', () => {
    expect(decideOne({ instance: optedOut(queued(ID)) }, atSecond(60))).toMatchObject({
      kind: 'skip',
      reason: 'opted out: dropped from the run',
    });
  });

  it('has its image outcome recorded on the image alone, once', () => {
    const image = runImage(ID, 'available', { mode: ImageMode.noReboot });
    expect(decideOne({ instance: optedOut(imaging(ID, ImageMode.noReboot)), image }, atSecond(400))).toEqual({
      kind: 'succeeded',
      instanceId: ID,
      runId: RUN_ID,
      image,
      imageOnly: true,
    });
    const recorded = { ...image, tags: { ...image.tags, [InstanceTag.state]: BackupStep.succeeded } };
    expect(
      decideOne({ instance: optedOut(imaging(ID, ImageMode.noReboot)), image: recorded }, atSecond(460)).kind,
    ).toBe('skip');
  });

  it('records nothing when there is no image to record it on', () => {
    expect(decideOne({ instance: optedOut(imaging(ID, ImageMode.noReboot)) }, atSecond(3600)).kind).toBe('skip');
  });

  it('still holds its group while down, and no longer once back', () => {
    const down = optedOut(imaging('i-00000001', ImageMode.reboot, { tags: { [OperatorTag.group]: 'web' } }));
    const next = queued('i-00000002', 'running', { [OperatorTag.group]: 'web' });
    expect(creations(decidePass([{ instance: down }, { instance: next }], atSecond(120), SETTINGS))).toEqual([]);
    const back = decidePass(
      [{ instance: down, health: OK, image: runImage('i-00000001', 'pending') }, { instance: next }],
      atSecond(300),
      SETTINGS,
    );
    expect(byId(back).get('i-00000001')?.kind).toBe('skip');
    expect(creations(back)).toEqual([['i-00000002', ImageMode.reboot]]);
  });
});

describe('an outcome already recorded on its image', () => {
  it('is recorded on the instance without being published again', () => {
    const image = runImage(ID, 'available', { mode: ImageMode.noReboot, tags: { [InstanceTag.state]: 'succeeded' } });
    expect(decideOne({ instance: imaging(ID, ImageMode.noReboot), image }, atSecond(400))).toMatchObject({
      kind: 'succeeded',
      alreadyPublished: true,
    });
  });
});

describe('decideImageOutcome for an instance gone or opted out', () => {
  it('records on the image alone', () => {
    const image = runImage(ID, 'available', { mode: ImageMode.noReboot });
    const { [OPT_IN.key]: _optIn, ...tags } = imaging(ID, ImageMode.noReboot).tags;
    expect(decideImageOutcome(image, undefined, atSecond(400), SETTINGS)).toMatchObject({
      kind: 'record',
      decision: { imageOnly: true },
    });
    expect(decideImageOutcome(image, instance(ID, 'running', tags), atSecond(400), SETTINGS)).toMatchObject({
      kind: 'record',
      decision: { imageOnly: true },
    });
    expect(decideImageOutcome(image, imaging(ID, ImageMode.noReboot), atSecond(400), SETTINGS)).toEqual({
      kind: 'record',
      decision: { kind: 'succeeded', instanceId: ID, runId: RUN_ID, image },
    });
  });
});
