/**
 * `npm start -- --endpoint URL`: the night against a separately started endpoint, with nothing but the EC2 API
 * (no state-change events reach the functions, no fault injection): the service's own sweeps carry the night.
 */
import type { ChildProcess } from 'node:child_process';
import { DEMO_SHARE_ACCOUNT } from '../../../local/runner/fleet';
import { run, startServer } from './process';

const SPEED = '7200';
let endpoint: { child: ChildProcess; url: string };

beforeAll(async () => {
  endpoint = await startServer('local/ec2/cli.ts', ['--port', '0', '--speed', SPEED, '--no-throttling']);
}, 30_000);

afterAll(() => {
  endpoint.child.kill('SIGTERM');
});

it('backs up every opted-in instance through the EC2 API alone', async () => {
  const finished = await run('local/runner/cli.ts', ['--endpoint', endpoint.url, '--speed', SPEED, '--json']);

  expect(finished.stderr).toBe('');
  expect(finished.code).toBe(0);
  const summary = JSON.parse(finished.stdout) as {
    instances: { name: string; state: string; imagesKept: number; group: string | null; sharedWith: string[] }[];
    totals: { maxDownInOneGroup: number };
  };
  const states = Object.fromEntries(summary.instances.map((instance) => [instance.name, instance.state]));
  for (const name of [
    'web-1',
    'web-2',
    'web-3',
    'db-1',
    'vault-1',
    'batch-1',
    'cache-1',
    'legacy-1',
    'typo-1',
    'worker-1',
  ]) {
    expect(states[name]).toBe('succeeded');
  }
  // The screened ones are screened by the service itself, whatever the endpoint.
  expect(states['ephemeral-1']).toBe('failed');
  expect(states['sleepy-1']).toBe('failed');
  expect(states['scratch-1']).toBe('-');
  // No Auto Scaling stand-in there: its members have no group.
  expect(summary.instances.find((instance) => instance.name === 'worker-1')?.group).toBeNull();
  expect(summary.totals.maxDownInOneGroup).toBeLessThanOrEqual(1);
  // Shared through EC2's permissions alone: db-1's backup. vault-1's, under the AWS managed key, would take a key made
  // on the endpoint's KMS first (shareKmsKey), which the runner does not assume there: its share fails, and says so.
  const sharedWith = Object.fromEntries(summary.instances.map((instance) => [instance.name, instance.sharedWith]));
  expect(sharedWith['db-1']).toEqual([DEMO_SHARE_ACCOUNT]);
  expect(sharedWith['vault-1']).toEqual([]);
}, 240_000);
