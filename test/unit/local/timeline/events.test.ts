/** The night's events, read from the endpoint's timeline, the invocations' summaries and the report. */
import { ImageTag, ShareTag } from '../../../../lib/tags';
import type { AuditEntry } from '../../../../local/ec2';
import type { InstanceReport, NightReport } from '../../../../local/runner/night';
import type { InvocationRecord } from '../../../../local/runner/simulation';
import { nightEvents } from '../../../../local/timeline/events';

const MINUTE = 60_000;
const START = Date.UTC(2026, 10, 28, 20);
const at = (minutes: number): number => START + minutes * MINUTE;
const END = at(24 * 60);

function instance(instanceId: string, fields: Partial<InstanceReport> = {}): InstanceReport {
  return {
    instanceId,
    name: `name-${instanceId}`,
    optedIn: true,
    mode: 'reboot',
    state: 'succeeded',
    imagesKept: 1,
    imagesExpired: 0,
    snapshotsDeleted: 0,
    lastImageId: null,
    error: null,
    group: null,
    downtimeSeconds: 0,
    verified: true,
    copies: [],
    sharedWith: [],
    expectedBackup: true,
    expectedFailure: null,
    ...fields,
  };
}

function report(instances: InstanceReport[]): NightReport {
  return {
    nights: 1,
    instances,
    totals: {
      imagesCreated: 0,
      imagesExpired: 0,
      snapshotsDeleted: 0,
      failures: 0,
      ec2Calls: 321,
      maxDownAtOnce: 2,
      maxDownInOneGroup: 1,
      deniedCalls: 0,
      overlappingInvocations: 0,
      throttledInvocations: 0,
      staleInstances: 0,
      restoreTestsPassed: 0,
      restoreTestsFailed: 0,
      copiesCreated: 0,
      copiesExpired: 0,
      imagesShared: 0,
      copiesReencrypted: 0,
    },
    simulatedSeconds: 86_400,
    wallSeconds: 1,
    invocations: 0,
    metrics: {},
    invocationErrors: [],
    problems: [],
  };
}

function entry(kind: AuditEntry['kind'], id: string, minutes: number, fields: Partial<AuditEntry> = {}): AuditEntry {
  return { at: at(minutes), kind, id, tags: new Map(), ...fields };
}

function record(functionName: string, minutes: number, result: unknown, trigger: InvocationRecord['trigger']) {
  return { functionName, trigger, time: new Date(at(minutes)), result, realMs: 1, simulatedMs: 1 };
}

const tagged = (instanceId: string) => new Map([[ImageTag.instanceId, instanceId]]);

