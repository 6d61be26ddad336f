/**
 * The local night is wired from serverless.yml itself: let the image state-change rule send the wrong events to the
 * queue in a copy of the file, and the night fails as it would in AWS.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEMO_FLEET } from '../../../local/runner/fleet';
import { loadFunctions } from '../../../local/runner/functions';
import { runNights } from '../../../local/runner/night';

const ROOT = resolve(__dirname, '../../..');

it('fails the night when the rule in serverless.yml sends the wrong events to the queue', async () => {
  const original = readFileSync(join(ROOT, 'serverless.yml'), 'utf8');
  // The rule loses its detail-type and State filters: every EC2 event reaches the queue that recordImageState reads.
  const broken = original.replace(
    /\n\s+detail-type: \[EC2 AMI State Change\]\n\s+detail:\n\s+State: \[available, failed\]/,
    '',
  );
  expect(broken).not.toBe(original);
  const file = join(mkdtempSync(join(tmpdir(), 'ami-backup-wiring-')), 'serverless.yml');
  writeFileSync(file, broken);

  // Two nights: a fleet member is terminated after the first, so instance state-change events flow in the second.
  const report = await runNights({
    fleet: DEMO_FLEET,
    nights: 2,
    serverlessFile: file,
    projectRoot: ROOT,
    logLevel: 'SILENT',
  });

  // recordImageState reports what is not an image state change as failed: received again, then dead-lettered.
  expect(report.invocationErrors).toEqual([]);
  const deadLettered = report.problems.filter((problem) => / message\(s\) dead-lettered$/.test(problem));
  expect(deadLettered.length).toBeGreaterThan(0);
  expect(deadLettered.every((problem) => problem.startsWith('recordImageState: '))).toBe(true);
}, 60_000);

it('wires recordImageState to the image state queue, fed by the rule on the default bus', async () => {
  const functions = await loadFunctions(join(ROOT, 'serverless.yml'), {
    stage: 'dev',
    endpoint: 'http://127.0.0.1:9',
    region: 'us-east-1',
    account: '000000000000',
    logLevel: 'SILENT',
  });
  const recordImageState = functions.find((fn) => fn.name === 'recordImageState');
  expect(recordImageState?.patterns).toEqual([]);
  expect(recordImageState?.queues).toEqual([
    {
      queue: 'ImageStateQueue',
      patterns: [
        { source: ['aws.ec2'], 'detail-type': ['EC2 AMI State Change'], detail: { State: ['available', 'failed'] } },
      ],
      batchSize: 1000,
      batchingWindowMs: expect.any(Number),
      reportsBatchItemFailures: true,
      visibilityTimeoutMs: 720_000,
      maxReceiveCount: 5,
    },
  ]);
  // Lambda takes batches above 10 messages from a standard queue only with a window, of at most 5 minutes.
  const window = recordImageState?.queues[0]?.batchingWindowMs;
  expect(window).toBeGreaterThanOrEqual(1000);
  expect(window).toBeLessThanOrEqual(300_000);
  expect(functions.filter((fn) => fn.name !== 'recordImageState').every((fn) => fn.queues.length === 0)).toBe(true);
});
