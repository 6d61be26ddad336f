import fc from 'fast-check';
import { planStartRun, rebootConfirmation, type StartRunSettings } from '../../../../lib/decisions/start-run';
import type { Instance, InstanceState, TagWrite } from '../../../../lib/model';
import { BACKUP_STEPS, BackupStep, formatRunId, InstanceTag, OperatorTag, type Tags } from '../../../../lib/tags';
import { anyInstanceState, instance, NIGHT, OPT_IN, secondsAfter } from '../builders';

const SETTINGS: StartRunSettings = { optIn: OPT_IN, defaultRetain: 7, readyTimeoutSeconds: 3600 };
const RUN_ID = formatRunId(NIGHT);
const OPTED_IN: Tags = { [OPT_IN.key]: OPT_IN.value };

function optedIn(id: string, state: InstanceState, tags: Tags = {}): Instance {
  return instance(id, state, { ...OPTED_IN, ...tags });
}

/** Tags of an instance in step `step` of the run that started at `since`. */
function inRun(step: BackupStep, since: Date): Tags {
  return {
    [InstanceTag.state]: step,
    [InstanceTag.run]: formatRunId(since),
    [InstanceTag.since]: since.toISOString(),
    // A rebooting instance whose reboot EC2 accepted.
    ...(step === BackupStep.rebooting ? { [InstanceTag.rebootedAt]: since.toISOString() } : {}),
  };
}

/** The instances as they are once the plan's tag writes (and policy-error removals) are applied. */
function applied(instances: readonly Instance[], writes: readonly TagWrite[], cleared: readonly string[]): Instance[] {
  return instances.map((current) => {
    const tags: Record<string, string> = { ...current.tags };
    for (const write of writes.filter((w) => w.resourceId === current.id)) Object.assign(tags, write.tags);
    if (cleared.includes(current.id)) delete tags[InstanceTag.policyError];
    return { ...current, tags };
  });
}

function writesFor(plan: { tagWrites: readonly TagWrite[] }, id: string): Tags {
  return Object.assign({}, ...plan.tagWrites.filter((write) => write.resourceId === id).map((write) => write.tags));
}