describe('nightEvents', () => {
  it('takes downtime from each reboot for an image, open until the end for one that never came back', () => {
    const audit = [
      entry('image-created', 'ami-a', 420, { instanceId: 'i-a', downAt: at(420), healthyAt: at(423) }),
      entry('image-created', 'ami-b', 420, { instanceId: 'i-b', downAt: at(420), impairedAt: at(422) }),
    ];
    const events = nightEvents({ start: START, end: END, audit, records: [], report: report([]) });
    const down = events.spans.filter((span) => span.kind === 'down');
    expect(down).toEqual([
      { instanceId: 'i-a', kind: 'down', from: at(420), until: at(423), ending: 'done' },
      { instanceId: 'i-b', kind: 'down', from: at(420), until: END, ending: 'open' },
    ]);
  });

  it('spans each image from CreateImage until it settled, and a copy from its creation (no CreateImage made it)', () => {
    const audit = [
      entry('image-created', 'ami-a', 420, { instanceId: 'i-a', noReboot: true }),
      entry('image-created', 'ami-b', 421, { instanceId: 'i-b', noReboot: true }),
      entry('image-created', 'ami-c', 422, { instanceId: 'i-c', noReboot: true }),
      entry('image-available', 'ami-a', 425, { tags: tagged('i-a') }),
      entry('image-failed', 'ami-b', 426, { tags: tagged('i-b') }),
      entry('image-available', 'ami-copy', 440, { tags: tagged('i-a'), creationDate: at(430), region: 'us-west-2' }),
    ];
    const events = nightEvents({ start: START, end: END, audit, records: [], report: report([]) });
    expect(events.spans).toEqual([
      { instanceId: 'i-a', kind: 'image', from: at(420), until: at(425), ending: 'done' },
      { instanceId: 'i-b', kind: 'image', from: at(421), until: at(426), ending: 'failed' },
      {
        instanceId: 'i-a',
        kind: 'copy',
        from: at(430),
        until: at(440),
        ending: 'done',
        imageId: 'ami-copy',
        region: 'us-west-2',
      },
      { instanceId: 'i-c', kind: 'image', from: at(422), until: END, ending: 'open' },
    ]);
  });

  it('spans a copy re-encrypted for sharing as a copy in no other Region, and marks its expiry so', () => {
    const reencrypted = new Map([...tagged('i-a'), [ShareTag.reencryptedFrom, 'ami-a']]);
    const audit = [
      entry('image-available', 'ami-shared', 440, { tags: reencrypted, creationDate: at(430), region: 'us-east-1' }),
      entry('image-deregistered', 'ami-shared', 610, { tags: reencrypted, region: 'us-east-1' }),
    ];
    const events = nightEvents({ start: START, end: END, audit, records: [], report: report([]) });
    expect(events.spans).toEqual([
      {
        instanceId: 'i-a',
        kind: 'copy',
        from: at(430),
        until: at(440),
        ending: 'done',
        imageId: 'ami-shared',
        reencrypted: true,
      },
    ]);
    expect(events.markers).toEqual([
      { instanceId: 'i-a', kind: 'expiry', at: at(610), detail: 'ami-shared (its copy re-encrypted for sharing)' },
    ]);
  });

  it('marks expiries where images and copies were deregistered, and failures where a backup recorded one', () => {
    const audit = [
      entry('image-deregistered', 'ami-old', 600, { tags: tagged('i-a') }),
      entry('image-available', 'ami-copy', 440, { tags: tagged('i-a'), creationDate: at(430), region: 'us-west-2' }),
      entry('image-deregistered', 'ami-copy', 610, { tags: tagged('i-a'), region: 'us-west-2' }),
    ];
    const records = [
      record(
        'recordImageState',
        430,
        { function: 'recordImageState', instances: [{ instanceId: 'i-b', action: 'failed', error: 'image failed' }] },
        'queue',
      ),
      record(
        'reboot',
        420,
        { function: 'reboot', instances: [{ instanceId: 'i-c', action: 'fail', reason: 'instance-store' }] },
        'schedule',
      ),
      record(
        'rotate',
        600,
        { function: 'rotate', instances: [{ instanceId: 'i-a', action: 'failed', error: 'not a backup' }] },
        'schedule',
      ),
    ];
    const events = nightEvents({ start: START, end: END, audit, records, report: report([]) });
    expect(events.markers).toEqual([
      { instanceId: 'i-a', kind: 'expiry', at: at(600), detail: 'ami-old' },
      { instanceId: 'i-a', kind: 'expiry', at: at(610), detail: 'ami-copy (its copy in us-west-2)' },
      { instanceId: 'i-b', kind: 'failure', at: at(430), detail: 'image failed' },
      { instanceId: 'i-c', kind: 'failure', at: at(420), detail: 'instance-store' },
    ]);
  });

  it('spans each restore test from its launch until its verdict, and keeps only scheduled firings, in time order', () => {
    const restore = (minutes: number, instances: unknown[]) =>
      record('restoreTests', minutes, { function: 'restoreTests', instances }, 'schedule');
    const records = [
      restore(960, [
        { instanceId: 'i-a', action: 'launch', testInstanceId: 'i-test-a' },
        { instanceId: 'i-b', action: 'launch', testInstanceId: 'i-test-b' },
        { instanceId: 'i-c', action: 'launch', error: 'InsufficientInstanceCapacity' },
      ]),
      restore(975, [{ instanceId: 'i-b', action: 'failed', testInstanceId: 'i-test-b', reason: 'status checks' }]),
      restore(990, [{ instanceId: 'i-a', action: 'passed', testInstanceId: 'i-test-a' }]),
      record('recordImageState', 500, { function: 'recordImageState', instances: [] }, 'queue'),
      record('reboot', 420, { function: 'reboot', instances: [] }, 'schedule'),
    ];
    const events = nightEvents({ start: START, end: END, audit: [], records, report: report([]) });
    expect(events.spans).toEqual([
      { instanceId: 'i-b', kind: 'restore-test', from: at(960), until: at(975), ending: 'failed' },
      { instanceId: 'i-a', kind: 'restore-test', from: at(960), until: at(990), ending: 'passed' },
    ]);
    expect(events.firings).toEqual([
      { functionName: 'reboot', at: at(420) },
      { functionName: 'restoreTests', at: at(960) },
      { functionName: 'restoreTests', at: at(975) },
      { functionName: 'restoreTests', at: at(990) },
    ]);
  });

  it("tells each instance's outcome in words and counts the summary's figures", () => {
    const events = nightEvents({
      start: START,
      end: END,
      audit: [],
      records: [],
      report: report([
        instance('i-a', { group: 'web', downtimeSeconds: 150 }),
        instance('i-b', { verified: false, state: 'failed', error: 'boom' }),
        instance('i-c', { optedIn: false, verified: false, state: '-' }),
        instance('i-d', { verified: false, state: 'imaging' }),
      ]),
    });
    expect(events.instances.map((facts) => [facts.instanceId, facts.outcome, facts.group])).toEqual([
      ['i-a', 'backed up', 'web'],
      ['i-b', 'failed', null],
      ['i-c', 'not opted in', null],
      ['i-d', 'imaging', null],
    ]);
    expect(events.figures).toEqual({
      instances: 4,
      backedUp: 1,
      failed: 1,
      maxDownAtOnce: 2,
      maxDownInOneGroup: 1,
      ec2Calls: 321,
    });
  });
});
