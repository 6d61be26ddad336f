import fc from 'fast-check';
import { planStartRun, type StartRunPlan, type StartRunSettings } from '../../../../lib/decisions/start-run';
import { HIBERNATED_STATE_REASON, type Instance, type InstanceState, type TagWrite } from '../../../../lib/model';
import {
  BACKUP_STEPS,
  BackupStep,
  CopyTag,
  formatRunId,
  InstanceTag,
  OperatorTag,
  ShareTag,
  type Tags,
} from '../../../../lib/tags';
import { anyInstanceState, instance, NIGHT, OPT_IN, secondsAfter } from '../builders';

const SETTINGS: StartRunSettings = {
  optIn: OPT_IN,
  defaultRetain: 7,
  rebootWindowMinutes: 180,
  minRetain: 1,
  minRetainDays: 0,
};
const WINDOW_SECONDS = SETTINGS.rebootWindowMinutes * 60;
const REBOOT_REASON = "reboot mode: imaged through EC2's reboot, in its group's turn";
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
  };
}

/** The instances the plan queues for their image this run. */
function queuedIds(plan: StartRunPlan): string[] {
  return plan.decisions.flatMap((decision) => (decision.kind === 'queue' ? [decision.instanceId] : []));
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
    it('queues a running instance in reboot mode for its image, rebooting nothing itself', () => {
      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running')], NIGHT, SETTINGS);

      // Assess
      expect(plan.runId).toBe('20261126T0300Z');
      expect(plan.decisions).toEqual([{ kind: 'queue', instanceId: 'i-00000001', reason: REBOOT_REASON }]);
      expect(plan.tagWrites).toEqual([
        {
          resourceId: 'i-00000001',
          tags: {
            [InstanceTag.run]: RUN_ID,
            [InstanceTag.since]: NIGHT.toISOString(),
            [InstanceTag.firstRun]: RUN_ID,
            [InstanceTag.state]: BackupStep.queued,
          },
        },
      ]);
    });

    it('treats an explicit reboot mode like the default', () => {
      const plan = planStartRun([optedIn('i-00000001', 'running', { [OperatorTag.mode]: 'reboot' })], NIGHT, SETTINGS);
      expect(plan.decisions).toEqual([{ kind: 'queue', instanceId: 'i-00000001', reason: REBOOT_REASON }]);
    });

    it('queues a running instance in no-reboot mode, crash-consistent', () => {
      // Act
      const plan = planStartRun(
        [optedIn('i-00000001', 'running', { [OperatorTag.mode]: 'no-reboot' })],
        NIGHT,
        SETTINGS,
      );

      // Assess
      expect(plan.decisions).toEqual([
        {
          kind: 'queue',
          instanceId: 'i-00000001',
          reason: 'no-reboot mode: imaged crash-consistent, without downtime',
        },
      ]);
      expect(writesFor(plan, 'i-00000001')).toEqual({
        [InstanceTag.run]: RUN_ID,
        [InstanceTag.since]: NIGHT.toISOString(),
        [InstanceTag.firstRun]: RUN_ID,
        [InstanceTag.state]: BackupStep.queued,
      });
    });

    it.each(['reboot', 'no-reboot'])('queues a stopped instance (mode %s): its disks are at rest', (mode) => {
      // Act
      const plan = planStartRun([optedIn('i-00000001', 'stopped', { [OperatorTag.mode]: mode })], NIGHT, SETTINGS);

      // Assess
      expect(plan.decisions).toEqual([
        { kind: 'queue', instanceId: 'i-00000001', reason: 'stopped: imaged at rest, without a reboot' },
      ]);
      expect(writesFor(plan, 'i-00000001')[InstanceTag.state]).toBe(BackupStep.queued);
    });

    it.each<InstanceState>(['terminated', 'shutting-down'])('skips a %s instance and records nothing', (state) => {
      // Act
      const plan = planStartRun([optedIn('i-00000001', state)], NIGHT, SETTINGS);

      // Assess
      expect(plan.decisions).toEqual([{ kind: 'skip', instanceId: 'i-00000001', reason: `instance is ${state}` }]);
      expect(plan.tagWrites).toEqual([]);
      expect(queuedIds(plan)).toEqual([]);
    });

    it.each<InstanceState>(['pending', 'stopping'])(
      'queues a %s instance: not lost for the night, later passes image it within the window',
      (state) => {
        // Act
        const plan = planStartRun([optedIn('i-00000001', state)], NIGHT, SETTINGS);

        // Assess
        expect(plan.decisions).toEqual([
          {
            kind: 'queue',
            instanceId: 'i-00000001',
            reason: `instance is ${state}: imaged once it is running or stopped, within the reboot window`,
          },
        ]);
        expect(writesFor(plan, 'i-00000001')[InstanceTag.state]).toBe(BackupStep.queued);
      },
    );
  });

  describe('screened before anything touches them', () => {
    it.each<[string, Instance]>([
      ['an instance-store root', { ...optedIn('i-00000001', 'running'), rootDeviceType: 'instance-store' }],
      ['a hibernated instance', { ...optedIn('i-00000001', 'stopped'), stateReasonCode: HIBERNATED_STATE_REASON }],
    ])('records %s as failed with its reason, and queues nothing', (_, subject) => {
      // Act
      const plan = planStartRun([subject], NIGHT, SETTINGS);

      // Assess
      expect(plan.decisions).toEqual([{ kind: 'fail', instanceId: 'i-00000001', reason: expect.any(String) }]);
      const written = writesFor(plan, 'i-00000001');
      expect(written[InstanceTag.state]).toBe(BackupStep.failed);
      expect(written[InstanceTag.lastError]).toMatch(/instance-store|hibernated/);
    });

    it('queues an EBS-backed instance stopped without hibernation', () => {
      const stopped = { ...optedIn('i-00000001', 'stopped'), stateReasonCode: 'Client.UserInitiatedShutdown' };
      expect(queuedIds(planStartRun([stopped], NIGHT, SETTINGS))).toEqual(['i-00000001']);
    });

    it('fails an instance whose group tag is invalid: its turn cannot be known', () => {
      // Act
      const plan = planStartRun(
        [optedIn('i-00000001', 'running', { [OperatorTag.group]: 'web\nservers' })],
        NIGHT,
        SETTINGS,
      );

      // Assess
      expect(plan.decisions[0]).toMatchObject({ kind: 'fail', reason: expect.stringContaining(OperatorTag.group) });
      expect(writesFor(plan, 'i-00000001')[InstanceTag.policyError]).toContain(OperatorTag.group);
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
        expect(queuedIds(plan)).toEqual([]);
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
      expect(queuedIds(plan)).toEqual(['i-00000001']);
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
      expect(queuedIds(plan)).toEqual([]);
    });

    it('skips an instance whose earlier image is still pending, however old', () => {
      // Prepare
      const lastNight = secondsAfter(NIGHT, -86_400);

      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running', inRun('imaging', lastNight))], NIGHT, SETTINGS);

      // Assess
      expect(plan.decisions[0]).toMatchObject({ kind: 'skip', reason: expect.stringContaining('still in progress') });
      expect(plan.tagWrites).toEqual([]);
      expect(queuedIds(plan)).toEqual([]);
    });

    it.each<BackupStep>(['queued'])('leaves an earlier run %s within its reboot window alone', (step) => {
      // Prepare
      const recently = secondsAfter(NIGHT, -(WINDOW_SECONDS - 60));

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
    });

    it.each<BackupStep>(['queued'])('restarts an instance left %s by an earlier run whose window is over', (step) => {
      // Prepare
      const longAgo = secondsAfter(NIGHT, -WINDOW_SECONDS);

      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running', inRun(step, longAgo))], NIGHT, SETTINGS);

      // Assess
      expect(queuedIds(plan)).toEqual(['i-00000001']);
      expect(writesFor(plan, 'i-00000001')).toMatchObject({
        [InstanceTag.run]: RUN_ID,
        [InstanceTag.state]: BackupStep.queued,
      });
    });

    it.each<BackupStep>(['succeeded', 'failed'])('starts afresh after an earlier run that %s', (step) => {
      // Prepare
      const lastNight = secondsAfter(NIGHT, -86_400);

      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running', inRun(step, lastNight))], NIGHT, SETTINGS);

      // Assess
      expect(queuedIds(plan)).toEqual(['i-00000001']);
    });

    it.each<Tags>([
      { [InstanceTag.state]: 'queued', [InstanceTag.run]: '20261125T0300Z', [InstanceTag.since]: 'yesterday' },
      { [InstanceTag.state]: 'queued', [InstanceTag.since]: '2026-11-26T02:59:00.000Z' },
      { [InstanceTag.state]: 'rebooting', [InstanceTag.run]: '20261125T0300Z', [InstanceTag.since]: 'x' },
      { [InstanceTag.state]: 'thinking', [InstanceTag.run]: '20261125T0300Z', [InstanceTag.since]: 'x' },
    ])('starts afresh when the step tags cannot be read (%#), instead of staying stuck', (tags) => {
      expect(queuedIds(planStartRun([optedIn('i-00000001', 'running', tags)], NIGHT, SETTINGS))).toEqual([
        'i-00000001',
      ]);
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

      // Act: the same schedule delivered again a little later in the same minute
      const again = planStartRun(
        applied(fleet, first.tagWrites, first.clearPolicyError),
        secondsAfter(NIGHT, 30),
        SETTINGS,
      );

      // Assess
      expect(again.runId).toBe(first.runId);
      expect(again.decisions.map((decision) => decision.kind)).toEqual(Array(fleet.length).fill('skip'));
      expect(again.tagWrites).toEqual([]);
      expect(again.clearPolicyError).toEqual([]);
    });
  });

  describe('invalid operator tags', () => {
    it('does not back up an instance whose mode is invalid, and records why', () => {
      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running', { [OperatorTag.mode]: 'fast' })], NIGHT, SETTINGS);

      // Assess
      const problem = `${OperatorTag.mode}="fast" must be 'reboot' or 'no-reboot'`;
      expect(plan.decisions).toEqual([{ kind: 'fail', instanceId: 'i-00000001', reason: problem }]);
      expect(queuedIds(plan)).toEqual([]);
      expect(writesFor(plan, 'i-00000001')).toEqual({
        [InstanceTag.policyError]: problem,
        [InstanceTag.run]: RUN_ID,
        [InstanceTag.since]: NIGHT.toISOString(),
        [InstanceTag.firstRun]: RUN_ID,
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
      expect(queuedIds(plan)).toEqual(['i-00000001']);
      expect(writesFor(plan, 'i-00000001')[InstanceTag.policyError]).toContain(`${key}=${JSON.stringify(raw)}`);
    });

    it.each([
      [{ [OperatorTag.retain]: '2' }, `${OperatorTag.retain}="2" is below the deployment's floor of 3 (minRetain)`],
      [
        { [OperatorTag.retainDays]: '7' },
        `${OperatorTag.retainDays}="7" is below the deployment's floor of 14 days (minRetainDays)`,
      ],
    ])('still backs up an instance whose %p is below the floor, and records it as a policy error', (tags, problem) => {
      // Act
      const settings = { ...SETTINGS, minRetain: 3, minRetainDays: 14 };
      const plan = planStartRun([optedIn('i-00000001', 'running', tags)], NIGHT, settings);

      // Assess
      expect(queuedIds(plan)).toEqual(['i-00000001']);
      expect(writesFor(plan, 'i-00000001')[InstanceTag.policyError]).toContain(problem);
    });

    it.each([
      ['us-west-2,us-west-2', '"us-west-2" is listed twice'],
      ['us-east-1', '"us-east-1" is the source Region'],
      ['us-west', '"us-west" is not a Region name'],
      ['cn-north-1', '"cn-north-1" is not in the partition of us-east-1'],
      ['ap-south-1', '"ap-south-1" is not a Region this deployment copies to (us-west-2, eu-west-1)'],
    ])('still backs up an instance with copy-to=%p, and records why no copy is made', (regions, problem) => {
      // Prepare
      const settings = {
        ...SETTINGS,
        copies: { homeRegion: 'us-east-1', defaultRegions: [], allowedRegions: ['us-west-2', 'eu-west-1'] },
      };

      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running', { [CopyTag.copyTo]: regions })], NIGHT, settings);

      // Assess
      expect(queuedIds(plan)).toEqual(['i-00000001']);
      expect(writesFor(plan, 'i-00000001')[InstanceTag.policyError]).toBe(`${CopyTag.copyTo}: ${problem}`);
    });

    it('still backs up an instance whose share tag names the own account or no account id, and records why', () => {
      // Act
      const plan = planStartRun(
        [
          optedIn('i-00000001', 'running', { [ShareTag.shareWith]: '123456789012,all' }),
          optedIn('i-00000002', 'running', { [ShareTag.shareWith]: '111122223333' }),
        ],
        NIGHT,
        { ...SETTINGS, accountId: '123456789012', shares: { defaultAccounts: [] } },
      );

      // Assess
      expect(queuedIds(plan)).toEqual(['i-00000001', 'i-00000002']);
      expect(writesFor(plan, 'i-00000001')[InstanceTag.policyError]).toBe(
        `${ShareTag.shareWith}: "123456789012" is the account the backups are in; ${ShareTag.shareWith}: "all" is not a 12-digit account id`,
      );
      expect(writesFor(plan, 'i-00000002')[InstanceTag.policyError]).toBeUndefined();
    });

    it('records a copy retention that cannot be read, or below the floor, as a policy error', () => {
      // Act
      const plan = planStartRun(
        [
          optedIn('i-00000001', 'running', { [CopyTag.copyRetain]: 'x' }),
          optedIn('i-00000002', 'running', { [CopyTag.copyRetain]: '1' }),
        ],
        NIGHT,
        { ...SETTINGS, minRetain: 2 },
      );

      // Assess
      expect(writesFor(plan, 'i-00000001')[InstanceTag.policyError]).toContain(`${CopyTag.copyRetain}="x"`);
      expect(writesFor(plan, 'i-00000002')[InstanceTag.policyError]).toContain(
        `${CopyTag.copyRetain}="1" is below the deployment's floor of 2`,
      );
    });

    it('records no policy error for a copy-to naming allowed Regions, or an empty one (no copies)', () => {
      // Prepare
      const settings = {
        ...SETTINGS,
        copies: { homeRegion: 'us-east-1', defaultRegions: [], allowedRegions: ['us-west-2', 'eu-west-1'] },
      };

      // Act
      const plan = planStartRun(
        [
          optedIn('i-00000001', 'running', { [CopyTag.copyTo]: 'us-west-2, eu-west-1' }),
          optedIn('i-00000002', 'running', { [CopyTag.copyTo]: '' }),
        ],
        NIGHT,
        settings,
      );

      // Assess
      expect(writesFor(plan, 'i-00000001')[InstanceTag.policyError]).toBeUndefined();
      expect(writesFor(plan, 'i-00000002')[InstanceTag.policyError]).toBeUndefined();
    });

    it('records no policy error for a retention at or above the floor, and clears an old one', () => {
      // Act
      const settings = { ...SETTINGS, minRetain: 3, minRetainDays: 14 };
      const tags = { [OperatorTag.retain]: '3', [OperatorTag.retainDays]: '14', [InstanceTag.policyError]: 'old' };
      const plan = planStartRun([optedIn('i-00000001', 'running', tags)], NIGHT, settings);

      // Assess
      expect(writesFor(plan, 'i-00000001')).not.toHaveProperty([InstanceTag.policyError]);
      expect(plan.clearPolicyError).toEqual(['i-00000001']);
    });

    it('writes the policy error apart from the step, so the step tags stay the same for every instance', () => {
      // Act
      const plan = planStartRun([optedIn('i-00000001', 'running', { [OperatorTag.retain]: 'abc' })], NIGHT, SETTINGS);

      // Assess
      expect(plan.tagWrites.map((write) => Object.keys(write.tags))).toEqual([
        [InstanceTag.policyError],
        [InstanceTag.run, InstanceTag.since, InstanceTag.firstRun, InstanceTag.state],
      ]);
    });

    it('marks the first run of an instance without a good backup once, and never one that had a backup', () => {
      // Act
      const plan = planStartRun(
        [
          optedIn('i-00000001', 'running'),
          optedIn('i-00000002', 'running', { [InstanceTag.firstRun]: '20261120T0300Z' }),
          optedIn('i-00000003', 'running', { [InstanceTag.lastSuccess]: '20261125T0300Z' }),
        ],
        NIGHT,
        SETTINGS,
      );

      // Assess
      expect(writesFor(plan, 'i-00000001')).toHaveProperty([InstanceTag.firstRun], RUN_ID);
      expect(writesFor(plan, 'i-00000002')).not.toHaveProperty([InstanceTag.firstRun]);
      expect(writesFor(plan, 'i-00000003')).not.toHaveProperty([InstanceTag.firstRun]);
      expect(queuedIds(plan)).toEqual(['i-00000001', 'i-00000002', 'i-00000003']);
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
      expect(queuedIds(plan)).toEqual(['i-00000001']);
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

  it('for any fleet: one decision per instance, queues only opted-in instances that can be imaged, each recorded', () => {
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
          if (decision.kind === 'queue') {
            expect(['running', 'stopped', 'pending', 'stopping']).toContain(subject.state);
            expect(written[InstanceTag.state]).toBe(BackupStep.queued);
          }
          if (decision.kind === 'fail') expect(written[InstanceTag.state]).toBe(BackupStep.failed);
        }
      }),
    );
  });
});
