/** `npm start -- --nights 2 --json`: the machine-readable summary of the contract, and an exit status of 0. */
import { DEMO_SHARE_ACCOUNT } from '../../../local/runner/fleet';
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
  group: string | null;
  downtimeSeconds: number;
  verified: boolean;
  restoreTest?: { at: string; passed: boolean; reason?: string };
  copies: { region: string; imageId: string; state: string }[];
  sharedWith: string[];
}

interface Summary {
  nights: number;
  instances: InstanceSummary[];
  totals: Record<string, number>;
  metrics: Record<string, number>;
  simulatedSeconds: number;
  wallSeconds: number;
  problems: string[];
}

// Each run is a process of its own: its timeout allows for a fully loaded machine (alone, they take 10 to 30 s).
it('prints only the JSON summary on stdout, showing rotation at work, and exits 0', async () => {
  const finished = await run('local/runner/cli.ts', ['--nights', '2', '--json', '--no-timeline']);

  expect(finished.code).toBe(0);
  const summary = JSON.parse(finished.stdout) as Summary;
  expect(summary.nights).toBe(2);
  expect(summary.simulatedSeconds).toBe(2 * 86_400);
  expect(summary.wallSeconds).toBeGreaterThan(0);
  expect(Object.keys(summary.totals).sort()).toEqual(
    [
      'ec2Calls',
      'failures',
      'imagesCreated',
      'imagesExpired',
      'snapshotsDeleted',
      'maxDownAtOnce',
      'maxDownInOneGroup',
      'deniedCalls',
      'overlappingInvocations',
      'throttledInvocations',
      'staleInstances',
      'restoreTestsPassed',
      'restoreTestsFailed',
      'copiesCreated',
      'copiesExpired',
      'imagesShared',
      'copiesReencrypted',
    ].sort(),
  );
  // The functions' CloudWatch metrics, read from their output: the demo fleet's nights succeed, fail and expire.
  expect(summary.metrics).toMatchObject({
    BackupsSucceeded: expect.any(Number),
    BackupsFailed: expect.any(Number),
    ImagesExpired: summary.totals.imagesExpired,
    SnapshotsDeleted: expect.any(Number),
    StaleInstances: 0,
  });
  expect(summary.metrics.BackupsSucceeded).toBeGreaterThan(0);
  expect(summary.metrics.BackupsFailed).toBeGreaterThan(0);
  // Invocations take no simulated time here: none came due while another of the same function ran.
  expect(summary.totals.overlappingInvocations).toBe(0);
  expect(summary.totals.throttledInvocations).toBe(0);
  // flaky-1's images fail every night, but two nights leave its last success (none) within 36 hours of its first run.
  expect(summary.totals.staleInstances).toBe(0);
  // Each function ran with its deployed role enforced, and needed nothing more.
  expect(summary.totals.deniedCalls).toBe(0);
  // One web server at a time, while ungrouped instances went down together.
  expect(summary.totals.maxDownInOneGroup).toBe(1);
  expect(summary.totals.maxDownAtOnce).toBeGreaterThan(1);
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
    group: 'web',
    verified: true,
  });
  // Down for two image reboots: a couple of minutes each, from the shutdown to the status checks ok.
  expect(byName.get('web-1')?.downtimeSeconds).toBeGreaterThan(2 * 60);
  expect(byName.get('web-1')?.downtimeSeconds).toBeLessThan(2 * 5 * 60);
  expect(byName.get('db-1')).toMatchObject({ mode: 'no-reboot', downtimeSeconds: 0, verified: true, group: null });
  expect(byName.get('worker-1')).toMatchObject({ group: 'workers-asg', verified: true });
  expect(byName.get('fragile-1')).toMatchObject({ state: 'failed', verified: false, imagesKept: 2 });
  expect(byName.get('fragile-1')?.error).toMatch(/^\d{8}T\d{4}Z: failed-verification: /);
  for (const name of ['ephemeral-1', 'sleepy-1']) {
    expect(byName.get(name)).toMatchObject({ state: 'failed', imagesKept: 0, downtimeSeconds: 0, verified: false });
  }
  expect(byName.get('web-1')?.lastImageId).toMatch(/^ami-[0-9a-f]+$/);
  expect(byName.get('flaky-1')).toMatchObject({ state: 'failed', imagesKept: 0, imagesExpired: 2 });
  expect(byName.get('scratch-1')).toMatchObject({ optedIn: false, imagesKept: 0, lastImageId: null });
  // db-1's good backups, copied to the second Region each night; no other instance has copies.
  const copy = { region: 'us-west-2', imageId: expect.stringMatching(/^ami-[0-9a-f]+$/), state: 'succeeded' };
  expect(byName.get('db-1')?.copies).toEqual([copy, copy]);
  expect(summary.instances.filter((instance) => instance.copies.length > 0).map((instance) => instance.name)).toEqual([
    'db-1',
  ]);
  expect(summary.totals).toMatchObject({ copiesCreated: 2, copiesExpired: 0 });
  // Shared with the recovery account: db-1's backups as they are; vault-1's (its root under the AWS managed key)
  // through a copy of each re-encrypted with the key the demo makes. Each night's backup (or copy) shared once.
  expect(byName.get('vault-1')).toMatchObject({ mode: 'reboot', state: 'succeeded', verified: true, imagesKept: 2 });
  expect(
    summary.instances.filter((instance) => instance.sharedWith.length > 0).map((i) => [i.name, i.sharedWith]),
  ).toEqual([
    ['db-1', [DEMO_SHARE_ACCOUNT]],
    ['vault-1', [DEMO_SHARE_ACCOUNT]],
  ]);
  expect(summary.instances.every((instance) => Array.isArray(instance.sharedWith))).toBe(true);
  expect(summary.totals).toMatchObject({ imagesShared: 4, copiesReencrypted: 2 });
}, 240_000);

