import { staleBackups } from '../../../../lib/decisions/stale';
import type { Instance } from '../../../../lib/model';
import { InstanceTag } from '../../../../lib/tags';

const SETTINGS = { optIn: { key: 'Backup', value: 'true' }, staleAfterHours: 36 };
const NOW = new Date('2026-11-28T03:00:00Z');

function instance(id: string, tags: Record<string, string>, state: Instance['state'] = 'running'): Instance {
  return { id, state, tags: { Backup: 'true', ...tags } };
}

describe('staleBackups', () => {
  it('reports an instance whose last good backup is older than the threshold, exactly from then on', () => {
    const lastNight = instance('i-1', { [InstanceTag.lastSuccess]: '20261127T0300Z' });
    const twoNightsAgo = instance('i-2', { [InstanceTag.lastSuccess]: '20261126T0300Z' });
    const justUnder = instance('i-3', { [InstanceTag.lastSuccess]: '20261126T1501Z' });
    const justAt = instance('i-4', { [InstanceTag.lastSuccess]: '20261126T1500Z' });
    expect(staleBackups([lastNight, twoNightsAgo, justUnder, justAt], NOW, SETTINGS)).toEqual([
      { instanceId: 'i-2', lastSuccess: '20261126T0300Z', hours: 48 },
      { instanceId: 'i-4', lastSuccess: '20261126T1500Z', hours: 36 },
    ]);
  });

  it('reports an instance in runs for that long without ever a good backup, not one just opted in', () => {
    const neverGood = instance('i-5', { [InstanceTag.run]: '20261126T0300Z', [InstanceTag.state]: 'failed' });
    const justOptedIn = instance('i-6', {});
    expect(staleBackups([neverGood, justOptedIn], NOW, SETTINGS)).toEqual([{ instanceId: 'i-5', hours: 48 }]);
  });

  it('counts an instance failing every night from its first run, not from last night’s', () => {
    const lastNight = { [InstanceTag.run]: '20261127T0300Z', [InstanceTag.state]: 'failed' };
    const failingForThreeNights = instance('i-10', { ...lastNight, [InstanceTag.firstRun]: '20261125T0300Z' });
    const failingSinceYesterday = instance('i-11', { ...lastNight, [InstanceTag.firstRun]: '20261127T0300Z' });
    const backedUpOnceLongAgo = instance('i-12', {
      ...lastNight,
      [InstanceTag.firstRun]: '20261101T0300Z',
      [InstanceTag.lastSuccess]: '20261127T0300Z',
    });
    expect(staleBackups([failingForThreeNights, failingSinceYesterday, backedUpOnceLongAgo], NOW, SETTINGS)).toEqual([
      { instanceId: 'i-10', hours: 72 },
    ]);
  });

  it('leaves out instances not opted in (any more), terminated, or whose tags cannot be read', () => {
    const old = { [InstanceTag.lastSuccess]: '20261120T0300Z' };
    expect(
      staleBackups(
        [
          instance('i-7', { ...old, Backup: 'false' }),
          instance('i-8', old, 'terminated'),
          instance('i-9', { [InstanceTag.lastSuccess]: 'yesterday' }),
        ],
        NOW,
        SETTINGS,
      ),
    ).toEqual([]);
  });
});