describe('planStartRun', () => {
  describe('by instance state and mode', () => {
    it('reboots a running instance in reboot mode, recording the step first', () => {
      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running')], NIGHT, SETTINGS);

      // Assess
      expect(plan.runId).toBe('20261126T0300Z');
      expect(plan.decisions).toEqual([{ kind: 'reboot', instanceId: 'i-00000001' }]);
      expect(plan.rebootIds).toEqual(['i-00000001']);
      expect(plan.tagWrites).toEqual([
        {
          resourceId: 'i-00000001',
          tags: {
            [InstanceTag.run]: RUN_ID,
            [InstanceTag.since]: NIGHT.toISOString(),
            [InstanceTag.state]: BackupStep.rebooting,
          },
        },
      ]);
    });

    it('treats an explicit reboot mode like the default', () => {
      const plan = planStartRun([optedIn('i-00000001', 'running', { [OperatorTag.mode]: 'reboot' })], NIGHT, SETTINGS);
      expect(plan.rebootIds).toEqual(['i-00000001']);
    });

    it('queues a running instance in no-reboot mode, without rebooting it', () => {
      // Act
      const plan = planStartRun(
        [optedIn('i-00000001', 'running', { [OperatorTag.mode]: 'no-reboot' })],
        NIGHT,
        SETTINGS,
      );

      // Assess
      expect(plan.decisions).toEqual([{ kind: 'queue', instanceId: 'i-00000001', reason: 'no-reboot mode' }]);
      expect(plan.rebootIds).toEqual([]);
      expect(writesFor(plan, 'i-00000001')).toEqual({
        [InstanceTag.run]: RUN_ID,
        [InstanceTag.since]: NIGHT.toISOString(),
        [InstanceTag.state]: BackupStep.queued,
      });
    });

    it.each(['reboot', 'no-reboot'])('queues a stopped instance (mode %s): its disks are at rest', (mode) => {
      // Act
      const plan = planStartRun([optedIn('i-00000001', 'stopped', { [OperatorTag.mode]: mode })], NIGHT, SETTINGS);

      // Assess
      expect(plan.decisions).toEqual([{ kind: 'queue', instanceId: 'i-00000001', reason: 'stopped: imaged as it is' }]);
      expect(plan.rebootIds).toEqual([]);
      expect(writesFor(plan, 'i-00000001')[InstanceTag.state]).toBe(BackupStep.queued);
    });

    it.each<InstanceState>(['terminated', 'shutting-down'])('skips a %s instance and records nothing', (state) => {
      // Act
      const plan = planStartRun([optedIn('i-00000001', state)], NIGHT, SETTINGS);

      // Assess
      expect(plan.decisions).toEqual([{ kind: 'skip', instanceId: 'i-00000001', reason: `instance is ${state}` }]);
      expect(plan.tagWrites).toEqual([]);
      expect(plan.rebootIds).toEqual([]);
    });

    it.each<InstanceState>(['pending', 'stopping'])('records a %s instance as failed for this run', (state) => {
      // Act
      const plan = planStartRun([optedIn('i-00000001', state)], NIGHT, SETTINGS);

      // Assess
      expect(plan.decisions).toEqual([
        { kind: 'fail', instanceId: 'i-00000001', reason: `instance was ${state} when the run started` },
      ]);
      expect(plan.rebootIds).toEqual([]);
      expect(writesFor(plan, 'i-00000001')).toEqual({
        [InstanceTag.run]: RUN_ID,
        [InstanceTag.since]: NIGHT.toISOString(),
        [InstanceTag.state]: BackupStep.failed,
        [InstanceTag.lastError]: `${RUN_ID}: instance was ${state} when the run started`,
      });
    });
  });

  describe('opt-in', () => {
    it.each<Tags>([{}, { Backup: 'false' }, { Backup: 'TRUE' }, { backup: 'true' }])(
      'skips an instance not opted in (%p) and touches nothing',
      (tags) => {
        // Act
        const plan = planStartRun([instance('i-00000001', 'running', tags)], NIGHT, SETTINGS);

        // Assess
        expect(plan.decisions).toEqual([
          { kind: 'skip', instanceId: 'i-00000001', reason: 'not opted in (Backup=true)' },
        ]);
        expect(plan.tagWrites).toEqual([]);
        expect(plan.rebootIds).toEqual([]);
      },
    );

    it('follows the configured opt-in tag', () => {
      // Prepare
      const settings = { ...SETTINGS, optIn: { key: 'ops:backup', value: 'nightly' } };
      const fleet = [
        instance('i-00000001', 'running', { 'ops:backup': 'nightly' }),
        instance('i-00000002', 'running', { Backup: 'true' }),
      ];

      // Act
      const plan = planStartRun(fleet, NIGHT, settings);

      // Assess
      expect(plan.rebootIds).toEqual(['i-00000001']);
    });
  });

  describe('runs already under way', () => {
    it.each(BACKUP_STEPS)('skips an instance already in this run (%s): a rerun changes nothing', (step) => {
      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running', inRun(step, NIGHT))], NIGHT, SETTINGS);

      // Assess
      expect(plan.decisions).toEqual([
        { kind: 'skip', instanceId: 'i-00000001', reason: `run ${RUN_ID} already started (${step})` },
      ]);
      expect(plan.tagWrites).toEqual([]);
      expect(plan.rebootIds).toEqual([]);
    });

    it('skips an instance whose earlier image is still pending, however old', () => {
      // Prepare
      const lastNight = secondsAfter(NIGHT, -86_400);

      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running', inRun('imaging', lastNight))], NIGHT, SETTINGS);

      // Assess
      expect(plan.decisions[0]).toMatchObject({ kind: 'skip', reason: expect.stringContaining('still pending') });
      expect(plan.tagWrites).toEqual([]);
      expect(plan.rebootIds).toEqual([]);
    });

    it.each<BackupStep>(['rebooting', 'queued'])(
      'leaves an earlier run %s for less than the ready timeout alone',
      (step) => {
        // Prepare
        const recently = secondsAfter(NIGHT, -(SETTINGS.readyTimeoutSeconds - 1));

        // Act
        const plan = planStartRun([optedIn('i-00000001', 'running', inRun(step, recently))], NIGHT, SETTINGS);

        // Assess
        expect(plan.decisions).toEqual([
          {
            kind: 'skip',
            instanceId: 'i-00000001',
            reason: `run ${formatRunId(recently)} is in progress (${step})`,
          },
        ]);
        expect(plan.tagWrites).toEqual([]);
      },
    );

    it.each<BackupStep>(['rebooting', 'queued'])(
      'restarts an instance stuck in an earlier run %s for the ready timeout or longer',
      (step) => {
        // Prepare
        const longAgo = secondsAfter(NIGHT, -SETTINGS.readyTimeoutSeconds);

        // Act
        const plan = planStartRun([optedIn('i-00000001', 'running', inRun(step, longAgo))], NIGHT, SETTINGS);

        // Assess
        expect(plan.rebootIds).toEqual(['i-00000001']);
        expect(writesFor(plan, 'i-00000001')).toMatchObject({
          [InstanceTag.run]: RUN_ID,
          [InstanceTag.state]: BackupStep.rebooting,
        });
      },
    );

    it.each<BackupStep>(['succeeded', 'failed'])('starts afresh after an earlier run that %s', (step) => {
      // Prepare
      const lastNight = secondsAfter(NIGHT, -86_400);

      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running', inRun(step, lastNight))], NIGHT, SETTINGS);

      // Assess
      expect(plan.rebootIds).toEqual(['i-00000001']);
    });

    it.each<Tags>([
      { [InstanceTag.state]: 'rebooting', [InstanceTag.run]: '20261125T0300Z', [InstanceTag.since]: 'yesterday' },
      { [InstanceTag.state]: 'rebooting', [InstanceTag.since]: '2026-11-26T02:59:00.000Z' },
      { [InstanceTag.state]: 'thinking', [InstanceTag.run]: '20261125T0300Z', [InstanceTag.since]: 'x' },
    ])('starts afresh when the step tags cannot be read (%#), instead of staying stuck', (tags) => {
      expect(planStartRun([optedIn('i-00000001', 'running', tags)], NIGHT, SETTINGS).rebootIds).toEqual(['i-00000001']);
    });

    it('reboots, on a retry of the run, an instance recorded as rebooting whose reboot was never confirmed', () => {
      // Prepare: the first attempt recorded the step, then died before RebootInstances returned
      const fleet = [optedIn('i-00000001', 'running'), optedIn('i-00000002', 'running')];
      const first = planStartRun(fleet, NIGHT, SETTINGS);
      const confirmed = [{ resourceId: 'i-00000002', tags: rebootConfirmation(NIGHT) }];

      // Act: Lambda retries with the same scheduled event, hence the same time
      const retry = planStartRun(
        applied(fleet, [...first.tagWrites, ...confirmed], first.clearPolicyError),
        NIGHT,
        SETTINGS,
      );

      // Assess
      expect(retry.runId).toBe(first.runId);
      expect(retry.rebootIds).toEqual(['i-00000001']);
      expect(retry.decisions[1]).toMatchObject({ instanceId: 'i-00000002', kind: 'skip' });
    });

    it('changes nothing when the same run is planned again once its tags are written', () => {
      // Prepare
      const fleet = [
        optedIn('i-00000001', 'running'),
        optedIn('i-00000002', 'running', { [OperatorTag.mode]: 'no-reboot' }),
        optedIn('i-00000003', 'stopped'),
        optedIn('i-00000004', 'pending'),
        optedIn('i-00000005', 'running', { [OperatorTag.mode]: 'fast' }),
        optedIn('i-00000006', 'running', { [OperatorTag.retain]: 'abc' }),
      ];
      const first = planStartRun(fleet, NIGHT, SETTINGS);

      // Act: the same schedule delivered again a little later in the same minute, after the reboots were confirmed
      const confirmations = first.rebootIds.map((resourceId) => ({ resourceId, tags: rebootConfirmation(NIGHT) }));
      const again = planStartRun(
        applied(fleet, [...first.tagWrites, ...confirmations], first.clearPolicyError),
        secondsAfter(NIGHT, 30),
        SETTINGS,
      );

      // Assess
      expect(again.runId).toBe(first.runId);
      expect(again.decisions.map((decision) => decision.kind)).toEqual(Array(fleet.length).fill('skip'));
      expect(again.tagWrites).toEqual([]);
      expect(again.clearPolicyError).toEqual([]);
      expect(again.rebootIds).toEqual([]);
    });
  });

  describe('invalid operator tags', () => {
    it('does not back up an instance whose mode is invalid, and records why', () => {
      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running', { [OperatorTag.mode]: 'fast' })], NIGHT, SETTINGS);

      // Assess
      const problem = `${OperatorTag.mode}="fast" must be 'reboot' or 'no-reboot'`;
      expect(plan.decisions).toEqual([{ kind: 'fail', instanceId: 'i-00000001', reason: problem }]);
      expect(plan.rebootIds).toEqual([]);
      expect(writesFor(plan, 'i-00000001')).toEqual({
        [InstanceTag.policyError]: problem,
        [InstanceTag.run]: RUN_ID,
        [InstanceTag.since]: NIGHT.toISOString(),
        [InstanceTag.state]: BackupStep.failed,
        [InstanceTag.lastError]: `${RUN_ID}: ${problem}`,
      });
    });

    it.each([
      [OperatorTag.retain, 'abc'],
      [OperatorTag.retain, '0'],
      [OperatorTag.retainDays, '-1'],
    ])('still backs up an instance with %s=%p, and records the problem', (key, raw) => {
      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running', { [key]: raw })], NIGHT, SETTINGS);

      // Assess
      expect(plan.rebootIds).toEqual(['i-00000001']);
      expect(writesFor(plan, 'i-00000001')[InstanceTag.policyError]).toContain(`${key}=${JSON.stringify(raw)}`);
    });

    it('writes the policy error before the step, so both are in place before any reboot', () => {
      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running', { [OperatorTag.retain]: 'abc' })], NIGHT, SETTINGS);

      // Assess
      expect(plan.tagWrites.map((write) => Object.keys(write.tags))).toEqual([
        [InstanceTag.policyError],
        [InstanceTag.run, InstanceTag.since, InstanceTag.state],
      ]);
    });

    it('does not rewrite a policy error that is already recorded', () => {
      // Prepare
      const problem = `${OperatorTag.retain}="abc" must be a whole number from 1 to 1000`;
      const tags = { [OperatorTag.retain]: 'abc', [InstanceTag.policyError]: problem };

      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running', tags)], NIGHT, SETTINGS);

      // Assess
      expect(writesFor(plan, 'i-00000001')).not.toHaveProperty([InstanceTag.policyError]);
      expect(plan.clearPolicyError).toEqual([]);
    });

    it('replaces a policy error that no longer describes the tags', () => {
      // Prepare
      const tags = { [OperatorTag.retain]: 'abc', [InstanceTag.policyError]: 'ami-backup:mode="x" is wrong' };

      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running', tags)], NIGHT, SETTINGS);

      // Assess
      expect(writesFor(plan, 'i-00000001')[InstanceTag.policyError]).toContain(`${OperatorTag.retain}="abc"`);
    });

    it('clears the policy error once the tags are valid again', () => {
      // Prepare
      const tags = { [OperatorTag.retain]: '5', [InstanceTag.policyError]: 'ami-backup:retain="five" is wrong' };

      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running', tags)], NIGHT, SETTINGS);

      // Assess
      expect(plan.clearPolicyError).toEqual(['i-00000001']);
      expect(writesFor(plan, 'i-00000001')).not.toHaveProperty([InstanceTag.policyError]);
      expect(plan.rebootIds).toEqual(['i-00000001']);
    });

    it('cuts a very long problem to a valid tag value', () => {
      // Act
      const plan = planStartRun(
        [optedIn('i-00000001', 'running', { [OperatorTag.mode]: 'x'.repeat(256) })],
        NIGHT,
        SETTINGS,
      );

      // Assess
      const written = writesFor(plan, 'i-00000001');
      expect(Array.from(written[InstanceTag.policyError] ?? '')).toHaveLength(256);
      expect(Array.from(written[InstanceTag.lastError] ?? '')).toHaveLength(256);
    });

    it('skips a terminated instance whatever its tags say, writing nothing to it', () => {
      // Act
      const plan = planStartRun(
        [optedIn('i-00000001', 'terminated', { [OperatorTag.mode]: 'fast', [OperatorTag.retain]: 'abc' })],
        NIGHT,
        SETTINGS,
      );

      // Assess
      expect(plan.decisions).toEqual([{ kind: 'skip', instanceId: 'i-00000001', reason: 'instance is terminated' }]);
      expect(plan.tagWrites).toEqual([]);
    });
  });

  it('uses the run id it is given (a console rerun of a night)', () => {
    // Act
    const plan = planStartRun([optedIn('i-00000001', 'running')], NIGHT, SETTINGS, '20261125T0300Z');

    // Assess
    expect(plan.runId).toBe('20261125T0300Z');
    expect(writesFor(plan, 'i-00000001')[InstanceTag.run]).toBe('20261125T0300Z');
  });

  it('for any fleet: one decision per instance, reboots only for running opted-in instances, each recorded first', () => {
    const states = anyInstanceState;
    const operatorTags = fc.record(
      {
        [OPT_IN.key]: fc.constantFrom('true', 'false'),
        [OperatorTag.mode]: fc.constantFrom('reboot', 'no-reboot', 'fast'),
        [OperatorTag.retain]: fc.constantFrom('3', 'abc', '0'),
        [InstanceTag.state]: fc.constantFrom<string>(...BACKUP_STEPS, 'junk'),
        [InstanceTag.run]: fc.constantFrom(RUN_ID, '20261125T0300Z'),
        [InstanceTag.since]: fc.constantFrom(NIGHT.toISOString(), '2026-11-25T03:00:00.000Z', 'x'),
      },
      { requiredKeys: [] },
    );
    const fleets = fc.uniqueArray(
      fc.record({ id: fc.stringMatching(/^i-[0-9a-f]{8}$/), state: states, tags: operatorTags }),
      { selector: (generated) => generated.id, maxLength: 12 },
    );
    fc.assert(
      fc.property(fleets, (fleet) => {
        const plan = planStartRun(fleet, NIGHT, SETTINGS);
        expect(plan.decisions.map((decision) => decision.instanceId)).toEqual(fleet.map((each) => each.id));
        for (const [index, decision] of plan.decisions.entries()) {
          const subject = fleet[index] as Instance; // decisions follow the fleet, checked just above
          const written = writesFor(plan, subject.id);
          if (subject.state === 'terminated' || subject.state === 'shutting-down') {
            expect(decision.kind).toBe('skip');
          }
          if (decision.kind === 'skip') {
            expect(plan.tagWrites.some((write) => write.resourceId === subject.id)).toBe(false);
          } else {
            expect(subject.tags[OPT_IN.key]).toBe(OPT_IN.value);
            expect(written[InstanceTag.run]).toBe(RUN_ID);
          }
          if (decision.kind === 'reboot') {
            expect(subject.state).toBe('running');
            expect(written[InstanceTag.state]).toBe(BackupStep.rebooting);
          }
        }
        expect(plan.rebootIds).toEqual(
          plan.decisions.filter((decision) => decision.kind === 'reboot').map((decision) => decision.instanceId),
        );
      }),
    );
  });
});
