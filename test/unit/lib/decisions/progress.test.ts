import fc from 'fast-check';
import {
  decideImageOutcome,
  decideProgress,
  IMAGE_VISIBILITY_GRACE_SECONDS,
  imagingTags,
  needsHealth,
  outcomeTags,
  type ProgressSettings,
  runImageName,
  runOf,
} from '../../../../lib/decisions/progress';
import type { CheckStatus, Image, ImageState, Instance, InstanceHealth, InstanceState } from '../../../../lib/model';
import {
  BackupStep,
  formatRunId,
  ImageTag,
  IN_PROGRESS_STEPS,
  InstanceTag,
  imageName,
  OperatorTag,
  type Tags,
} from '../../../../lib/tags';
import { anyImageState, anyInstanceState, instance, NIGHT, OWNER, ownedImage, secondsAfter } from '../builders';

const SETTINGS: ProgressSettings = {
  owner: OWNER,
  defaultRetain: 7,
  rebootGraceSeconds: 300,
  readyTimeoutSeconds: 3600,
  imageTimeoutSeconds: 86_400,
};
const ID = 'i-0123456789abcdef0';
const RUN_ID = formatRunId(NIGHT);
const RUN_IMAGE_NAME = imageName(ID, RUN_ID);
const OK: InstanceHealth = { instanceStatus: 'ok', systemStatus: 'ok' };

/** An instance in step `step` of tonight's run, the step having started at `since`. */
function stepping(step: BackupStep, state: InstanceState = 'running', since = NIGHT, tags: Tags = {}): Instance {
  return instance(ID, state, {
    [InstanceTag.state]: step,
    [InstanceTag.run]: RUN_ID,
    [InstanceTag.since]: since.toISOString(),
    // A rebooting instance whose reboot EC2 accepted, unless a test says otherwise.
    ...(step === BackupStep.rebooting ? { [InstanceTag.rebootedAt]: since.toISOString() } : {}),
    ...tags,
  });
}

/** The run's image (name and tags as the service makes them). */
function runImage(state: ImageState, options: { createdAt?: Date; stateReason?: string; tags?: Tags } = {}): Image {
  return ownedImage('ami-0fedcba9876543210', ID, { ...options, state, name: RUN_IMAGE_NAME });
}

/** The moment `seconds` after the run started. */
const atSecond = (seconds: number) => secondsAfter(NIGHT, seconds);

describe('runOf and runImageName', () => {
  it('read the run an instance is in, and the name its image has', () => {
    // Act / Assess
    expect(runOf(stepping('rebooting'))).toEqual({ runId: RUN_ID, since: NIGHT, step: 'rebooting' });
    expect(runImageName(stepping('rebooting'))).toBe(`ami-backup-${ID}-20261126T0300Z`);
  });

  it.each<Tags>([
    {},
    { [InstanceTag.state]: 'rebooting', [InstanceTag.run]: RUN_ID },
    { [InstanceTag.state]: 'rebooting', [InstanceTag.since]: NIGHT.toISOString() },
    { [InstanceTag.run]: RUN_ID, [InstanceTag.since]: NIGHT.toISOString() },
    { [InstanceTag.state]: 'rebooting', [InstanceTag.run]: RUN_ID, [InstanceTag.since]: 'last night' },
  ])('have no answer when the step tags cannot be read (%p)', (tags) => {
    expect(runOf(instance(ID, 'running', tags))).toBeUndefined();
    expect(runImageName(instance(ID, 'running', tags))).toBeUndefined();
  });
});

describe('needsHealth', () => {
  it('asks for status checks only once the grace period after the reboot is over', () => {
    expect(needsHealth(stepping('rebooting'), atSecond(SETTINGS.rebootGraceSeconds - 1), SETTINGS)).toBe(false);
    expect(needsHealth(stepping('rebooting'), atSecond(SETTINGS.rebootGraceSeconds), SETTINGS)).toBe(true);
    expect(needsHealth(stepping('rebooting'), atSecond(SETTINGS.readyTimeoutSeconds * 2), SETTINGS)).toBe(true);
  });

  it.each<[BackupStep, InstanceState]>([
    ['rebooting', 'stopped'],
    ['rebooting', 'pending'],
    ['rebooting', 'terminated'],
    ['queued', 'running'],
    ['imaging', 'running'],
  ])('does not ask for a %s instance that is %s (its decision does not depend on them)', (step, state) => {
    expect(needsHealth(stepping(step, state), atSecond(3000), SETTINGS)).toBe(false);
  });

  it('does not ask for an instance whose step tags cannot be read', () => {
    expect(needsHealth(instance(ID, 'running', { [InstanceTag.state]: 'rebooting' }), atSecond(3000), SETTINGS)).toBe(
      false,
    );
  });
});

