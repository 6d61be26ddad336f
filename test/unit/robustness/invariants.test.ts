/** The invariant checker finds each broken promise and names the resources that break it. */
import type { AuditEntry } from '../../../local/ec2';
import {
  checkInvariants,
  checkSharing,
  type InvariantInput,
  type InvariantSettings,
  publishedFailures,
  type World,
  type WorldImage,
  type WorldInstance,
} from '../../../local/runner/invariants';

const OWNER = 'ami-backup-dev';
const RUN = '20261127T0300Z';
const RUN_START = Date.parse('2026-11-27T03:00:00Z');
const NOW = Date.parse('2026-11-27T06:05:00Z');
const HOUR = 3_600_000;
const SETTINGS: InvariantSettings = {
  owner: OWNER,
  optIn: { key: 'Backup', value: 'true' },
  defaultRetain: 7,
  readyTimeoutSeconds: 3600,
  imageTimeoutSeconds: 86_400,
  rebootWindowMinutes: 180,
  maxDownPerGroup: 1,
  maxConcurrentReboots: 2,
};

function instance(id: string, tags: Record<string, string>, state = 'running'): WorldInstance {
  return { id, state, tags: { Backup: 'true', ...tags } };
}

function image(
  id: string,
  instanceId: string,
  run: string,
  createdAt: number,
  extra: Partial<WorldImage> = {},
): WorldImage {
  return {
    id,
    name: `ami-backup-${instanceId}-${run}`,
    state: 'available',
    creationDate: createdAt,
    // Recorded good: its outcome is on it.
    tags: {
      'ami-backup:managed-by': OWNER,
      'ami-backup:instance-id': instanceId,
      'ami-backup:run': run,
      'ami-backup:state': 'succeeded',
    },
    snapshotIds: [`snap-${id.slice(4)}`],
    sourceInstanceId: instanceId,
    ...extra,
  };
}

const succeeded = {
  'ami-backup:state': 'succeeded',
  'ami-backup:run': RUN,
  'ami-backup:since': '2026-11-27T03:00:00.000Z',
};
const good = image('ami-00000002', 'i-00000001', RUN, RUN_START + 300_000);
const world = (parts: Partial<World>): World => ({ now: NOW, instances: [], images: [], snapshots: [], ...parts });
const snapshotsOf = (images: readonly WorldImage[]) =>
  images.map((img) => ({ id: img.snapshotIds[0] ?? '', startTime: img.creationDate, tags: img.tags }));

function input(parts: Partial<InvariantInput>): InvariantInput {
  const after = world({
    instances: [instance('i-00000001', succeeded)],
    images: [good],
    snapshots: snapshotsOf([good]),
  });
  return { before: after, after, audit: [], runId: RUN, settings: SETTINGS, failuresPublished: [], ...parts };
}

const audit = (entry: Omit<AuditEntry, 'tags'> & { tags: Record<string, string> }): AuditEntry => ({
  ...entry,
  tags: new Map(Object.entries(entry.tags)),
});

