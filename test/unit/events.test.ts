/** The sample events in events/ are the console test events and payloads the README documents: each must parse. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseImageStateChange, parseInvocation, parseQueueBatch } from '../../lib/input';

const EVENTS = join(__dirname, '../../events');
const samples = readdirSync(EVENTS)
  .filter((file) => file.endsWith('.json'))
  .map((file) => [file, JSON.parse(readFileSync(join(EVENTS, file), 'utf8')) as unknown] as const);

describe('events/', () => {
  it('holds the documented samples', () => {
    expect(samples.map(([file]) => file).sort()).toEqual([
      'ami-available.json',
      'ami-failed.json',
      'console-all.json',
      'console-dry-run.json',
      'console-instances.json',
      'copy-pass.json',
      'queue-batch.json',
      'scheduled.json',
      'share-pass.json',
    ]);
  });

  it.each(samples.filter(([file]) => file.startsWith('ami-')))('%s is an image state change', (_, event) => {
    expect(parseImageStateChange(event)).toMatchObject({ imageId: expect.stringMatching(/^ami-/) });
  });

  it('queue-batch.json is a batch of image state changes, none rejected', () => {
    const [, event] = samples.find(([file]) => file === 'queue-batch.json') ?? [];
    const batch = parseQueueBatch(event);
    expect(batch?.changes).toEqual([
      expect.objectContaining({ change: expect.objectContaining({ state: 'available' }) }),
    ]);
    expect(batch?.rejected).toEqual([]);
  });

  it.each(samples.filter(([file]) => file.startsWith('console-') || file === 'scheduled.json'))(
    '%s is a valid invocation',
    (file, event) => {
      const invocation = parseInvocation(event, () => new Date('2026-11-26T12:00:00Z'));
      expect(invocation.trigger).toBe(file === 'scheduled.json' ? 'schedule' : 'console');
      expect(invocation.dryRun).toBe(file === 'console-dry-run.json');
    },
  );

  it.each([
    ['copy-pass.json', 'ami-backup-dev-copy-passes'],
    ['share-pass.json', 'ami-backup-dev-share-passes'],
  ])('%s is a pass of its passes, named by its rule', (file, rule) => {
    const [, event] = samples.find(([name]) => name === file) ?? [];
    expect(parseInvocation(event, () => new Date('2026-11-26T12:00:00Z'))).toMatchObject({ trigger: 'schedule', rule });
  });
});