describe('decideProgress', () => {
  describe('a rebooting instance', () => {
    it('waits out the grace period even when the checks already say ok: a reboot never leaves running', () => {
      // Act
      const decision = decideProgress({ instance: stepping('rebooting'), health: OK }, atSecond(120), SETTINGS);

      // Assess
      expect(decision).toEqual({
        kind: 'wait',
        instanceId: ID,
        runId: RUN_ID,
        reason: 'reboot grace period (120 of 300 s)',
      });
    });

    it('is imaged once the grace period is over and both status checks are ok', () => {
      // Act
      const decision = decideProgress({ instance: stepping('rebooting'), health: OK }, atSecond(300), SETTINGS);

      // Assess
      expect(decision).toEqual({
        kind: 'create-image',
        instanceId: ID,
        runId: RUN_ID,
        request: {
          instanceId: ID,
          name: RUN_IMAGE_NAME,
          description: `ami-backup of ${ID}, run ${RUN_ID}`,
          tags: {
            [ImageTag.managedBy]: OWNER,
            [ImageTag.instanceId]: ID,
            [ImageTag.run]: RUN_ID,
            [ImageTag.retain]: '7',
          },
        },
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
      // Act
      const decision = decideProgress(
        { instance: stepping('rebooting'), health: { instanceStatus, systemStatus } },
        atSecond(900),
        SETTINGS,
      );

      // Assess
      expect(decision).toEqual({
        kind: 'wait',
        instanceId: ID,
        runId: RUN_ID,
        reason: `status checks: instance ${instanceStatus}, system ${systemStatus}`,
      });
    });

    it('waits when the checks are unknown', () => {
      expect(decideProgress({ instance: stepping('rebooting') }, atSecond(900), SETTINGS)).toMatchObject({
        kind: 'wait',
        reason: 'status checks unknown',
      });
    });

    it('fails, naming the check, when not ready within the ready timeout', () => {
      // Prepare
      const health: InstanceHealth = { instanceStatus: 'impaired', systemStatus: 'ok' };

      // Act
      const atTimeout = decideProgress({ instance: stepping('rebooting'), health }, atSecond(3600), SETTINGS);
      const beyond = decideProgress({ instance: stepping('rebooting'), health }, atSecond(3601), SETTINGS);

      // Assess
      expect(atTimeout.kind).toBe('wait');
      expect(beyond).toEqual({
        kind: 'failed',
        instanceId: ID,
        runId: RUN_ID,
        reason: 'not ready after 3600 s: status checks: instance impaired, system ok',
      });
    });

    it('fails when the checks stayed unknown until the ready timeout', () => {
      expect(decideProgress({ instance: stepping('rebooting') }, atSecond(3601), SETTINGS)).toMatchObject({
        kind: 'failed',
        reason: 'not ready after 3600 s: status checks unknown',
      });
    });

    it.each<InstanceState>(['pending', 'stopping'])('waits while the instance is %s, then fails', (state) => {
      expect(decideProgress({ instance: stepping('rebooting', state) }, atSecond(600), SETTINGS)).toMatchObject({
        kind: 'wait',
        reason: `instance is ${state}`,
      });
      expect(decideProgress({ instance: stepping('rebooting', state) }, atSecond(3601), SETTINGS)).toMatchObject({
        kind: 'failed',
        reason: `not ready after 3600 s: instance is ${state}`,
      });
    });

    it('is imaged at once when it was stopped meanwhile: its disks are at rest', () => {
      expect(decideProgress({ instance: stepping('rebooting', 'stopped') }, atSecond(10), SETTINGS).kind).toBe(
        'create-image',
      );
    });
  });

  describe('a queued instance', () => {
    it.each<InstanceState>(['running', 'stopped'])('is imaged at once when %s', (state) => {
      expect(decideProgress({ instance: stepping('queued', state) }, atSecond(1), SETTINGS).kind).toBe('create-image');
    });

    it('waits while it is starting, then fails after the ready timeout', () => {
      expect(decideProgress({ instance: stepping('queued', 'pending') }, atSecond(60), SETTINGS).kind).toBe('wait');
      expect(decideProgress({ instance: stepping('queued', 'pending') }, atSecond(3601), SETTINGS)).toMatchObject({
        kind: 'failed',
        reason: 'not ready after 3600 s: instance is pending',
      });
    });
  });

  it.each<[BackupStep, InstanceState]>([
    ['rebooting', 'terminated'],
    ['rebooting', 'shutting-down'],
    ['queued', 'terminated'],
  ])('fails a %s instance that is %s', (step, state) => {
    expect(decideProgress({ instance: stepping(step, state) }, atSecond(10), SETTINGS)).toEqual({
      kind: 'failed',
      instanceId: ID,
      runId: RUN_ID,
      reason: `instance is ${state}`,
    });
  });

  describe('the image request', () => {
    it('records the retention the operator set', () => {
      // Prepare
      const tags = { [OperatorTag.retain]: '3', [OperatorTag.retainDays]: '14' };

      // Act
      const decision = decideProgress({ instance: stepping('queued', 'running', NIGHT, tags) }, atSecond(1), SETTINGS);

      // Assess
      expect(decision.kind === 'create-image' && decision.request.tags).toEqual({
        [ImageTag.managedBy]: OWNER,
        [ImageTag.instanceId]: ID,
        [ImageTag.run]: RUN_ID,
        [ImageTag.retain]: '3',
        [ImageTag.retainDays]: '14',
      });
    });

    it.each<Tags>([
      { [OperatorTag.retain]: 'abc' },
      { [OperatorTag.retainDays]: '0' },
      { [OperatorTag.retain]: '3', [OperatorTag.retainDays]: 'forever' },
    ])('records no retention when the operator tags are invalid (%p)', (tags) => {
      // Act
      const decision = decideProgress({ instance: stepping('queued', 'running', NIGHT, tags) }, atSecond(1), SETTINGS);

      // Assess
      expect(decision.kind === 'create-image' && decision.request.tags).toEqual({
        [ImageTag.managedBy]: OWNER,
        [ImageTag.instanceId]: ID,
        [ImageTag.run]: RUN_ID,
      });
    });
  });

  describe('an image found under the run name', () => {
    it.each<BackupStep>(['rebooting', 'queued'])(
      'is adopted while pending when the %s instance does not record it yet (a crash after CreateImage)',
      (step) => {
        expect(
          decideProgress({ instance: stepping(step), image: runImage('pending') }, atSecond(400), SETTINGS),
        ).toEqual({
          kind: 'adopt-image',
          instanceId: ID,
          runId: RUN_ID,
          imageId: 'ami-0fedcba9876543210',
        });
      },
    );

    it.each<ImageState>(['pending', 'transient'])('is waited for while %s', (state) => {
      // Prepare
      const image = runImage(state, { createdAt: atSecond(400) });

      // Act
      const decision = decideProgress(
        { instance: stepping('imaging', 'running', atSecond(400)), image },
        atSecond(4000),
        SETTINGS,
      );

      // Assess
      expect(decision).toEqual({
        kind: 'wait',
        instanceId: ID,
        runId: RUN_ID,
        reason: `image ami-0fedcba9876543210 is ${state}`,
      });
    });

    it('fails when it stays pending beyond the image timeout', () => {
      // Prepare
      const image = runImage('pending', { createdAt: atSecond(400) });
      const imaging = stepping('imaging', 'running', atSecond(400));

      // Act
      const atTimeout = decideProgress({ instance: imaging, image }, atSecond(400 + 86_400), SETTINGS);
      const beyond = decideProgress({ instance: imaging, image }, atSecond(400 + 86_401), SETTINGS);

      // Assess
      expect(atTimeout.kind).toBe('wait');
      expect(beyond).toEqual({
        kind: 'failed',
        instanceId: ID,
        runId: RUN_ID,
        imageId: 'ami-0fedcba9876543210',
        reason: 'image ami-0fedcba9876543210 still pending after 86400 s',
      });
    });

    it.each<BackupStep>(['imaging', 'rebooting', 'queued'])('is a success once available (step %s)', (step) => {
      // Prepare
      const image = runImage('available', { createdAt: atSecond(400) });

      // Act
      const decision = decideProgress({ instance: stepping(step), image }, atSecond(1000), SETTINGS);

      // Assess
      expect(decision).toEqual({ kind: 'succeeded', instanceId: ID, runId: RUN_ID, image });
    });

    it('is a failure with EC2 reason once failed', () => {
      // Prepare
      const image = runImage('failed', { stateReason: 'Client.InstanceTerminated: instance rebooted' });

      // Act
      const decision = decideProgress({ instance: stepping('imaging'), image }, atSecond(1000), SETTINGS);

      // Assess
      expect(decision).toEqual({
        kind: 'failed',
        instanceId: ID,
        runId: RUN_ID,
        imageId: 'ami-0fedcba9876543210',
        reason: 'image ami-0fedcba9876543210 is failed: Client.InstanceTerminated: instance rebooted',
      });
    });

    it.each<ImageState>(['failed', 'error', 'invalid', 'deregistered', 'disabled'])('is a failure when %s', (state) => {
      expect(
        decideProgress({ instance: stepping('imaging'), image: runImage(state) }, atSecond(1000), SETTINGS),
      ).toMatchObject({
        kind: 'failed',
        imageId: 'ami-0fedcba9876543210',
        reason: `image ami-0fedcba9876543210 is ${state}`,
      });
    });

    it.each<[string, Tags]>([
      ['no ownership tag', { [ImageTag.managedBy]: '' }],
      ['another owner', { [ImageTag.managedBy]: 'ami-backup-dev' }],
    ])('with %s is a failure, never adopted or taken as a success', (_, tags) => {
      for (const state of ['pending', 'available'] as const) {
        for (const step of IN_PROGRESS_STEPS) {
          // Prepare
          const image = { ...runImage(state), tags: { ...runImage(state).tags, ...tags } };

          // Act
          const decision = decideProgress({ instance: stepping(step), image }, atSecond(1000), SETTINGS);

          // Assess
          expect(decision).toEqual({
            kind: 'failed',
            instanceId: ID,
            runId: RUN_ID,
            reason: `AMI name ${RUN_IMAGE_NAME} is taken by ami-0fedcba9876543210, which this service does not manage`,
          });
        }
      }
    });
  });

  describe('a rebooting instance whose reboot was never confirmed', () => {
    it('is not imaged, whatever its status checks say', () => {
      // Prepare: the step was recorded, then the run's start died before RebootInstances returned
      const unconfirmed = stepping('rebooting', 'running', NIGHT, { [InstanceTag.rebootedAt]: '' });
      const okHealth = { instanceStatus: 'ok', systemStatus: 'ok' } as const;

      // Act
      const decision = decideProgress({ instance: unconfirmed, health: okHealth }, atSecond(600), SETTINGS);

      // Assess
      expect(decision).toMatchObject({ kind: 'wait', reason: expect.stringContaining('reboot not confirmed') });
      expect(needsHealth(unconfirmed, atSecond(600), SETTINGS)).toBe(false);
    });

    it('fails once the ready timeout is over, saying why', () => {
      const unconfirmed = stepping('rebooting', 'running', NIGHT, { [InstanceTag.rebootedAt]: '' });

      const decision = decideProgress({ instance: unconfirmed }, atSecond(SETTINGS.readyTimeoutSeconds + 1), SETTINGS);

      expect(decision).toMatchObject({ kind: 'failed', reason: expect.stringContaining('reboot not confirmed') });
    });

    it('is confirmed only by a confirmation of this run, not an earlier one', () => {
      const earlier = stepping('rebooting', 'running', NIGHT, {
        [InstanceTag.rebootedAt]: new Date(NIGHT.getTime() - 86_400_000).toISOString(),
      });

      expect(decideProgress({ instance: earlier }, atSecond(600), SETTINGS)).toMatchObject({
        kind: 'wait',
        reason: expect.stringContaining('reboot not confirmed'),
      });
    });
  });

  describe('an imaging instance whose image is not visible', () => {
    it('waits during the visibility grace (DescribeImages is eventually consistent)', () => {
      // Prepare
      const imaging = stepping('imaging', 'running', NIGHT);

      // Act
      const decision = decideProgress({ instance: imaging }, atSecond(IMAGE_VISIBILITY_GRACE_SECONDS), SETTINGS);

      // Assess
      expect(decision).toEqual({
        kind: 'wait',
        instanceId: ID,
        runId: RUN_ID,
        reason: `image ${imageName(ID, RUN_ID)} is not visible yet`,
      });
    });

    it('fails once the grace is over', () => {
      // Prepare
      const imaging = stepping('imaging', 'running', NIGHT);

      // Act
      const decision = decideProgress({ instance: imaging }, atSecond(IMAGE_VISIBILITY_GRACE_SECONDS + 1), SETTINGS);

      // Assess
      expect(decision).toEqual({
        kind: 'failed',
        instanceId: ID,
        runId: RUN_ID,
        reason: `image ${imageName(ID, RUN_ID)} no longer exists`,
      });
    });
  });

  it.each<Tags>([
    { [InstanceTag.state]: 'rebooting', [InstanceTag.run]: RUN_ID },
    { [InstanceTag.state]: 'queued', [InstanceTag.run]: RUN_ID, [InstanceTag.since]: 'soon' },
    { [InstanceTag.state]: 'imaging' },
  ])('fails an instance whose step tags cannot be read, so it never stays stuck (%p)', (tags) => {
    // Act
    const decision = decideProgress({ instance: instance(ID, 'running', tags) }, atSecond(10), SETTINGS);

    // Assess
    expect(decision).toEqual({
      kind: 'failed',
      instanceId: ID,
      runId: tags[InstanceTag.run] ?? 'unknown',
      reason: `unreadable step tags (${InstanceTag.run}, ${InstanceTag.since})`,
    });
  });

  describe('for any in-progress instance', () => {
    const states = anyInstanceState;
    const checks = fc.constantFrom<CheckStatus>(
      'ok',
      'impaired',
      'insufficient-data',
      'not-applicable',
      'initializing',
    );
    const imageStates = anyImageState;
    const cases = fc.record({
      step: fc.constantFrom(...IN_PROGRESS_STEPS),
      state: states,
      health: fc.option(fc.record({ instanceStatus: checks, systemStatus: checks }), { nil: undefined }),
      image: fc.option(
        fc.record({
          state: imageStates,
          owned: fc.boolean(),
          createdAfterSeconds: fc.integer({ min: 0, max: 3600 }),
        }),
        { nil: undefined },
      ),
      elapsedSeconds: fc.integer({ min: 0, max: 3 * 86_400 }),
    });

    function toProgress(generated: {
      step: BackupStep;
      state: InstanceState;
      health: InstanceHealth | undefined;
      image: { state: ImageState; owned: boolean; createdAfterSeconds: number } | undefined;
    }) {
      const image =
        generated.image === undefined
          ? undefined
          : runImage(generated.image.state, {
              createdAt: atSecond(generated.image.createdAfterSeconds),
              tags: generated.image.owned ? {} : { [ImageTag.managedBy]: 'someone-else' },
            });
      return {
        instance: stepping(generated.step, generated.state),
        ...(generated.health === undefined ? {} : { health: generated.health }),
        ...(image === undefined ? {} : { image }),
      };
    }

    it('never succeeds or adopts without an owned image, and never creates one when the name is taken', () => {
      fc.assert(
        fc.property(cases, (generated) => {
          const progress = toProgress(generated);
          const decision = decideProgress(progress, atSecond(generated.elapsedSeconds), SETTINGS);
          const owned = progress.image !== undefined && generated.image?.owned === true;
          if (decision.kind === 'succeeded') expect(owned && progress.image?.state === 'available').toBe(true);
          if (decision.kind === 'adopt-image') expect(owned).toBe(true);
          if (progress.image !== undefined) expect(decision.kind).not.toBe('create-image');
          if (decision.kind === 'create-image') {
            expect(decision.request.tags[ImageTag.managedBy]).toBe(OWNER);
            expect(decision.request.name).toBe(RUN_IMAGE_NAME);
          }
        }),
      );
    });

    it('never waits forever: past every timeout the run has an outcome or an image to make', () => {
      const longest =
        Math.max(SETTINGS.readyTimeoutSeconds, IMAGE_VISIBILITY_GRACE_SECONDS) + SETTINGS.imageTimeoutSeconds + 3600;
      fc.assert(
        fc.property(cases, (generated) => {
          const decision = decideProgress(toProgress(generated), atSecond(longest + 1), SETTINGS);
          expect(decision.kind).not.toBe('wait');
        }),
      );
    });
  });
});

describe('imagingTags', () => {
  it('records that an image is being made, and since when, the same for every instance of a pass', () => {
    expect(imagingTags(atSecond(400))).toEqual({
      [InstanceTag.state]: BackupStep.imaging,
      [InstanceTag.since]: atSecond(400).toISOString(),
    });
  });
});

describe('outcomeTags', () => {
  it('records a success with its run, the same tags for every success of the run whatever its image', () => {
    // Prepare
    const image = runImage('available', { createdAt: atSecond(400) });
    const other = { ...image, id: 'ami-0123456789abcdef0', createdAt: atSecond(900) };

    // Act
    const tags = outcomeTags({ kind: 'succeeded', instanceId: ID, runId: RUN_ID, image });
    const otherTags = outcomeTags({
      kind: 'succeeded',
      instanceId: 'i-0aaaaaaaaaaaaaaaa',
      runId: RUN_ID,
      image: other,
    });

    // Assess
    expect(tags).toEqual({ [InstanceTag.state]: BackupStep.succeeded, [InstanceTag.lastSuccess]: RUN_ID });
    expect(otherTags).toEqual(tags);
  });

  it('records a failure with its run and reason', () => {
    expect(
      outcomeTags({
        kind: 'failed',
        instanceId: ID,
        runId: RUN_ID,
        reason: 'image ami-0abc1234 is failed',
        imageId: 'ami-0abc1234',
      }),
    ).toEqual({
      [InstanceTag.state]: BackupStep.failed,
      [InstanceTag.lastError]: `${RUN_ID}: image ami-0abc1234 is failed`,
    });
  });

  it('records a failure without an image', () => {
    expect(outcomeTags({ kind: 'failed', instanceId: ID, runId: RUN_ID, reason: 'instance is terminated' })).toEqual({
      [InstanceTag.state]: BackupStep.failed,
      [InstanceTag.lastError]: `${RUN_ID}: instance is terminated`,
    });
  });

  it('cuts a long reason to a valid tag value', () => {
    // Act
    const tags = outcomeTags({ kind: 'failed', instanceId: ID, runId: RUN_ID, reason: 'x'.repeat(1000) });

    // Assess
    expect(Array.from(tags[InstanceTag.lastError] ?? '')).toHaveLength(256);
  });
});

describe('decideImageOutcome', () => {
  const withRun = (state: ImageState, tags: Tags = {}, createdAt = atSecond(300)) =>
    runImage(state, { createdAt, tags: { [ImageTag.run]: RUN_ID, ...tags } });

  it('records a success or a failure from the image alone', () => {
    const available = withRun('available');
    expect(decideImageOutcome(available, atSecond(600), SETTINGS)).toEqual({
      kind: 'record',
      decision: { kind: 'succeeded', instanceId: ID, runId: RUN_ID, image: available },
    });
    const failed = runImage('failed', { stateReason: 'boom', tags: { [ImageTag.run]: RUN_ID } });
    expect(decideImageOutcome(failed, atSecond(600), SETTINGS)).toMatchObject({
      kind: 'record',
      decision: {
        kind: 'failed',
        instanceId: ID,
        runId: RUN_ID,
        imageId: failed.id,
        reason: expect.stringContaining('boom'),
      },
    });
  });

  it.each<[string, Image, Date]>([
    ['not ours', withRun('available', { [ImageTag.managedBy]: 'ami-backup-prod' }), atSecond(600)],
    ['tags not naming its run', runImage('available'), atSecond(600)],
    ['already recorded', withRun('available', { [InstanceTag.state]: BackupStep.succeeded }), atSecond(600)],
    ['older than the image timeout', withRun('available'), atSecond(300 + SETTINGS.imageTimeoutSeconds + 1)],
    ['still pending', withRun('pending'), atSecond(600)],
  ])('ignores an image %s', (_, image, now) => {
    expect(decideImageOutcome(image, now, SETTINGS)).toMatchObject({ kind: 'ignore' });
  });
});