describe('checkInvariants', () => {
  it('finds nothing wrong in a good night', () => {
    expect(checkInvariants(input({}))).toEqual([]);
  });

  it('(1) names an opted-in instance with neither a good image of the run nor its failure recorded', () => {
    const after = world({ instances: [instance('i-00000001', { ...succeeded, 'ami-backup:run': '20261126T0300Z' })] });
    const violations = checkInvariants(input({ before: after, after }));
    expect(violations).toEqual([
      expect.objectContaining({ invariant: 'backup-or-failure', resources: ['i-00000001'] }),
    ]);
  });

  it('(1) accepts a recorded failure of the run, or a published one when the instance has no room for tags', () => {
    const failed = instance('i-00000001', { 'ami-backup:state': 'failed', 'ami-backup:last-error': `${RUN}: boom` });
    expect(
      checkInvariants(input({ before: world({ instances: [failed] }), after: world({ instances: [failed] }) })),
    ).toEqual([]);
    const full = instance(
      'i-00000001',
      Object.fromEntries(Array.from({ length: 49 }, (_, index) => [`k${index}`, 'v'])),
    );
    const fullWorld = world({ instances: [full] });
    const published = publishedFailures([
      {
        EventId: 'e1',
        Source: 'ami-backup',
        DetailType: 'Backup Failed',
        Detail: JSON.stringify({ instanceId: 'i-00000001', runId: RUN, reason: 'no room' }),
        Resources: undefined,
        EventBusName: 'default',
        Time: undefined,
        receivedAt: new Date(NOW),
      },
    ]);
    expect(checkInvariants(input({ before: fullWorld, after: fullWorld, failuresPublished: published }))).toEqual([]);
    expect(checkInvariants(input({ before: fullWorld, after: fullWorld }))).toHaveLength(1);
  });

  it('(2) names the newest good image deregistered, and an instance left with fewer good images than its retention', () => {
    const old = image('ami-00000001', 'i-00000001', '20261126T0300Z', RUN_START - 24 * HOUR);
    const before = world({
      instances: [instance('i-00000001', succeeded)],
      images: [old],
      snapshots: snapshotsOf([old]),
    });
    const after = world({
      instances: [instance('i-00000001', succeeded)],
      images: [good],
      snapshots: snapshotsOf([good]),
    });
    const violations = checkInvariants(
      input({
        before,
        after,
        audit: [
          audit({
            at: RUN_START,
            kind: 'image-deregistered',
            id: old.id,
            previousState: 'available',
            creationDate: old.creationDate,
            tags: old.tags,
          }),
        ],
      }),
    );
    expect(violations.map((violation) => [violation.invariant, violation.resources])).toEqual([
      ['good-backup-kept', ['ami-00000001', 'i-00000001']],
      ['good-backup-kept', ['i-00000001', 'ami-00000001']],
    ]);
  });

  it('(2) accepts deregistering an older good image once a newer one is available, within retention', () => {
    const old = image('ami-00000001', 'i-00000001', '20261126T0300Z', RUN_START - 24 * HOUR);
    const tags = { ...succeeded, 'ami-backup:retain': '1' };
    const before = world({ instances: [instance('i-00000001', tags)], images: [old], snapshots: snapshotsOf([old]) });
    const after = world({ instances: [instance('i-00000001', tags)], images: [good], snapshots: snapshotsOf([good]) });
    const log = [
      audit({
        at: RUN_START + HOUR,
        kind: 'image-available',
        id: good.id,
        creationDate: good.creationDate,
        tags: good.tags,
      }),
      audit({
        at: NOW,
        kind: 'image-deregistered',
        id: old.id,
        previousState: 'available',
        creationDate: old.creationDate,
        tags: old.tags,
      }),
    ];
    expect(checkInvariants(input({ before, after, audit: log }))).toEqual([]);
  });

  it('(3) names a snapshot of the service that belongs to no image, once older than the orphan age', () => {
    const orphan = { id: 'snap-00000009', startTime: NOW - 2 * HOUR, tags: { 'ami-backup:managed-by': OWNER } };
    const young = { id: 'snap-0000000a', startTime: NOW - 60_000, tags: { 'ami-backup:managed-by': OWNER } };
    const after = world({
      instances: [instance('i-00000001', succeeded)],
      images: [good],
      snapshots: [...snapshotsOf([good]), orphan, young],
    });
    expect(checkInvariants(input({ after }))).toEqual([
      expect.objectContaining({ invariant: 'no-orphan-snapshot', resources: ['snap-00000009'] }),
    ]);
  });

  it("(4) names what was deleted, retagged or rebooted without being the service's", () => {
    const foreign = image('ami-0000000f', 'i-00000001', '20261120T0300Z', RUN_START - 5 * 24 * HOUR, {
      tags: { 'ami-backup:instance-id': 'i-00000001' },
    });
    const stranger = { id: 'i-0000000e', state: 'running', tags: { Name: 'stranger' } };
    const base = input({});
    const before = world({ ...base.after, instances: [...base.after.instances, stranger], images: [good, foreign] });
    const after = world({
      ...base.after,
      instances: [...base.after.instances, { ...stranger, tags: { Name: 'stranger', 'ami-backup:state': 'queued' } }],
    });
    const log = [
      audit({
        at: NOW,
        kind: 'image-deregistered',
        id: foreign.id,
        previousState: 'available',
        creationDate: 0,
        tags: foreign.tags,
      }),
      audit({ at: NOW, kind: 'snapshot-deleted', id: 'snap-0000000f', tags: {} }),
      audit({ at: NOW, kind: 'instance-rebooted', id: stranger.id, tags: stranger.tags }),
      audit({
        at: NOW,
        kind: 'image-created',
        id: 'ami-0000000e',
        instanceId: stranger.id,
        noReboot: false,
        instanceState: 'running',
        downAt: NOW,
        healthyAt: NOW + 120_000,
        tags: {},
      }),
    ];
    const violations = checkInvariants(input({ before, after, audit: log })).filter(
      (violation) => violation.invariant === 'foreign-untouched',
    );
    expect(violations.map((violation) => violation.resources[0])).toEqual([
      'ami-0000000f',
      'snap-0000000f',
      'i-0000000e',
      'i-0000000e',
      'ami-0000000f',
      'i-0000000e',
    ]);
  });

  it('(4) names a look-alike deregistered, or its snapshot deleted, though it carries the ownership tag', () => {
    // Prepare: tagged as ours, but EC2 made it from another instance
    const lookAlike = image('ami-0000000d', 'i-00000001', '20261120T0300Z', NOW - 7 * 24 * HOUR, {
      sourceInstanceId: 'i-0000000c',
    });
    const base = input({});
    const before = world({ ...base.after, images: [good, lookAlike] });
    const log = [
      audit({
        at: NOW,
        kind: 'image-deregistered',
        id: lookAlike.id,
        previousState: 'available',
        creationDate: 0,
        tags: lookAlike.tags,
      }),
      audit({ at: NOW, kind: 'snapshot-deleted', id: 'snap-0000000d', tags: lookAlike.tags }),
    ];

    // Act
    const violations = checkInvariants(input({ before, after: base.after, audit: log })).filter(
      (violation) => violation.invariant === 'foreign-untouched',
    );

    // Assess
    expect(violations.map((violation) => violation.message)).toEqual([
      'snap-0000000d: deleted, a snapshot of a look-alike image',
      'ami-0000000d: foreign image gone',
    ]);
  });

  it('(1, 2) never counts a look-alike as a good backup', () => {
    // Prepare: the run's image is named right but was made from another instance
    const forged = { ...good, sourceInstanceId: 'i-0000000c' };
    const after = world({ ...input({}).after, images: [forged] });

    // Act
    const names = checkInvariants(input({ before: after, after })).map((violation) => violation.invariant);

    // Assess
    expect(names).toContain('backup-or-failure');
  });

  it('(5) names an instance in a step longer than its timeout allows', () => {
    // Queued longer than the reboot window (3 h) and a sweep allow.
    const stuck = instance('i-00000001', {
      'ami-backup:state': 'queued',
      'ami-backup:run': RUN,
      'ami-backup:since': new Date(NOW - 4 * HOUR).toISOString(),
    });
    const waiting = instance('i-00000002', {
      'ami-backup:state': 'imaging',
      'ami-backup:run': RUN,
      'ami-backup:since': new Date(NOW - 2 * HOUR).toISOString(),
    });
    const after = world({
      instances: [stuck, waiting],
      images: [good, image('ami-00000003', 'i-00000002', RUN, NOW - 2 * HOUR)],
    });
    const violations = checkInvariants(input({ before: after, after })).filter(
      (violation) => violation.invariant === 'not-stuck',
    );
    expect(violations).toEqual([expect.objectContaining({ resources: ['i-00000001'] })]);
  });

  it('(1) does not take an available image that is not recorded good for a backup; a failed verification is a failure', () => {
    const unverified = image('ami-00000002', 'i-00000001', RUN, RUN_START + 300_000, {
      tags: { ...good.tags, 'ami-backup:state': 'imaging' },
    });
    const waiting = instance('i-00000001', { ...succeeded, 'ami-backup:state': 'imaging' });
    const after = world({ instances: [waiting], images: [unverified], snapshots: snapshotsOf([unverified]) });
    expect(checkInvariants(input({ before: after, after })).map((violation) => violation.invariant)).toEqual([
      'backup-or-failure',
    ]);
    const failedVerification = instance('i-00000001', {
      ...succeeded,
      'ami-backup:state': 'failed',
      'ami-backup:last-error': `${RUN}: failed-verification: not back healthy`,
    });
    const recorded = world({
      instances: [failedVerification],
      images: [unverified],
      snapshots: snapshotsOf([unverified]),
    });
    expect(checkInvariants(input({ before: recorded, after: recorded }))).toEqual([]);
  });

  it('(2) lets an image that is not a good backup go, even the newest', () => {
    const unverified = image('ami-00000003', 'i-00000001', RUN, RUN_START + 400_000, {
      tags: { ...good.tags, 'ami-backup:state': 'failed' },
    });
    const before = world({
      instances: [instance('i-00000001', succeeded)],
      images: [good, unverified],
      snapshots: snapshotsOf([good, unverified]),
    });
    const after = world({
      instances: [instance('i-00000001', succeeded)],
      images: [good],
      snapshots: snapshotsOf([good]),
    });
    const log = [
      audit({
        at: NOW,
        kind: 'image-deregistered',
        id: unverified.id,
        previousState: 'available',
        creationDate: unverified.creationDate,
        tags: unverified.tags,
      }),
    ];
    expect(checkInvariants(input({ before, after, audit: log }))).toEqual([]);
  });

  describe('(6) images made as the mode asks', () => {
    const created = (
      id: string,
      instanceId: string,
      fields: Partial<AuditEntry>,
      tags: Record<string, string> = { 'ami-backup:managed-by': OWNER },
    ): AuditEntry => audit({ at: RUN_START + 60_000, kind: 'image-created', id, instanceId, ...fields, tags });
    const rebootMode = instance('i-00000001', succeeded);
    const noRebootMode = instance('i-00000002', { ...succeeded, 'ami-backup:mode': 'no-reboot' });
    const stopped = instance('i-00000003', succeeded, 'stopped');
    const after = world({ instances: [rebootMode, noRebootMode, stopped], images: [good] });
    const only6 = (log: AuditEntry[]) =>
      checkInvariants(input({ before: after, after, audit: log })).filter(
        (violation) => violation.invariant === 'imaged-as-its-mode-asks' || violation.invariant === 'no-reboot-call',
      );

    it('names an image of a running reboot-mode instance made with NoReboot=true', () => {
      expect(only6([created('ami-00000002', 'i-00000001', { noReboot: true, instanceState: 'running' })])).toEqual([
        expect.objectContaining({ invariant: 'imaged-as-its-mode-asks', resources: ['ami-00000002', 'i-00000001'] }),
      ]);
    });

    it('accepts EC2’s reboot for it, no-reboot mode, a stopped instance, and images that are not the service’s', () => {
      const fine = [
        created('ami-00000002', 'i-00000001', { noReboot: false, instanceState: 'running', downAt: RUN_START }),
        created('ami-00000004', 'i-00000002', { noReboot: true, instanceState: 'running' }),
        created('ami-00000005', 'i-00000003', { noReboot: true, instanceState: 'stopped' }),
        created('ami-00000006', 'i-00000001', { noReboot: true, instanceState: 'running' }, {}),
      ];
      expect(only6(fine)).toEqual([]);
    });

    it('names every RebootInstances call, whoever the instance is', () => {
      const log = [audit({ at: RUN_START, kind: 'instance-rebooted', id: 'i-00000001', tags: { Backup: 'true' } })];
      expect(only6(log)).toEqual([expect.objectContaining({ invariant: 'no-reboot-call', resources: ['i-00000001'] })]);
    });
  });

  describe('(7) how many are down at once', () => {
    const MINUTE = 60_000;
    /** CreateImage with EC2's reboot of `instanceId`, down from `at` for `minutes` (never back when undefined). */
    const reboot = (instanceId: string, at: number, minutes: number | undefined): AuditEntry =>
      audit({
        at,
        kind: 'image-created',
        id: `ami-${instanceId.slice(2)}${at}`,
        instanceId,
        noReboot: false,
        instanceState: 'running',
        downAt: at,
        ...(minutes === undefined ? { impairedAt: at + 2 * MINUTE } : { healthyAt: at + minutes * MINUTE }),
        tags: { 'ami-backup:managed-by': OWNER },
      });
    const web = (id: string) => instance(id, { ...succeeded, 'ami-backup:group': 'web' });
    const asg = (id: string) => instance(id, { ...succeeded, 'aws:autoscaling:groupName': 'workers' });
    const fleet = world({
      instances: [web('i-0000000a'), web('i-0000000b'), asg('i-0000000c'), asg('i-0000000d')],
    });
    const check = (log: AuditEntry[]) =>
      checkInvariants(input({ before: fleet, after: fleet, audit: log })).filter(
        (violation) => violation.invariant === 'group-limit' || violation.invariant === 'fleet-limit',
      );

    it('accepts the members of a group down one after the other (one back when the next goes)', () => {
      expect(check([reboot('i-0000000a', RUN_START, 2), reboot('i-0000000b', RUN_START + 2 * MINUTE, 2)])).toEqual([]);
    });

    it('names the members of a group down at the same moment, by its tag or by its Auto Scaling group', () => {
      const log = [
        reboot('i-0000000a', RUN_START, 2),
        reboot('i-0000000b', RUN_START + MINUTE, 2),
        reboot('i-0000000c', RUN_START + 10 * MINUTE, 2),
        reboot('i-0000000d', RUN_START + 11 * MINUTE, 2),
      ];
      expect(check(log)).toEqual([
        expect.objectContaining({ invariant: 'group-limit', resources: ['i-0000000a', 'i-0000000b'] }),
        expect.objectContaining({ invariant: 'group-limit', resources: ['i-0000000c', 'i-0000000d'] }),
      ]);
    });

    it('counts a member that never comes back until its ready timeout, when the service gives up on it', () => {
      const afterTimeout = [reboot('i-0000000a', RUN_START, undefined), reboot('i-0000000b', RUN_START + HOUR, 2)];
      expect(check(afterTimeout)).toEqual([]);
      const before = [reboot('i-0000000a', RUN_START, undefined), reboot('i-0000000b', RUN_START + 30 * MINUTE, 2)];
      expect(check(before)).toEqual([expect.objectContaining({ invariant: 'group-limit' })]);
    });

    it('names more instances down at once than the fleet-wide cap allows', () => {
      const log = [
        reboot('i-0000000a', RUN_START, 5),
        reboot('i-0000000c', RUN_START + MINUTE, 5),
        reboot('i-00000001', RUN_START + 2 * MINUTE, 5),
      ];
      expect(check(log)).toEqual([
        expect.objectContaining({ invariant: 'fleet-limit', resources: ['i-00000001', 'i-0000000a', 'i-0000000c'] }),
      ]);
    });
  });
});

