/**
 * The local night is wired from serverless.yml itself: route the image state-change rule to the wrong events in a
 * copy of the file, and the night fails as it would in AWS.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEMO_FLEET } from '../../../local/runner/fleet';
import { runNights } from '../../../local/runner/night';

const ROOT = resolve(__dirname, '../../..');

it('fails the night when the EventBridge pattern in serverless.yml routes the wrong events', async () => {
  const original = readFileSync(join(ROOT, 'serverless.yml'), 'utf8');
  // The rule loses its detail-type and State filters: every EC2 event reaches recordImageState.
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

  expect(report.invocationErrors.length).toBeGreaterThan(0);
  expect(report.invocationErrors.every((error) => error.startsWith('recordImageState: InvalidInputError'))).toBe(true);
  expect(report.problems).toEqual(expect.arrayContaining(report.invocationErrors));
}, 60_000);