it("runs the weekly restore test in the demo's last night: with --nights 8, each backed-up instance's passed, none of them stale", async () => {
  const finished = await run('local/runner/cli.ts', ['--nights', '8', '--json', '--no-timeline']);

  expect(finished.code).toBe(0);
  const summary = JSON.parse(finished.stdout) as Summary;
  expect(summary.problems).toEqual([]);
  // Eight nights from the demo's start: the last ends on a Sunday evening, after the weekly test at 12:00 UTC.
  const lastDay = new Date(Date.parse(summary.instances[0]?.restoreTest?.at ?? '')).getUTCDay();
  expect(lastDay).toBe(0);
  const backedUp = summary.instances.filter((instance) => instance.verified);
  expect(backedUp.length).toBeGreaterThan(5);
  for (const instance of backedUp) {
    expect({ name: instance.name, restoreTest: instance.restoreTest }).toEqual({
      name: instance.name,
      restoreTest: { at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T12:\d{2}:00\.000Z$/), passed: true },
    });
  }
  // Nothing good to launch from: no images, or none recorded good.
  const byName = new Map(summary.instances.map((instance) => [instance.name, instance]));
  for (const name of ['flaky-1', 'fragile-1', 'ephemeral-1', 'sleepy-1', 'scratch-1']) {
    expect(byName.get(name)?.restoreTest).toBeUndefined();
  }
  // Tested in the last night, and in the first (a Sunday too), the instance terminated after it included.
  expect(summary.totals.restoreTestsPassed).toBeGreaterThan(backedUp.length);
  expect(summary.totals.restoreTestsFailed).toBe(0);
  expect(summary.metrics).toMatchObject({
    RestoreTestsPassed: summary.totals.restoreTestsPassed,
    RestoreTestsFailed: 0,
  });
  // db-1's copies in the second Region follow its copy-retain of 2: one a night, the older ones expired there.
  expect(byName.get('db-1')?.copies.map((copy) => [copy.region, copy.state])).toEqual([
    ['us-west-2', 'succeeded'],
    ['us-west-2', 'succeeded'],
  ]);
  expect(summary.totals).toMatchObject({ copiesCreated: 8, copiesExpired: 6 });
  expect(summary.metrics).toMatchObject({ CopiesSucceeded: 8, CopiesFailed: 0, CopiesExpired: 6 });
  // Every night's backup of db-1 and copy of vault-1's shared once, the expired ones unshared by rotation; the newest
  // of each still shared with the recovery account.
  expect(summary.totals).toMatchObject({ imagesShared: 16, copiesReencrypted: 8 });
  expect(byName.get('db-1')?.sharedWith).toEqual([DEMO_SHARE_ACCOUNT]);
  expect(byName.get('vault-1')?.sharedWith).toEqual([DEMO_SHARE_ACCOUNT]);
  // The four instances that never had a good backup (flaky-1, fragile-1, ephemeral-1, sleepy-1) are stale from the
  // third night's start on, two days after their first run; every other instance backs up nightly.
  expect(summary.totals.staleInstances).toBe(4);
  expect(summary.metrics.StaleInstances).toBe(6 * 4);
}, 480_000);

it('rejects a bad option with a message and a non-zero exit', async () => {
  const finished = await run('local/runner/cli.ts', ['--nights', 'many']);
  expect(finished.code).not.toBe(0);
  expect(finished.stderr).toContain('--nights must be a positive number');
}, 30_000);