describe('restore-test instances', () => {
  const testTags = (run: string, owner = OWNER): Record<string, string> => ({
    'ami-backup:managed-by': owner,
    'ami-backup:test-instance': run,
    'ami-backup:image-id': 'ami-00000002',
    'ami-backup:instance-id': 'i-00000001',
  });
  const withInstances = (instances: WorldInstance[]): InvariantInput => {
    const base = input({});
    const after = world({ ...base.after, instances: [...base.after.instances, ...instances] });
    return { ...base, after };
  };

  it('allows a test instance within its timeout, and ended ones whatever their age', () => {
    const recent = { id: 'i-t1', state: 'running', tags: testTags('20261127T0550Z') };
    const ended = [
      { id: 'i-t2', state: 'terminated', tags: testTags('20261126T0500Z') },
      { id: 'i-t3', state: 'shutting-down', tags: testTags('20261126T0500Z') },
    ];
    expect(checkInvariants(withInstances([recent, ...ended]))).toEqual([]);
  });

  it('reports one left running, pending or stopped past the timeout and a pass, naming it', () => {
    const left = [
      { id: 'i-t4', state: 'running', tags: testTags('20261127T0500Z') },
      { id: 'i-t5', state: 'stopped', tags: testTags('20261126T1200Z') },
      { id: 'i-t6', state: 'pending', tags: testTags('not-a-run') },
    ];
    const violations = checkInvariants(withInstances(left));
    expect(violations.map(({ invariant, resources }) => ({ invariant, resources }))).toEqual([
      { invariant: 'test-instance-ended', resources: ['i-t4'] },
      { invariant: 'test-instance-ended', resources: ['i-t5'] },
      { invariant: 'test-instance-ended', resources: ['i-t6'] },
    ]);
    // The deployment's timeout counts: with an hour, the 05:00 test may still run at 06:05.
    const longer = { ...SETTINGS, restoreTests: { timeoutMinutes: 60, checksRule: 'checks' } };
    expect(checkInvariants({ ...withInstances(left.slice(0, 1)), settings: longer })).toEqual([]);
  });

  it("ignores another stage's test instances", () => {
    const other = { id: 'i-t7', state: 'running', tags: testTags('20261126T0500Z', 'ami-backup-prod') };
    expect(checkInvariants(withInstances([other]))).toEqual([]);
  });
});

