/** Downtime read from the endpoint's timeline: each image's reboot, merged per instance, and its peaks. */
import type { AuditEntry } from '../../../../local/ec2';
import { downtimeByInstance, groupOf, imageReboots, peak, peaksByGroup } from '../../../../local/runner/downtime';

const MINUTE = 60_000;

function created(instanceId: string, fields: Partial<AuditEntry>): AuditEntry {
  return {
    at: fields.downAt ?? 0,
    kind: 'image-created',
    id: `ami-${instanceId}`,
    instanceId,
    tags: new Map(),
    ...fields,
  };
}

describe('imageReboots', () => {
  it('takes each reboot from the shutdown to the status checks ok, and ignores images made without one', () => {
    const audit = [
      created('a', { downAt: 0, healthyAt: 2 * MINUTE, noReboot: false }),
      created('b', { noReboot: true, instanceState: 'running' }),
      { at: 0, kind: 'image-available', id: 'ami-a', tags: new Map() } satisfies AuditEntry,
    ];
    expect(imageReboots(audit, { end: 60 * MINUTE })).toEqual([
      { instanceId: 'a', from: 0, until: 2 * MINUTE, back: true },
    ]);
  });

  it('counts one that never comes back until the end, or until the service gives up on it', () => {
    const audit = [created('a', { downAt: 0, impairedAt: 2 * MINUTE })];
    expect(imageReboots(audit, { end: 90 * MINUTE })).toEqual([
      { instanceId: 'a', from: 0, until: 90 * MINUTE, back: false },
    ]);
    expect(imageReboots(audit, { end: 90 * MINUTE, giveUpMs: 60 * MINUTE })).toEqual([
      { instanceId: 'a', from: 0, until: 60 * MINUTE, back: false },
    ]);
  });

  it('merges the overlapping reboots of one instance, so that its downtime counts once', () => {
    const audit = [
      created('a', { downAt: 0, impairedAt: 2 * MINUTE }),
      created('a', { downAt: 30 * MINUTE, impairedAt: 32 * MINUTE }),
      created('a', { downAt: 120 * MINUTE, healthyAt: 122 * MINUTE }),
    ];
    const intervals = imageReboots(audit, { end: 100 * MINUTE });
    expect(intervals.map(({ from, until }) => [from, until])).toEqual([[0, 100 * MINUTE]]);
    expect(downtimeByInstance(intervals).get('a')).toBe(6000);
  });
});

describe('peak', () => {
  it('finds the most instances down at one moment; one back as another goes down does not overlap it', () => {
    const intervals = imageReboots(
      [
        created('a', { downAt: 0, healthyAt: 2 * MINUTE }),
        created('b', { downAt: 2 * MINUTE, healthyAt: 4 * MINUTE }),
        created('c', { downAt: MINUTE, healthyAt: 3 * MINUTE }),
      ],
      { end: 60 * MINUTE },
    );
    expect(peak(intervals)).toEqual({ count: 2, at: MINUTE, instanceIds: ['a', 'c'] });
    expect(peak([])).toEqual({ count: 0, instanceIds: [] });
    const groups = new Map([
      ['a', 'web'],
      ['b', 'web'],
      ['c', undefined],
    ]);
    expect(peaksByGroup(intervals, groups).get('web')?.count).toBe(1);
  });
});

describe('groupOf', () => {
  it('reads the operator’s group, else the Auto Scaling group, else none', () => {
    expect(groupOf({ 'ami-backup:group': 'web', 'aws:autoscaling:groupName': 'asg' })).toBe('web');
    expect(groupOf({ 'aws:autoscaling:groupName': 'asg' })).toBe('asg');
    expect(groupOf({})).toBeUndefined();
    expect(groupOf({ 'ami-backup:group': '' })).toBeUndefined();
  });
});
