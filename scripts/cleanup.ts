/**
 * `npm run cleanup -- --stage S [--region R] [--endpoint URL] [--yes] [--json]`: lists (by default) or removes
 * everything a stage made — its restore-test instances, terminated; its images, deregistered with their snapshots; and
 * its leftover snapshots — selected by the same ownership checks as restore tests and rotation; look-alikes are listed
 * and never touched. Idempotent: a second run finds
 * nothing. Talks to AWS with the usual credentials, or to a local endpoint.
 */
import { parseArgs } from 'node:util';
import { EC2Client } from '@aws-sdk/client-ec2';
import Table from 'cli-table3';
import { type CleanupPlan, planCleanup } from '../lib/decisions/cleanup';
import { Ec2Gateway } from '../lib/ec2-gateway';
import { DeadlineRetryStrategy } from '../lib/errors';
import { ImageTag } from '../lib/tags';

const USAGE = `Usage: npm run cleanup -- --stage STAGE [options]
  --stage S        the stage whose backups to remove (owner ami-backup-S)
  --region R       the Region (default: AWS_REGION, else us-east-1)
  --endpoint URL   an EC2-compatible endpoint instead of AWS (the local one)
  --yes            remove; without it, only list what would be removed
  --json           print the report as JSON
  --help`;

export interface CleanupReport {
  readonly owner: string;
  readonly removed: boolean;
  /** Restore-test instances terminated (or to terminate). */
  readonly instances: readonly string[];
  readonly images: readonly string[];
  readonly snapshots: readonly string[];
  readonly leftAlone: CleanupPlan['leftAlone'];
  /** Resources that could not be removed, and why (a rerun tries again). */
  readonly errors: readonly { readonly id: string; readonly error: string }[];
}

/** Plans the stage's cleanup and, when `remove`, applies it. */
export async function cleanupStage(ec2: Ec2Gateway, stage: string, remove: boolean): Promise<CleanupReport> {
  const owner = `ami-backup-${stage}`;
  // Described as the caller's own (Owners=self): their account is the caller's.
  const images = await ec2.findOwnedImages(owner);
  const accountId = images.find((image) => image.ownerId !== undefined)?.ownerId ?? '';
  const ownedSnapshots = await ec2.findOwnedSnapshots(owner);
  // Described by the ownership tag on the server side; the plan keeps the test instances among them.
  const instances = await ec2.findInstances({ tag: { key: ImageTag.managedBy, values: [owner] } });
  const plan = planCleanup(images, ownedSnapshots, { owner, accountId }, instances);
  // A snapshot is deleted only if it carries the ownership tag itself, even one its own image names.
  const owned = new Set(ownedSnapshots.map(({ id }) => id));
  const snapshots = [
    ...plan.images.flatMap((image) => image.snapshotIds.filter((id) => owned.has(id))),
    ...plan.snapshots.map(({ id }) => id),
  ];
  const report = {
    owner,
    removed: remove,
    instances: plan.instances.map(({ id }) => id),
    images: plan.images.map(({ id }) => id),
    snapshots,
    leftAlone: plan.leftAlone,
  };
  if (!remove) return { ...report, errors: [] };
  const errors: { id: string; error: string }[] = [];
  if (plan.instances.length > 0) {
    try {
      for (const [id, error] of await ec2.terminate(plan.instances.map(({ id }) => id))) errors.push({ id, error });
    } catch (error: unknown) {
      const message = error instanceof Error ? error.message : String(error);
      for (const { id } of plan.instances) errors.push({ id, error: message });
    }
  }
  const leftover = new Set(plan.snapshots.map(({ id }) => id));
  for (const image of plan.images) {
    try {
      for (const id of (await ec2.deregister(image.id, image.snapshotIds)).snapshotsLeft) {
        if (owned.has(id)) leftover.add(id);
      }
    } catch (error: unknown) {
      errors.push({ id: image.id, error: error instanceof Error ? error.message : String(error) });
    }
  }
  for (const id of leftover) {
    try {
      await ec2.deleteSnapshot(id);
    } catch (error: unknown) {
      errors.push({ id, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return { ...report, errors };
}

function print(report: CleanupReport): void {
  const verb = report.removed ? 'removed' : 'would remove';
  const table = new Table({ head: ['resource', 'what'] });
  for (const id of report.instances)
    table.push([id, `restore-test instance: ${report.removed ? 'terminated' : 'would terminate'}`]);
  for (const id of report.images) table.push([id, `image: ${verb}, with its snapshots`]);
  for (const id of report.snapshots) table.push([id, `snapshot: ${verb}`]);
  for (const { id, reasons } of report.leftAlone)
    table.push([id, `left alone, not ${report.owner}'s: ${reasons.join('; ')}`]);
  for (const { id, error } of report.errors) table.push([id, `failed: ${error}`]);
  process.stdout.write(`${table.toString()}\n`);
  process.stdout.write(
    `${report.instances.length} restore-test instance(s), ${report.images.length} image(s) and ` +
      `${report.snapshots.length} snapshot(s) of ${report.owner} ${verb}` +
      `${report.removed ? '' : ' (run again with --yes to remove them)'}; ${report.leftAlone.length} look-alike(s) left alone\n`,
  );
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      stage: { type: 'string' },
      region: { type: 'string' },
      endpoint: { type: 'string' },
      yes: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.stage === undefined || !/^[A-Za-z0-9-]{1,64}$/.test(values.stage)) {
    throw new Error(`--stage is required (letters, digits and hyphens), got ${JSON.stringify(values.stage)}`);
  }
  const client = new EC2Client({
    region: values.region ?? process.env.AWS_REGION ?? 'us-east-1',
    retryStrategy: new DeadlineRetryStrategy(),
    ...(values.endpoint === undefined ? {} : { endpoint: values.endpoint }),
  });
  try {
    const report = await cleanupStage(new Ec2Gateway(client), values.stage, values.yes);
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else print(report);
    return report.errors.length === 0 ? 0 : 1;
  } finally {
    client.destroy();
  }
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 2;
    },
  );
}
