/** The night's picture before drawing: sections per group, a lane per instance, aggregates for a large fleet. */
import type { InstanceFacts, NightEvents, Span } from '../../../../local/timeline/events';
import { duration, nightTimeline } from '../../../../local/timeline/lanes';

const MINUTE = 60_000;
const START = Date.UTC(2026, 10, 28, 20);
const at = (minutes: number): number => START + minutes * MINUTE;

function facts(instanceId: string, group: string | null, fields: Partial<InstanceFacts> = {}): InstanceFacts {
  return {
    instanceId,
    name: instanceId.replace('i-', ''),
    group,
    outcome: 'backed up',
    error: null,
    downtimeSeconds: 0,
    ...fields,
  };
}

function down(instanceId: string, from: number, until: number, ending: Span['ending'] = 'done'): Span {
  return { instanceId, kind: 'down', from: at(from), until: at(until), ending };
}

function events(fields: Partial<NightEvents>): NightEvents {
  return {
    start: START,
    end: at(24 * 60),
    instances: [],
    spans: [],
    markers: [],
    firings: [],
    figures: { instances: 0, backedUp: 0, failed: 0, maxDownAtOnce: 0, maxDownInOneGroup: 0, ec2Calls: 0 },
    ...fields,
  };
}

describe('nightTimeline', () => {
  const instances = [
    facts('i-web1', 'web', { downtimeSeconds: 150 }),
    facts('i-db', null),
    facts('i-web2', 'web', { downtimeSeconds: 120 }),
    facts('i-app', 'app', { outcome: 'failed', error: 'image failed' }),
  ];

  it('draws a section per group, named groups first and instances in none last, with how many were down at once', () => {
    const timeline = nightTimeline(
      events({ instances, spans: [down('i-web1', 420, 422.5), down('i-web2', 421, 423)] }),
    );
    expect(timeline.sections.map((section) => [section.title, section.lanes.map((lane) => lane.title)])).toEqual([
      ['group app: 1 instance(s), at most 0 down at once', ['app · failed']],
      ['group web: 2 instance(s), at most 2 down at once', ['web1 · backed up', 'web2 · backed up']],
      ['no group: 1 instance(s)', ['db · backed up']],
    ]);
    expect(timeline.sections[0]?.lanes[0]?.detail).toBe('i-app: image failed');
  });

  it('labels spans and markers in words, in time order, with their times in UTC', () => {
    const timeline = nightTimeline(
      events({
        instances: [facts('i-a', null)],
        spans: [
          { instanceId: 'i-a', kind: 'restore-test', from: at(960), until: at(990), ending: 'passed' },
          down('i-a', 420, 422.5),
          { instanceId: 'i-a', kind: 'image', from: at(420), until: at(425), ending: 'failed' },
          { instanceId: 'i-a', kind: 'copy', from: at(430), until: at(24 * 60), ending: 'open', region: 'us-west-2' },
          { instanceId: 'i-a', kind: 'copy', from: at(450), until: at(460), ending: 'done', reencrypted: true },
        ],
        markers: [{ instanceId: 'i-a', kind: 'expiry', at: at(600), detail: 'ami-old' }],
      }),
    );
    const items = timeline.sections[0]?.lanes[0]?.items ?? [];
    expect(items.map((item) => [item.kind, item.label])).toEqual([
      ['down', 'down 2 min 30 s'],
      ['image', 'image pending 5 min, failed'],
      ['copy', 'copy pending to us-west-2 16 h 50 min, not over at the end'],
      ['copy', 'copy pending, re-encrypted for sharing 10 min'],
      ['expiry', 'expired ami-old'],
      ['restore-test', 'restore test 30 min, passed'],
    ]);
    expect(items[0]?.detail).toBe('down 2 min 30 s: 2026-11-29 03:00:00 UTC to 2026-11-29 03:02:30 UTC');
  });

  it("opens on the first night's image reboots, and lists each schedule's firings", () => {
    const timeline = nightTimeline(
      events({
        instances,
        spans: [down('i-web1', 420, 423), down('i-web2', 425, 428), down('i-db', 440, 24 * 60, 'open')],
        firings: [
          { functionName: 'reboot', at: at(420) },
          { functionName: 'createImages', at: at(425) },
          { functionName: 'createImages', at: at(430) },
        ],
      }),
    );
    expect(timeline.focus).toEqual({ start: at(410), end: at(438) });
    expect(timeline.schedules).toEqual([
      { functionName: 'reboot', firings: [at(420)] },
      { functionName: 'createImages', firings: [at(425), at(430)] },
    ]);
    expect(nightTimeline(events({ instances })).focus).toEqual({ start: START, end: at(24 * 60) });
  });

  it('aggregates each group into one lane over the size, and lists the worst instances on their own', () => {
    const timeline = nightTimeline(
      events({
        instances,
        spans: [down('i-web1', 420, 422.5), down('i-web2', 421, 423), down('i-web2', 500, 501)],
        markers: [
          { instanceId: 'i-web1', kind: 'expiry', at: at(600), detail: 'ami-1' },
          { instanceId: 'i-web2', kind: 'expiry', at: at(600.5), detail: 'ami-2' },
        ],
      }),
      { maxInstanceLanes: 3, worstListed: 2 },
    );
    const [worst, , web] = timeline.sections;
    expect(worst?.title).toBe('worst 2 of 4 instances (failed, then longest down)');
    expect(worst?.lanes.map((lane) => lane.title)).toEqual(['app · failed', 'web1 · backed up']);
    expect(web?.lanes).toEqual([]);
    expect(web?.items.map((item) => item.label)).toEqual([
      'down: up to 2 at once',
      'down: up to 1 at once',
      '2 expired',
    ]);
    expect(web?.items[0]).toMatchObject({ from: at(420), until: at(423) });
  });
});

describe('duration', () => {
  it('reads as a person says it', () => {
    expect([0, 45_000, 120_000, 150_000, 3_600_000, 5_400_000, 61_512_000, 3_605_000].map(duration)).toEqual([
      '0 s',
      '45 s',
      '2 min',
      '2 min 30 s',
      '1 h',
      '1 h 30 min',
      '17 h 5 min 12 s',
      '1 h 5 s',
    ]);
  });
});
