import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateTagsCommand, DescribeInstancesCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { clientFor } from './helpers';

const ROOT = resolve(__dirname, '../../..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const CLI = join(ROOT, 'local/ec2/cli.ts');

let directory: string;
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'local-ec2-cli-'));
});
afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

interface Running {
  child: ChildProcessWithoutNullStreams;
  url: string;
  output: () => string;
}

/** Starts the CLI and resolves with its URL once it prints that it accepts requests. */
function startCli(args: string[]): Promise<Running> {
  const child = spawn(TSX, [CLI, '--port', '0', ...args], { cwd: ROOT });
  let output = '';
  return new Promise((resolvePromise, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const url = /http:\/\/127\.0\.0\.1:\d+/.exec(output)?.[0];
      if (url !== undefined) resolvePromise({ child, url, output: () => output });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('exit', (code) => reject(new Error(`CLI exited with ${code}: ${output}`)));
  });
}

function exitOf(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return new Promise((resolvePromise) => {
    if (child.exitCode !== null) resolvePromise(child.exitCode);
    else child.on('exit', (code) => resolvePromise(code));
  });
}

it('serves EC2 on the printed URL, keeps state across a SIGTERM restart', async () => {
  const stateFile = join(directory, 'ec2.json');
  const first = await startCli(['--state', stateFile, '--speed', '100', '--no-throttling']);
  const client = clientFor(first.url);
  const launched = await client.send(
    new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 }),
  );
  const instanceId = launched.Instances?.[0]?.InstanceId as string;
  await client.send(new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: 'Backup', Value: 'true' }] }));
  first.child.kill('SIGTERM');
  expect(await exitOf(first.child)).toBe(0);
  expect(JSON.parse(readFileSync(stateFile, 'utf8')).format).toBe('local-ec2-state/1');

  const second = await startCli(['--state', stateFile]);
  try {
    const described = await clientFor(second.url).send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const instance = described.Reservations?.[0]?.Instances?.[0];
    expect(instance?.Tags).toEqual([{ Key: 'Backup', Value: 'true' }]);
    // 30 s pending at 100x passed while the first process ran or right after the restart.
    expect(['pending', 'running']).toContain(instance?.State?.Name);
  } finally {
    second.child.kill('SIGINT');
    expect(await exitOf(second.child)).toBe(0);
  }
}, 20_000);

it('refuses a corrupt state file with a clear error instead of replacing it', async () => {
  const stateFile = join(directory, 'broken.json');
  writeFileSync(stateFile, '{"format": "local-ec2-state/1", "inst');
  const child = spawn(TSX, [CLI, '--port', '0', '--state', stateFile], { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  expect(await exitOf(child)).toBe(1);
  expect(stderr).toContain(`State file ${stateFile} is not valid JSON`);
  expect(readFileSync(stateFile, 'utf8')).toBe('{"format": "local-ec2-state/1", "inst');
}, 20_000);

it('rejects bad options with usage', async () => {
  const child = spawn(TSX, [CLI, '--speed', 'fast'], { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  expect(await exitOf(child)).toBe(2);
  expect(stderr).toContain('--speed must be a positive number');
}, 20_000);
