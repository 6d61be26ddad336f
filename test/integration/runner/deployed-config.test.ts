/**
 * The runner's wiring as the framework resolves the project's serverless.yml (`serverless print`, offline): the
 * functions, their timeouts and schedules, and the queue between the image state rule and recordImageState.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { deployWithParams } from '../../../bench/deployment';
import { deployedRoles } from '../../../local/runner/roles';
import { parseSchedule } from '../../../local/runner/schedule';
import { loadServerlessConfig } from '../../../local/runner/serverless-config';

const ROOT = resolve(__dirname, '../../..');
const FILE = join(ROOT, 'serverless.yml');

describe('the project’s serverless.yml, as the framework resolves it', () => {
  const config = loadServerlessConfig(FILE, { stage: 'dev', region: 'us-east-1' });
  const fn = (name: string) => {
    const found = config.functions.find((candidate) => candidate.name === name);
    if (found === undefined) throw new Error(`no function ${name}`);
    return found;
  };

  it('has the service’s functions, with their handlers, timeouts and concurrency', () => {
    expect(config).toMatchObject({ service: 'ami-backup', stage: 'dev', region: 'us-east-1' });
    expect(config.functions.map((candidate) => candidate.name)).toEqual(
      expect.arrayContaining(['reboot', 'createImages', 'recordImageState', 'rotate']),
    );
    expect(fn('reboot')).toMatchObject({ modulePath: 'functions/reboot.ts', exportName: 'handler', timeout: 900 });
    expect(fn('createImages')).toMatchObject({ timeout: 900, reservedConcurrency: 1, maximumRetryAttempts: 0 });
    expect(fn('recordImageState').timeout).toBe(120);
    for (const each of config.functions) {
      expect(each.environment).toMatchObject({ OWNER: 'ami-backup-dev', MAX_CONCURRENT_REBOOTS: '50' });
    }
  });

  it('has the schedules with their parameters’ defaults, the passes on the named rule', () => {
    expect(fn('reboot').events).toEqual([
      { kind: 'schedule', schedule: parseSchedule('cron(0 3 * * ? *)'), enabled: true },
    ]);
    expect(fn('createImages').events).toEqual(
      expect.arrayContaining([
        {
          kind: 'schedule',
          schedule: parseSchedule('rate(5 minutes)'),
          enabled: true,
          name: 'ami-backup-dev-passes',
        },
        { kind: 'schedule', schedule: parseSchedule('rate(3 hours)'), enabled: true },
      ]),
    );
    expect(fn('rotate').events).toEqual([
      { kind: 'schedule', schedule: parseSchedule('cron(0 6-9 * * ? *)'), enabled: true },
      {
        kind: 'schedule',
        schedule: parseSchedule('rate(15 minutes)'),
        enabled: false,
        name: 'ami-backup-dev-rotation-passes',
      },
    ]);
  });

  it('feeds recordImageState from the image state queue, which the image state rule sends to', () => {
    expect(fn('recordImageState').events).toEqual([
      {
        kind: 'sqs',
        queue: 'ImageStateQueue',
        batchSize: 1000,
        maximumBatchingWindow: 30,
        reportsBatchItemFailures: true,
        enabled: true,
      },
    ]);
    expect(config.queues).toContainEqual({ name: 'ImageStateQueue', visibilityTimeout: 720, maxReceiveCount: 5 });
    expect(config.rules).toContainEqual({
      name: 'ImageStateRule',
      pattern: {
        source: ['aws.ec2'],
        'detail-type': ['EC2 AMI State Change'],
        detail: { State: ['available', 'failed'] },
      },
      eventBus: 'default',
      enabled: true,
      queues: ['ImageStateQueue'],
    });
  });

  it('gives each function the role the same configuration names', async () => {
    const roles = await deployedRoles({
      projectRoot: ROOT,
      stage: 'dev',
      region: 'us-east-1',
      account: '111122223333',
    });
    expect(roles.map((role) => role.functionName)).toEqual(config.functions.map((each) => each.name));
  });
});

it('takes the stage, region and parameters given, as a deployment would', () => {
  const config = loadServerlessConfig(FILE, {
    stage: 'prod',
    region: 'eu-west-1',
    params: { rebootSchedule: 'cron(0 2 * * ? *)', maxConcurrentReboots: '7' },
  });
  expect(config).toMatchObject({ stage: 'prod', region: 'eu-west-1' });
  const reboot = config.functions.find((fn) => fn.name === 'reboot');
  expect(reboot?.events).toEqual([{ kind: 'schedule', schedule: parseSchedule('cron(0 2 * * ? *)'), enabled: true }]);
  expect(reboot?.environment).toMatchObject({ OWNER: 'ami-backup-prod', MAX_CONCURRENT_REBOOTS: '7' });
  const passes = config.functions.find((fn) => fn.name === 'createImages')?.events;
  expect(passes).toContainEqual(expect.objectContaining({ name: 'ami-backup-prod-passes' }));
});

it('reads a benchmark’s deployment, its copy of the service with other default parameters', () => {
  const deployment = deployWithParams(FILE, { maxConcurrentReboots: '1000' });
  try {
    const functions = loadServerlessConfig(deployment.file).functions;
    expect(functions.length).toBeGreaterThan(0);
    for (const fn of functions) {
      expect(fn.environment).toMatchObject({ MAX_CONCURRENT_REBOOTS: '1000', MAX_DOWN_PER_GROUP: '1' });
    }
  } finally {
    deployment.remove();
  }
});

it('refuses a variant of the file with a mistake, with the framework’s word on it', () => {
  const folder = mkdtempSync(join(tmpdir(), 'ami-backup-config-'));
  try {
    const file = join(folder, 'serverless.yml');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Serverless variable in the file's text
    writeFileSync(file, readFileSync(FILE, 'utf8').replace('${param:optInTagKey}', '${param:optInTagKeys}'));
    expect(() => loadServerlessConfig(file, { projectRoot: ROOT })).toThrow(
      /provider\.environment\.OPT_IN_TAG_KEY.*param/,
    );
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
