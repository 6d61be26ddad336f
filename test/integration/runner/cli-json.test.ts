/** `npm start -- --nights 2 --json`: the machine-readable summary of the contract, and an exit status of 0. */
import { run } from './process';

interface InstanceSummary {
  instanceId: string;
  name: string;
  optedIn: boolean;
  mode: string;
  state: string;
  imagesKept: number;
  imagesExpired: number;
  snapshotsDeleted: number;
  lastImageId: string | null;
  error: string | null;
}

it('prints only the JSON summary on stdout, showing rotation at work, and exits 0', async () => {
  const finished = await run('local/runner/cli.ts', ['--nights', '2', '--json']);

  expect(finished.code).toBe(0);
  const summary = JSON.parse(finished.stdout) as {
    nights: number;
    instances: InstanceSummary[];
    totals: Record<string, number>;
    simulatedSeconds: number;
    wallSeconds: number;
  };
  expect(summary.nights).toBe(2);
  expect(summary.simulatedSeconds).toBe(2 * 86_400);
  expect(summary.wallSeconds).toBeGreaterThan(0);
  expect(Object.keys(summary.totals).sort()).toEqual(
    ['ec2Calls', 'failures', 'imagesCreated', 'imagesExpired', 'snapshotsDeleted'].sort(),
  );
  expect(summary.totals.imagesExpired).toBeGreaterThan(0);
  expect(summary.totals.snapshotsDeleted).toBeGreaterThan(0);
  expect(summary.totals.ec2Calls).toBeGreaterThan(0);
  const byName = new Map(summary.instances.map((instance) => [instance.name, instance]));
  expect(byName.get('web-1')).toMatchObject({
    optedIn: true,
    mode: 'reboot',
    state: 'succeeded',
    imagesKept: 2,
    error: null,
  });
  expect(byName.get('web-1')?.lastImageId).toMatch(/^ami-[0-9a-f]+$/);
  expect(byName.get('flaky-1')).toMatchObject({ state: 'failed', imagesKept: 0, imagesExpired: 2 });
  expect(byName.get('scratch-1')).toMatchObject({ optedIn: false, imagesKept: 0, lastImageId: null });
}, 60_000);

it('rejects a bad option with a message and a non-zero exit', async () => {
  const finished = await run('local/runner/cli.ts', ['--nights', 'many']);
  expect(finished.code).not.toBe(0);
  expect(finished.stderr).toContain('--nights must be a positive number');
}, 30_000);