describe('sharing', () => {
  const TARGET = '444455556666';
  const OTHER = '111122223333';
  const shares = { defaultAccounts: [], grantableKeys: [], passesRule: 'share-passes' };
  const sharing = (
    instanceTags: Record<string, string>,
    shared: Partial<WorldImage>,
    snapshotUsers: readonly string[] = [],
  ): InvariantInput => {
    const base = input({});
    const img = { ...good, ...shared };
    const after = world({
      account: '123456789012',
      instances: [instance('i-00000001', { ...succeeded, ...instanceTags })],
      images: [img],
      snapshots: snapshotsOf([img]).map((snapshot) => ({ ...snapshot, createVolumeUserIds: snapshotUsers })),
    });
    // Before: the same instance, its image not shared yet.
    const before = world({ ...after, images: [good], snapshots: snapshotsOf([good]) });
    return { ...base, before, after, settings: { ...SETTINGS, shares } };
  };

  it('allows what an instance names, by its tag or the deployment default', () => {
    expect(
      checkInvariants(sharing({ 'ami-backup:share-with': TARGET }, { launchUserIds: [TARGET] }, [TARGET])),
    ).toEqual([]);
    const byDefault = sharing({}, { launchUserIds: [TARGET] }, [TARGET]);
    expect(
      checkInvariants({ ...byDefault, settings: { ...SETTINGS, shares: { ...shares, defaultAccounts: [TARGET] } } }),
    ).toEqual([]);
    // An instance whose tag cannot be read keeps what it shares.
    expect(checkSharing(sharing({ 'ami-backup:share-with': 'all' }, { launchUserIds: [OTHER] }, [OTHER]))).toEqual([]);
  });

  it('names an image or snapshot shared with an account its instance does not name, or of an instance gone', () => {
    const leaked = checkSharing(
      sharing({ 'ami-backup:share-with': TARGET }, { launchUserIds: [TARGET, OTHER] }, [OTHER]),
    );
    expect(leaked.map(({ invariant, resources }) => ({ invariant, resources }))).toEqual([
      { invariant: 'shared-as-named', resources: ['ami-00000002', 'i-00000001'] },
      { invariant: 'shared-as-named', resources: ['snap-00000002', 'i-00000001'] },
    ]);
    expect(leaked[0]?.message).toBe(
      `image ami-00000002 is shared with ${OTHER}, which i-00000001 does not name (it names ${TARGET})`,
    );
    const gone = sharing({}, { launchUserIds: [TARGET] });
    const violations = checkSharing({ ...gone, after: { ...gone.after, instances: [] } });
    expect(violations.map((violation) => violation.invariant)).toEqual(['shared-as-named']);
  });

  it('names an image or snapshot made public, not one public before', () => {
    const publicNow = sharing({}, { launchPublic: true });
    const after = {
      ...publicNow.after,
      snapshots: publicNow.after.snapshots.map((snapshot) => ({ ...snapshot, createVolumePublic: true })),
    };
    expect(
      checkInvariants({ ...publicNow, after }).map(({ invariant, resources }) => ({ invariant, resources })),
    ).toEqual([
      { invariant: 'nothing-public', resources: ['ami-00000002'] },
      { invariant: 'nothing-public', resources: ['snap-00000002'] },
    ]);
    expect(checkSharing({ ...publicNow, before: after, after })).toEqual([]);
  });
});
