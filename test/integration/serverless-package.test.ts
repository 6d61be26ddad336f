/**
 * Packages the service with the real `serverless` CLI (offline, without AWS credentials) and checks the generated
 * CloudFormation template against the deployment contract: functions, environment, triggers (schedules, and the
 * image state rule → queue → event source mapping), retries and IAM.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GRANT_OPERATIONS } from '../../lib/decisions/sharing';
import {
  APPROVED_VALUES,
  ApprovalTag,
  CopyTag,
  IMAGE_OUTCOME_TAG_KEYS,
  ImageTag,
  InstanceTag,
  OUTCOME_TAG_KEYS,
  RestoreTestTag,
  RotationTag,
  ShareTag,
  TAG_PREFIX,
} from '../../lib/tags';

const run = promisify(execFile);

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SERVERLESS_BIN = path.join(REPO_ROOT, 'node_modules', '.bin', 'serverless');
/** Bundling the functions takes a few seconds; the margin is for a loaded machine. */
const PACKAGE_TIMEOUT_MS = 120_000;

interface Statement {
  readonly Sid?: string;
  readonly Effect: string;
  readonly Action: string | readonly string[];
  readonly Resource: unknown;
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

interface Resource {
  readonly Type: string;
  readonly Properties: Readonly<Record<string, unknown>>;
}

interface Template {
  readonly Resources: Readonly<Record<string, Resource>>;
}

interface PackagedService {
  readonly dir: string;
  readonly template: Template;
}

/** The functions of the contract: logical name, handler file, timeout in seconds, async retries (none: not async). */
const FUNCTIONS = [
  { name: 'reboot', file: 'reboot', timeout: 900, retries: 2 },
  { name: 'createImages', file: 'create-images', timeout: 900, retries: 0 },
  { name: 'recordImageState', file: 'record-image-state', timeout: 120, retries: undefined },
  { name: 'rotate', file: 'rotate', timeout: 900, retries: 0 },
  { name: 'restoreTests', file: 'restore-tests', timeout: 300, retries: 2 },
  { name: 'copyImages', file: 'copy-images', timeout: 900, retries: 0 },
  { name: 'shareImages', file: 'share-images', timeout: 900, retries: 0 },
] as const;

// The `${AWS::...}` placeholders below are CloudFormation's Fn::Sub syntax, not template strings.
const sub = (arn: string) => ({ 'Fn::Sub': arn });
// biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
const INSTANCES = sub('arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*');
// biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
const IMAGES = sub('arn:${AWS::Partition}:ec2:${AWS::Region}::image/*');
// biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
const SNAPSHOTS = sub('arn:${AWS::Partition}:ec2:${AWS::Region}::snapshot/*');
// biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
const VOLUMES = sub('arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:volume/*');
/** The tags a test instance (and its volumes) gets at launch: owner, test run, image and source instance. */
const TEST_INSTANCE_KEYS = [
  ImageTag.managedBy,
  RestoreTestTag.testInstance,
  RestoreTestTag.imageId,
  ImageTag.instanceId,
];
const FAILURE_QUEUE_ARN = { 'Fn::GetAtt': ['FailedInvocationsQueue', 'Arn'] };
/** Where copies may go with no Region configured: a Region that does not exist, so the statements grant nothing. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
const NO_REGION_IMAGES = sub('arn:${AWS::Partition}:ec2:none::image/*');
// biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
const NO_REGION_SNAPSHOTS = sub('arn:${AWS::Partition}:ec2:none::snapshot/*');
/** What EC2 does with a KMS key on the service's behalf when it encrypts a copy. */
const KMS_ACTIONS = [
  'kms:CreateGrant',
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
];
/** The tags a copy (and its snapshots) gets from its CopyImage request. */
const COPY_CREATION_KEYS = [
  ImageTag.managedBy,
  ImageTag.instanceId,
  ImageTag.run,
  ImageTag.imageMode,
  CopyTag.sourceImage,
  CopyTag.sourceRegion,
  ImageTag.retain,
  ImageTag.retainDays,
];
const IMAGE_STATE_QUEUE_ARN = { 'Fn::GetAtt': ['ImageStateQueue', 'Arn'] };
/** The tags a re-encrypted copy (and its snapshots) gets from its CopyImage request, in this Region. */
const REENCRYPTED_COPY_KEYS = [ImageTag.managedBy, ImageTag.instanceId, ImageTag.run, ShareTag.reencryptedFrom];
/** The keys sharing may use with no key named: one in a Region that does not exist, so the statements grant nothing. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
const NO_SHARE_KEYS = [sub('arn:${AWS::Partition}:kms:none:${AWS::AccountId}:key/none')];
/** The statements of shareImages that depend on the keys named (shareKmsKey, shareGrantKeys), given those keys. */
function shareKeyStatements(keys: readonly unknown[], copyKey: readonly unknown[]): Statement[] {
  return [
    {
      Sid: 'ListGrantsOfNamedKeys',
      Effect: 'Allow',
      Action: ['kms:ListGrants', 'kms:RevokeGrant'],
      Resource: keys,
    },
    {
      Sid: 'GrantNamedKeysToAccounts',
      Effect: 'Allow',
      Action: ['kms:CreateGrant'],
      Resource: keys,
      Condition: {
        // Exactly the operations the code grants, to another account's root only.
        'ForAllValues:StringEquals': { 'kms:GrantOperations': [...GRANT_OPERATIONS] },
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
        StringLike: { 'kms:GranteePrincipal': sub('arn:${AWS::Partition}:iam::????????????:root') },
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
        StringNotEquals: { 'kms:GranteePrincipal': sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:root') },
      },
    },
    {
      Sid: 'EncryptCopiesWithShareKey',
      Effect: 'Allow',
      Action: KMS_ACTIONS,
      Resource: copyKey,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
      Condition: { StringEquals: { 'kms:ViaService': sub('ec2.${AWS::Region}.amazonaws.com') } },
    },
  ];
}

/**
 * Runs `serverless package` into a fresh directory outside the repository. The child gets no AWS credentials or
 * profile, and a proxy on a closed local port, so any attempt to reach the network or AWS fails the packaging.
 */
async function packageService(args: readonly string[]): Promise<PackagedService> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ami-backup-package-'));
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_')),
  );
  const nowhere = path.join(dir, 'no-such-file');
  Object.assign(env, {
    AWS_CONFIG_FILE: nowhere,
    AWS_SHARED_CREDENTIALS_FILE: nowhere,
    HTTP_PROXY: 'http://127.0.0.1:9',
    HTTPS_PROXY: 'http://127.0.0.1:9',
    NO_PROXY: '',
  });
  await run(SERVERLESS_BIN, ['package', '--package', dir, ...args], { cwd: REPO_ROOT, env });
  const template = JSON.parse(
    await readFile(path.join(dir, 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as Template;
  return { dir, template };
}

function resourcesOfType(template: Template, type: string): Resource[] {
  return Object.values(template.Resources).filter((resource) => resource.Type === type);
}

function lambdaFunction(template: Template, name: string): Resource {
  const logicalId = `${name.charAt(0).toUpperCase()}${name.slice(1)}LambdaFunction`;
  const resource = template.Resources[logicalId];
  if (resource === undefined) throw new Error(`no ${logicalId} in the template`);
  return resource;
}

/** The Lambda function that an EventBridge rule targets (the logical id in its Fn::GetAtt). */
function ruleTarget(rule: Resource): string {
  const [target] = rule.Properties.Targets as readonly { Arn: { 'Fn::GetAtt': readonly [string, string] } }[];
  return target?.Arn['Fn::GetAtt'][0] ?? '';
}

/** The logical id of the role a function runs with. */
function roleIdOf(template: Template, name: string): string {
  const role = lambdaFunction(template, name).Properties.Role as { 'Fn::GetAtt': readonly [string, string] };
  return role['Fn::GetAtt'][0];
}

/** The statements of a function's role, each action list as a list. */
function statementsOf(template: Template, name: string): readonly Statement[] {
  const role = template.Resources[roleIdOf(template, name)];
  const policies = role?.Properties.Policies as readonly { PolicyDocument: { Statement: readonly Statement[] } }[];
  return policies
    .flatMap((policy) => policy.PolicyDocument.Statement)
    .map((candidate) => ({ ...candidate, Action: actionsOf(candidate) }));
}

function statementOf(template: Template, name: string, sid: string): Statement {
  const found = statementsOf(template, name).filter((candidate) => candidate.Sid === sid);
  expect(found).toHaveLength(1);
  return found[0] as Statement;
}

function actionsOf(candidate: Statement): readonly string[] {
  return typeof candidate.Action === 'string' ? [candidate.Action] : candidate.Action;
}

/** The tag keys a tagging statement allows: its ForAllValues:StringEquals list, which must be present. */
function tagKeysOf(candidate: Statement): readonly string[] {
  const keys = candidate.Condition?.['ForAllValues:StringEquals']?.['aws:TagKeys'];
  if (!Array.isArray(keys)) throw new Error(`${candidate.Sid} allows tagging without a key list`);
  return keys as string[];
}

/**
 * Whether CloudFormation creates a resource: it has no condition, or its condition (an `Fn::Equals` of two values the
 * parameters resolved at packaging) holds.
 */
function deployed(template: Template, logicalId: string): boolean {
  const resource = template.Resources[logicalId] as (Resource & { Condition?: string }) | undefined;
  if (resource === undefined) return false;
  if (resource.Condition === undefined) return true;
  const conditions = (template as unknown as { Conditions: Record<string, { 'Fn::Equals'?: [unknown, unknown] }> })
    .Conditions;
  const equals = conditions[resource.Condition]?.['Fn::Equals'];
  if (equals === undefined) throw new Error(`condition ${resource.Condition} is not an Fn::Equals`);
  return equals[0] === equals[1];
}

describe('serverless package with the default parameters', () => {
  let service: PackagedService;

  beforeAll(async () => {
    service = await packageService([]);
  }, PACKAGE_TIMEOUT_MS);

  afterAll(async () => {
    await rm(service.dir, { recursive: true, force: true });
  });

  it('declares exactly the functions of the contract, on nodejs22.x arm64, with their handlers and timeouts', () => {
    const functions = resourcesOfType(service.template, 'AWS::Lambda::Function');
    expect(functions).toHaveLength(FUNCTIONS.length);
    for (const { name, file, timeout } of FUNCTIONS) {
      const { Properties } = lambdaFunction(service.template, name);
      expect(Properties).toMatchObject({
        FunctionName: `ami-backup-dev-${name}`,
        Handler: `functions/${file}.handler`,
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Timeout: timeout,
      });
    }
  });

  it('gives every function the environment the code reads, with the default values', () => {
    for (const { name } of FUNCTIONS) {
      expect(lambdaFunction(service.template, name).Properties.Environment).toEqual({
        Variables: {
          OPT_IN_TAG_KEY: 'Backup',
          OPT_IN_TAG_VALUE: 'true',
          OWNER: 'ami-backup-dev',
          STAGE: 'dev',
          DEFAULT_RETAIN: '7',
          MIN_RETAIN: '1',
          MIN_RETAIN_DAYS: '0',
          MAX_EXPIRE_PER_RUN: '5',
          ROTATE_SCHEDULE: 'cron(0 6-9 * * ? *)',
          REBOOT_GRACE_SECONDS: '300',
          READY_TIMEOUT_SECONDS: '3600',
          IMAGE_TIMEOUT_SECONDS: '86400',
          MAX_DOWN_PER_GROUP: '1',
          MAX_CONCURRENT_REBOOTS: '50',
          REBOOT_WINDOW_MINUTES: '180',
          STALE_AFTER_HOURS: '36',
          EVENT_BUS_NAME: 'default',
          PASSES_RULE: 'ami-backup-dev-passes',
          MINUTE_PASSES_RULE: 'ami-backup-dev-minute-passes',
          ROTATION_PASSES_RULE: 'ami-backup-dev-rotation-passes',
          PASSES_SCHEDULE: 'rate(5 minutes)',
          RESTORE_TEST_SUBNET_ID: '',
          RESTORE_TEST_SECURITY_GROUP_ID: '',
          RESTORE_TEST_INSTANCE_TYPE: '',
          RESTORE_TEST_SAMPLE: 'all',
          RESTORE_TEST_TIMEOUT_MINUTES: '20',
          RESTORE_TEST_CHECKS_RULE: 'ami-backup-dev-restore-test-checks',
          EC2_RATE_LIMITS: '',
          COPY_REGIONS: '',
          COPY_ALLOWED_REGIONS: '',
          COPY_KMS_KEYS: '',
          COPY_PASSES_RULE: 'ami-backup-dev-copy-passes',
          SHARE_ACCOUNTS: '',
          SHARE_KMS_KEY: '',
          SHARE_GRANT_KEYS: '',
          SHARE_PASSES_RULE: 'ami-backup-dev-share-passes',
          POWERTOOLS_SERVICE_NAME: 'ami-backup',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          NODE_OPTIONS: '--enable-source-maps',
        },
      });
    }
  });

  it('schedules each function by default: the fixed schedules, and the passes the service switches by their names', () => {
    const schedules = resourcesOfType(service.template, 'AWS::Events::Rule')
      .filter((rule) => rule.Properties.ScheduleExpression !== undefined)
      .map((rule) => ({
        target: ruleTarget(rule),
        expression: rule.Properties.ScheduleExpression,
        name: rule.Properties.Name,
        state: rule.Properties.State,
      }));
    expect(schedules).toEqual([
      { target: 'RebootLambdaFunction', expression: 'cron(0 3 * * ? *)', name: undefined, state: 'ENABLED' },
      // The rules the service turns on and off: their names are the ones the functions are given. The minute passes
      // are deployed off: only a pass hands over to them.
      {
        target: 'CreateImagesLambdaFunction',
        expression: 'rate(5 minutes)',
        name: 'ami-backup-dev-passes',
        state: 'ENABLED',
      },
      {
        target: 'CreateImagesLambdaFunction',
        expression: 'rate(1 minute)',
        name: 'ami-backup-dev-minute-passes',
        state: 'DISABLED',
      },
      { target: 'CreateImagesLambdaFunction', expression: 'rate(3 hours)', name: undefined, state: 'ENABLED' },
      { target: 'RotateLambdaFunction', expression: 'cron(0 6-9 * * ? *)', name: undefined, state: 'ENABLED' },
      // Rotation's follow-ups, deployed off: a rotation that ran out of time turns them on.
      {
        target: 'RotateLambdaFunction',
        expression: 'rate(15 minutes)',
        name: 'ami-backup-dev-rotation-passes',
        state: 'DISABLED',
      },
      // Restore tests: the weekly launch, and the checking passes by a named rule (the function tells them apart).
      {
        target: 'RestoreTestsLambdaFunction',
        expression: 'cron(0 12 ? * SUN *)',
        name: undefined,
        state: 'ENABLED',
      },
      {
        target: 'RestoreTestsLambdaFunction',
        expression: 'cron(0/5 12-13 ? * SUN *)',
        name: 'ami-backup-dev-restore-test-checks',
        state: 'ENABLED',
      },
      // The copy passes, deployed off: a run's start turns them on when some instance wants copies.
      {
        target: 'CopyImagesLambdaFunction',
        expression: 'rate(15 minutes)',
        name: 'ami-backup-dev-copy-passes',
        state: 'DISABLED',
      },
      // The share passes, deployed off: a run's start turns them on while backups are to be shared; and a daily
      // pass (shareSchedule), which revokes what instances no longer name.
      {
        target: 'ShareImagesLambdaFunction',
        expression: 'rate(15 minutes)',
        name: 'ami-backup-dev-share-passes',
        state: 'DISABLED',
      },
      { target: 'ShareImagesLambdaFunction', expression: 'cron(0 10 * * ? *)', name: undefined, state: 'ENABLED' },
    ]);
  });

  it.each(['copyImages', 'shareImages'])(
    'runs one %s pass at a time, dropping a throttled one after a minute, without retry or destination',
    (name) => {
      const logicalId = `${name.charAt(0).toUpperCase()}${name.slice(1)}LambdaFunction`;
      const config = resourcesOfType(service.template, 'AWS::Lambda::EventInvokeConfig').find((candidate) =>
        JSON.stringify(candidate.Properties.FunctionName).includes(logicalId),
      );
      expect(config?.Properties).toEqual({
        FunctionName: { Ref: logicalId },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
        DestinationConfig: {},
      });
      expect(lambdaFunction(service.template, name).Properties.ReservedConcurrentExecutions).toBe(1);
    },
  );

  it('sends available and failed AMI state changes from the default bus to the image state queue only', () => {
    const patternRules = resourcesOfType(service.template, 'AWS::Events::Rule').filter(
      (rule) => rule.Properties.EventPattern !== undefined,
    );
    expect(patternRules).toEqual([service.template.Resources.ImageStateRule]);
    const [rule] = patternRules as [Resource];
    expect(rule.Properties.EventBusName).toBeUndefined();
    expect(rule.Properties.State).toBeUndefined();
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.ec2'],
      'detail-type': ['EC2 AMI State Change'],
      detail: { State: ['available', 'failed'] },
    });
    expect(rule.Properties.Targets).toEqual([{ Id: 'ImageStateQueue', Arn: IMAGE_STATE_QUEUE_ARN }]);
  });

  it('lets only that rule send to the image state queue', () => {
    const policies = resourcesOfType(service.template, 'AWS::SQS::QueuePolicy');
    expect(policies).toHaveLength(1);
    const [policy] = policies as [Resource];
    expect(policy.Properties.Queues).toEqual([{ Ref: 'ImageStateQueue' }]);
    expect(policy.Properties.PolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'ImageStateRuleSends',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: 'sqs:SendMessage',
          Resource: IMAGE_STATE_QUEUE_ARN,
          Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': ['ImageStateRule', 'Arn'] } } },
        },
      ],
    });
  });

  it('has recordImageState read the queue in batches, reporting failed items, and dead-letters what keeps failing', () => {
    const mappings = resourcesOfType(service.template, 'AWS::Lambda::EventSourceMapping');
    expect(mappings.map((mapping) => mapping.Properties)).toEqual([
      {
        EventSourceArn: IMAGE_STATE_QUEUE_ARN,
        FunctionName: { 'Fn::GetAtt': ['RecordImageStateLambdaFunction', 'Arn'] },
        BatchSize: 1000,
        MaximumBatchingWindowInSeconds: expect.any(Number),
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        Enabled: true,
      },
    ]);
    // Lambda takes batches above 10 messages from a standard queue only with a window, of at most 5 minutes.
    const window = mappings[0]?.Properties.MaximumBatchingWindowInSeconds;
    expect(window).toBeGreaterThanOrEqual(1);
    expect(window).toBeLessThanOrEqual(300);
    const queue = service.template.Resources.ImageStateQueue;
    expect(queue?.Type).toBe('AWS::SQS::Queue');
    expect(queue?.Properties.RedrivePolicy).toEqual({ deadLetterTargetArn: FAILURE_QUEUE_ARN, maxReceiveCount: 5 });
    // Lambda asks for at least six times the function's timeout, so a batch in flight is not received twice.
    const timeout = lambdaFunction(service.template, 'recordImageState').Properties.Timeout as number;
    expect(queue?.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * timeout);
  });

  it('retries reboot and restoreTests as configured and sends what still fails to the failure queue', () => {
    const configs = resourcesOfType(service.template, 'AWS::Lambda::EventInvokeConfig');
    expect(configs).toHaveLength(6);
    const retried: readonly string[] = ['reboot', 'restoreTests'];
    for (const { name, retries } of FUNCTIONS.filter(({ name }) => retried.includes(name))) {
      const logicalId = `${name.charAt(0).toUpperCase()}${name.slice(1)}LambdaFunction`;
      const config = configs.find((candidate) => JSON.stringify(candidate.Properties.FunctionName).includes(logicalId));
      expect(config?.Properties).toEqual({
        FunctionName: { Ref: logicalId },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: retries,
        DestinationConfig: { OnFailure: { Destination: FAILURE_QUEUE_ARN } },
      });
    }
    expect(service.template.Resources.FailedInvocationsQueue?.Type).toBe('AWS::SQS::Queue');
  });

  it.each(['createImages', 'rotate'])(
    'runs one %s pass at a time, dropping a throttled one after a minute, without retry or destination',
    (name) => {
      const logicalId = `${name.charAt(0).toUpperCase()}${name.slice(1)}LambdaFunction`;
      const config = resourcesOfType(service.template, 'AWS::Lambda::EventInvokeConfig').find((candidate) =>
        JSON.stringify(candidate.Properties.FunctionName).includes(logicalId),
      );
      // The framework writes an empty DestinationConfig: no destination.
      expect(config?.Properties).toEqual({
        FunctionName: { Ref: logicalId },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
        DestinationConfig: {},
      });
      expect(lambdaFunction(service.template, name).Properties.ReservedConcurrentExecutions).toBe(1);
    },
  );

  it('lets the functions whose invocations may overlap run side by side', () => {
    for (const name of ['reboot', 'recordImageState']) {
      expect(lambdaFunction(service.template, name).Properties.ReservedConcurrentExecutions).toBeUndefined();
    }
  });

  it('gives each function a role of its own, which only Lambda can assume', () => {
    const roles = FUNCTIONS.map(({ name }) => roleIdOf(service.template, name));
    expect(new Set(roles).size).toBe(FUNCTIONS.length);
    expect(resourcesOfType(service.template, 'AWS::IAM::Role')).toHaveLength(FUNCTIONS.length);
    for (const role of roles) {
      expect(service.template.Resources[role]?.Properties.AssumeRolePolicyDocument).toEqual({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      });
      expect(service.template.Resources[role]?.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  it('grants each role exactly the statements of the contract', () => {
    const optedIn = { 'aws:ResourceTag/Backup': 'true' };
    const owned = { [`aws:ResourceTag/${ImageTag.managedBy}`]: 'ami-backup-dev' };
    const exactly = (keys: readonly string[]) => ({
      'ForAllValues:StringEquals': { 'aws:TagKeys': keys },
      Null: { 'aws:TagKeys': 'false' },
    });
    const logs = (name: string): Statement => ({
      Sid: 'WriteOwnLogs',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: sub(
        `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/ami-backup-dev-${name}:*`,
      ),
    });
    const reportFailures: Statement = {
      Sid: 'ReportFailedInvocations',
      Effect: 'Allow',
      Action: ['sqs:SendMessage'],
      Resource: FAILURE_QUEUE_ARN,
    };
    const describe = (Sid: string, actions: readonly string[]): Statement => ({
      Sid,
      Effect: 'Allow',
      Action: actions.map((action) => `ec2:${action}`),
      Resource: '*',
    });
    const tagInstances = (Sid: string, action: string, keys: readonly string[]): Statement => ({
      Sid,
      Effect: 'Allow',
      Action: [action],
      Resource: INSTANCES,
      Condition: { StringEquals: optedIn, ...exactly(keys) },
    });
    const recordOnImages: Statement = {
      Sid: 'RecordOutcomesOnOwnImages',
      Effect: 'Allow',
      Action: ['ec2:CreateTags'],
      Resource: IMAGES,
      Condition: { StringEquals: owned, ...exactly(IMAGE_OUTCOME_TAG_KEYS) },
    };
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
    const passesRule = sub('arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/ami-backup-dev-passes');
    const minutePassesRule = sub(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
      'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/ami-backup-dev-minute-passes',
    );
    const rotationPassesRule = sub(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
      'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/ami-backup-dev-rotation-passes',
    );
    const copyPassesRule = sub(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
      'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/ami-backup-dev-copy-passes',
    );
    const sharePassesRule = sub(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
      'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/ami-backup-dev-share-passes',
    );
    /** Only this stage's re-encrypted copies: they carry their source from their creation. */
    const ownCopies = { StringEquals: owned, Null: { [`aws:ResourceTag/${ShareTag.reencryptedFrom}`]: 'false' } };
    const publish: Statement = {
      Sid: 'PublishOutcomes',
      Effect: 'Allow',
      Action: ['events:PutEvents'],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
      Resource: sub('arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default'),
    };
    const { state, run, since, firstRun, imageMode, healthyAt, lastSuccess, lastError, policyError } = InstanceTag;
    const expected: Readonly<Record<(typeof FUNCTIONS)[number]['name'], readonly Statement[]>> = {
      reboot: [
        logs('reboot'),
        reportFailures,
        describe('DescribeInstances', ['DescribeInstances']),
        tagInstances('StartRunsOnOptedInInstances', 'ec2:CreateTags', [
          state,
          run,
          since,
          firstRun,
          lastError,
          policyError,
        ]),
        tagInstances('ClearPolicyErrors', 'ec2:DeleteTags', [policyError]),
        {
          Sid: 'StartPasses',
          Effect: 'Allow',
          Action: ['events:EnableRule'],
          Resource: [passesRule, copyPassesRule, sharePassesRule],
        },
        publish,
      ],
      createImages: [
        logs('createImages'),
        describe('DescribeRuns', ['DescribeInstances', 'DescribeInstanceStatus', 'DescribeImages']),
        {
          Sid: 'ImageOptedInInstances',
          Effect: 'Allow',
          Action: ['ec2:CreateImage'],
          Resource: INSTANCES,
          Condition: { StringEquals: optedIn },
        },
        {
          Sid: 'CreateOwnedImagesAndSnapshots',
          Effect: 'Allow',
          Action: ['ec2:CreateImage'],
          Resource: [IMAGES, SNAPSHOTS],
          Condition: { StringEquals: { [`aws:RequestTag/${ImageTag.managedBy}`]: 'ami-backup-dev' } },
        },
        {
          Sid: 'TagImagesAndSnapshotsOnCreation',
          Effect: 'Allow',
          Action: ['ec2:CreateTags'],
          Resource: [IMAGES, SNAPSHOTS],
          Condition: {
            StringEquals: {
              'ec2:CreateAction': 'CreateImage',
              [`aws:RequestTag/${ImageTag.managedBy}`]: 'ami-backup-dev',
            },
            ...exactly(Object.values(ImageTag)),
          },
        },
        recordOnImages,
        tagInstances('TrackRunsOnOptedInInstances', 'ec2:CreateTags', [
          state,
          since,
          imageMode,
          healthyAt,
          lastSuccess,
          lastError,
        ]),
        {
          Sid: 'SwitchPasses',
          Effect: 'Allow',
          Action: ['events:EnableRule', 'events:DisableRule'],
          Resource: [passesRule, minutePassesRule],
        },
        publish,
      ],
      recordImageState: [
        logs('recordImageState'),
        {
          Sid: 'ReadImageStates',
          Effect: 'Allow',
          Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
          Resource: IMAGE_STATE_QUEUE_ARN,
        },
        describe('DescribeImagesAndInstances', ['DescribeImages', 'DescribeInstances']),
        recordOnImages,
        tagInstances('RecordOutcomesOnOptedInInstances', 'ec2:CreateTags', OUTCOME_TAG_KEYS),
        publish,
      ],
      rotate: [
        logs('rotate'),
        reportFailures,
        describe('DescribeBackups', ['DescribeInstances', 'DescribeImages', 'DescribeSnapshots']),
        {
          Sid: 'DeregisterOwnImages',
          Effect: 'Allow',
          Action: ['ec2:DeregisterImage'],
          Resource: IMAGES,
          Condition: { StringEquals: owned },
        },
        {
          Sid: 'DeleteOwnSnapshots',
          Effect: 'Allow',
          Action: ['ec2:DeleteSnapshot'],
          Resource: SNAPSHOTS,
          Condition: { StringEquals: owned },
        },
        {
          Sid: 'CountExpiries',
          Effect: 'Allow',
          Action: ['ec2:CreateTags'],
          Resource: IMAGES,
          Condition: { StringEquals: owned, ...exactly([RotationTag.expiredToday]) },
        },
        // An image recorded as shared is unshared before it goes: any change to its launch permission (IAM names
        // neither the accounts nor the group ModifyImageAttribute adds), removals only on its snapshots.
        {
          Sid: 'UnshareOwnImagesBeforeExpiry',
          Effect: 'Allow',
          Action: ['ec2:ModifyImageAttribute'],
          Resource: IMAGES,
          Condition: { StringEquals: owned },
        },
        {
          Sid: 'UnshareOwnSnapshotsBeforeExpiry',
          Effect: 'Allow',
          Action: ['ec2:ModifySnapshotAttribute'],
          Resource: SNAPSHOTS,
          Condition: { StringEquals: owned, Null: { 'ec2:Add/userId': 'true', 'ec2:Add/group': 'true' } },
        },
        {
          Sid: 'SwitchRotationPasses',
          Effect: 'Allow',
          Action: ['events:EnableRule', 'events:DisableRule'],
          Resource: rotationPassesRule,
        },
        publish,
      ],
      restoreTests: [
        logs('restoreTests'),
        reportFailures,
        describe('DescribeTests', ['DescribeInstances', 'DescribeInstanceStatus', 'DescribeImages']),
        {
          Sid: 'LaunchFromOwnImages',
          Effect: 'Allow',
          Action: ['ec2:RunInstances'],
          Resource: IMAGES,
          Condition: { StringEquals: owned },
        },
        {
          Sid: 'LaunchIntoTestNetwork',
          Effect: 'Allow',
          Action: ['ec2:RunInstances'],
          Resource: [
            // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
            sub('arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:subnet/'),
            // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
            sub('arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:security-group/'),
            // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
            sub('arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:network-interface/*'),
          ],
        },
        {
          Sid: 'LaunchTestInstances',
          Effect: 'Allow',
          Action: ['ec2:RunInstances'],
          Resource: [INSTANCES, VOLUMES],
          Condition: {
            StringEquals: { [`aws:RequestTag/${ImageTag.managedBy}`]: 'ami-backup-dev' },
            Null: { [`aws:RequestTag/${RestoreTestTag.testInstance}`]: 'false' },
          },
        },
        {
          Sid: 'TagTestInstancesAtLaunch',
          Effect: 'Allow',
          Action: ['ec2:CreateTags'],
          Resource: [INSTANCES, VOLUMES],
          Condition: {
            StringEquals: {
              'ec2:CreateAction': 'RunInstances',
              [`aws:RequestTag/${ImageTag.managedBy}`]: 'ami-backup-dev',
            },
            ...exactly(TEST_INSTANCE_KEYS),
          },
        },
        {
          Sid: 'TerminateTestInstances',
          Effect: 'Allow',
          Action: ['ec2:TerminateInstances'],
          Resource: INSTANCES,
          Condition: {
            StringEquals: owned,
            Null: { [`aws:ResourceTag/${RestoreTestTag.testInstance}`]: 'false' },
          },
        },
        {
          Sid: 'RecordRestoreTests',
          Effect: 'Allow',
          Action: ['ec2:CreateTags'],
          Resource: IMAGES,
          Condition: { StringEquals: owned, ...exactly([RestoreTestTag.result, ApprovalTag.approved]) },
        },
        publish,
      ],
      copyImages: [
        logs('copyImages'),
        describe('DescribeBackupsAndCopies', ['DescribeInstances', 'DescribeImages']),
        { Sid: 'CopyFromThisRegion', Effect: 'Allow', Action: ['ec2:CopyImage'], Resource: IMAGES },
        {
          Sid: 'CopyOwnSnapshots',
          Effect: 'Allow',
          Action: ['ec2:CopyImage'],
          Resource: SNAPSHOTS,
          Condition: { StringEquals: owned },
        },
        {
          Sid: 'CreateOwnedCopiesInConfiguredRegions',
          Effect: 'Allow',
          Action: ['ec2:CopyImage'],
          Resource: [NO_REGION_IMAGES, NO_REGION_SNAPSHOTS],
          Condition: { StringEquals: { [`aws:RequestTag/${ImageTag.managedBy}`]: 'ami-backup-dev' } },
        },
        {
          Sid: 'TagCopiesOnCreation',
          Effect: 'Allow',
          Action: ['ec2:CreateTags'],
          Resource: [NO_REGION_IMAGES, NO_REGION_SNAPSHOTS],
          Condition: {
            StringEquals: {
              'ec2:CreateAction': 'CopyImage',
              [`aws:RequestTag/${ImageTag.managedBy}`]: 'ami-backup-dev',
            },
            ...exactly(COPY_CREATION_KEYS),
          },
        },
        {
          Sid: 'EncryptCopiesWithConfiguredKeys',
          Effect: 'Allow',
          Action: KMS_ACTIONS,
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
          Resource: [sub('arn:${AWS::Partition}:kms:none:${AWS::AccountId}:key/*')],
          Condition: { StringEquals: { 'kms:ViaService': ['ec2.none.amazonaws.com'] } },
        },
        {
          Sid: 'EncryptCopiesWithConfiguredAliases',
          Effect: 'Allow',
          Action: KMS_ACTIONS,
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
          Resource: [sub('arn:${AWS::Partition}:kms:none:${AWS::AccountId}:key/*')],
          Condition: {
            StringEquals: { 'kms:ViaService': ['ec2.none.amazonaws.com'] },
            'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/none'] },
          },
        },
        {
          Sid: 'RecordOutcomesOnOwnCopies',
          Effect: 'Allow',
          Action: ['ec2:CreateTags'],
          Resource: [NO_REGION_IMAGES],
          Condition: { StringEquals: owned, ...exactly([state, lastError, RotationTag.expiredToday]) },
        },
        {
          Sid: 'RecordCopiesOnOwnImages',
          Effect: 'Allow',
          Action: ['ec2:CreateTags'],
          Resource: IMAGES,
          Condition: { StringEquals: owned, ...exactly([CopyTag.copies]) },
        },
        {
          Sid: 'DeregisterOwnCopies',
          Effect: 'Allow',
          Action: ['ec2:DeregisterImage'],
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
          Resource: sub('arn:${AWS::Partition}:ec2:*::image/*'),
          Condition: { StringEquals: owned },
        },
        {
          Sid: 'DeleteOwnCopySnapshots',
          Effect: 'Allow',
          Action: ['ec2:DeleteSnapshot'],
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
          Resource: sub('arn:${AWS::Partition}:ec2:*::snapshot/*'),
          Condition: { StringEquals: owned },
        },
        {
          Sid: 'SwitchCopyPasses',
          Effect: 'Allow',
          Action: ['events:EnableRule', 'events:DisableRule'],
          Resource: copyPassesRule,
        },
        publish,
      ],
      shareImages: [
        logs('shareImages'),
        describe('DescribeBackups', ['DescribeInstances', 'DescribeImages', 'DescribeSnapshots']),
        {
          Sid: 'ShareOwnImages',
          Effect: 'Allow',
          Action: ['ec2:ModifyImageAttribute'],
          Resource: IMAGES,
          Condition: { StringEquals: owned },
        },
        {
          Sid: 'ShareOwnSnapshotsWithAccounts',
          Effect: 'Allow',
          Action: ['ec2:ModifySnapshotAttribute'],
          Resource: SNAPSHOTS,
          Condition: { StringEquals: owned, Null: { 'ec2:Add/group': 'true', 'ec2:Remove/group': 'true' } },
        },
        {
          Sid: 'CopyOwnImagesHere',
          Effect: 'Allow',
          Action: ['ec2:CopyImage'],
          Resource: IMAGES,
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
          Condition: { StringEquals: { 'ec2:Owner': sub('${AWS::AccountId}') } },
        },
        {
          Sid: 'CreateOwnedCopies',
          Effect: 'Allow',
          Action: ['ec2:CopyImage'],
          Resource: [IMAGES, SNAPSHOTS],
          Condition: { StringEquals: { [`aws:RequestTag/${ImageTag.managedBy}`]: 'ami-backup-dev' } },
        },
        {
          Sid: 'TagCopiesOnCreation',
          Effect: 'Allow',
          Action: ['ec2:CreateTags'],
          Resource: [IMAGES, SNAPSHOTS],
          Condition: {
            StringEquals: {
              'ec2:CreateAction': 'CopyImage',
              [`aws:RequestTag/${ImageTag.managedBy}`]: 'ami-backup-dev',
            },
            ...exactly(REENCRYPTED_COPY_KEYS),
          },
        },
        {
          Sid: 'RecordSharing',
          Effect: 'Allow',
          Action: ['ec2:CreateTags'],
          Resource: IMAGES,
          Condition: { StringEquals: owned, ...exactly([ShareTag.sharedWith]) },
        },
        {
          Sid: 'RecordShareErrors',
          Effect: 'Allow',
          Action: ['ec2:CreateTags', 'ec2:DeleteTags'],
          Resource: INSTANCES,
          Condition: { StringEquals: optedIn, ...exactly([ShareTag.shareError]) },
        },
        {
          Sid: 'DeregisterOwnCopies',
          Effect: 'Allow',
          Action: ['ec2:DeregisterImage'],
          Resource: IMAGES,
          Condition: ownCopies,
        },
        {
          Sid: 'DeleteOwnCopySnapshots',
          Effect: 'Allow',
          Action: ['ec2:DeleteSnapshot'],
          Resource: SNAPSHOTS,
          Condition: ownCopies,
        },
        {
          Sid: 'DescribeKeys',
          Effect: 'Allow',
          Action: ['kms:DescribeKey'],
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
          Resource: sub('arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*'),
        },
        ...shareKeyStatements(NO_SHARE_KEYS, NO_SHARE_KEYS),
        {
          Sid: 'SwitchSharePasses',
          Effect: 'Allow',
          Action: ['events:EnableRule', 'events:DisableRule'],
          Resource: sharePassesRule,
        },
        publish,
      ],
    };
    for (const { name } of FUNCTIONS)
      expect({ [name]: statementsOf(service.template, name) }).toEqual({ [name]: expected[name] });
  });

  it('grants no wildcard action, no Deny to lean on, and "*" resources only to Describe calls', () => {
    for (const { name } of FUNCTIONS) {
      for (const candidate of statementsOf(service.template, name)) {
        expect(candidate.Effect).toBe('Allow');
        for (const action of actionsOf(candidate)) expect(action).not.toContain('*');
        if (candidate.Resource === '*') {
          for (const action of actionsOf(candidate)) expect(action).toMatch(/^ec2:Describe[A-Za-z]+$/);
        }
      }
    }
  });

  it('lets only createImages create images (and so reboot), only rotate, copyImages and shareImages delete, and no one reboot directly', () => {
    const actions = (name: string) => new Set(statementsOf(service.template, name).flatMap(actionsOf));
    const holders = (action: string) => FUNCTIONS.map(({ name }) => name).filter((name) => actions(name).has(action));
    expect(holders('ec2:CreateImage')).toEqual(['createImages']);
    expect(holders('ec2:DeregisterImage')).toEqual(['rotate', 'copyImages', 'shareImages']);
    expect(holders('ec2:DeleteSnapshot')).toEqual(['rotate', 'copyImages', 'shareImages']);
    expect(holders('ec2:CopyImage')).toEqual(['copyImages', 'shareImages']);
    expect(holders('ec2:DeleteTags')).toEqual(['reboot', 'shareImages']);
    expect(holders('ec2:RebootInstances')).toEqual([]);
    expect(holders('events:EnableRule')).toEqual(['reboot', 'createImages', 'rotate', 'copyImages', 'shareImages']);
    expect(holders('events:DisableRule')).toEqual(['createImages', 'rotate', 'copyImages', 'shareImages']);
    expect(holders('ec2:CreateTags')).toEqual([
      'reboot',
      'createImages',
      'recordImageState',
      'rotate',
      'restoreTests',
      'copyImages',
      'shareImages',
    ]);
    expect(holders('ec2:RunInstances')).toEqual(['restoreTests']);
    expect(holders('ec2:TerminateInstances')).toEqual(['restoreTests']);
    // Sharing: only shareImages adds permissions and grants; rotate only unshares before an expiry.
    expect(holders('ec2:ModifyImageAttribute')).toEqual(['rotate', 'shareImages']);
    expect(holders('ec2:ModifySnapshotAttribute')).toEqual(['rotate', 'shareImages']);
    expect(holders('kms:ListGrants')).toEqual(['shareImages']);
    expect(holders('kms:RevokeGrant')).toEqual(['shareImages']);
    expect(holders('kms:RetireGrant')).toEqual([]);
    expect(holders('kms:CreateGrant')).toEqual(['copyImages', 'shareImages']);
  });

  it('lets no role make a snapshot public: every ModifySnapshotAttribute statement refuses a request naming a group', () => {
    const statements = FUNCTIONS.flatMap(({ name }) => statementsOf(service.template, name)).filter((candidate) =>
      actionsOf(candidate).includes('ec2:ModifySnapshotAttribute'),
    );
    expect(statements.map((candidate) => candidate.Sid)).toEqual([
      'UnshareOwnSnapshotsBeforeExpiry',
      'ShareOwnSnapshotsWithAccounts',
    ]);
    for (const candidate of statements) {
      expect(candidate.Resource).toEqual(SNAPSHOTS);
      expect(candidate.Condition?.StringEquals).toEqual({
        [`aws:ResourceTag/${ImageTag.managedBy}`]: 'ami-backup-dev',
      });
      expect(candidate.Condition?.Null).toMatchObject({ 'ec2:Add/group': 'true' });
    }
  });

  it('lets every tagging statement write only keys of lib/tags.ts, by name, and never no key', () => {
    /** The keys the service sets on instances: a run's, and why its backups cannot be shared. */
    const INSTANCE_KEYS = [...Object.values(InstanceTag), ShareTag.shareError];
    const instanceKeys = new Set<string>();
    for (const { name } of FUNCTIONS) {
      for (const candidate of statementsOf(service.template, name)) {
        if (!actionsOf(candidate).some((action) => action === 'ec2:CreateTags' || action === 'ec2:DeleteTags'))
          continue;
        expect(candidate.Condition?.Null).toEqual({ 'aws:TagKeys': 'false' });
        const keys = tagKeysOf(candidate);
        for (const key of keys) expect(key.startsWith(TAG_PREFIX)).toBe(true);
        if (candidate.Condition?.StringEquals?.['ec2:CreateAction'] === 'RunInstances') {
          // Test instances and their volumes, tagged at launch only.
          expect(candidate.Resource).toEqual([INSTANCES, VOLUMES]);
          expect(keys).toEqual(TEST_INSTANCE_KEYS);
        } else if (JSON.stringify(candidate.Resource) === JSON.stringify(INSTANCES)) {
          for (const key of keys) instanceKeys.add(key);
          expect(INSTANCE_KEYS).toEqual(expect.arrayContaining([...keys]));
        } else if (candidate.Condition?.StringEquals?.['ec2:CreateAction'] === 'CreateImage') {
          expect(keys).toEqual(Object.values(ImageTag));
        } else if (candidate.Condition?.StringEquals?.['ec2:CreateAction'] === 'CopyImage' && name === 'shareImages') {
          // Re-encrypted copies and their snapshots, in this Region, tagged by their request.
          expect(candidate.Resource).toEqual([IMAGES, SNAPSHOTS]);
          expect(keys).toEqual(REENCRYPTED_COPY_KEYS);
        } else if (candidate.Condition?.StringEquals?.['ec2:CreateAction'] === 'CopyImage') {
          // Copies and their snapshots, in the destination Regions only, tagged by their request.
          expect(candidate.Resource).toEqual([NO_REGION_IMAGES, NO_REGION_SNAPSHOTS]);
          expect(keys).toEqual(COPY_CREATION_KEYS);
        } else if (candidate.Sid === 'RecordOutcomesOnOwnCopies') {
          // A copy's outcome and rotation's count, on copies in the destination Regions.
          expect(candidate.Resource).toEqual([NO_REGION_IMAGES]);
          expect(keys).toEqual([InstanceTag.state, InstanceTag.lastError, RotationTag.expiredToday]);
        } else {
          // After their creation, only images are tagged, and only with an outcome or a restore test's result (each
          // with the image's approval), or rotation's count of the day's expiries; snapshots never are.
          expect(candidate.Resource).toEqual(IMAGES);
          expect([
            IMAGE_OUTCOME_TAG_KEYS,
            [RestoreTestTag.result, ApprovalTag.approved],
            [RotationTag.expiredToday],
            [CopyTag.copies],
            [ShareTag.sharedWith],
          ]).toContainEqual(keys);
        }
      }
    }
    // Every key the service sets on instances is allowed to some function.
    expect([...instanceKeys].sort()).toEqual([...INSTANCE_KEYS].sort());
  });

  it('deletes images and snapshots only when they carry the ownership tag of this stage', () => {
    const ownershipCondition = { StringEquals: { [`aws:ResourceTag/${ImageTag.managedBy}`]: 'ami-backup-dev' } };
    for (const sid of ['DeregisterOwnImages', 'DeleteOwnSnapshots']) {
      expect(statementOf(service.template, 'rotate', sid).Condition).toEqual(ownershipCondition);
    }
    for (const sid of ['DeregisterOwnCopies', 'DeleteOwnCopySnapshots']) {
      expect(statementOf(service.template, 'copyImages', sid).Condition).toEqual(ownershipCondition);
      // shareImages deletes only its re-encrypted copies (they carry their source), never a backup.
      expect(statementOf(service.template, 'shareImages', sid).Condition).toEqual({
        ...ownershipCondition,
        Null: { [`aws:ResourceTag/${ShareTag.reencryptedFrom}`]: 'false' },
      });
    }
  });

  it('alarms on stale instances, failed invocations and function errors, notifying a topic only when given', () => {
    const alarms = resourcesOfType(service.template, 'AWS::CloudWatch::Alarm');
    expect(alarms).toHaveLength(4);
    expect(service.template.Resources.RestoreTestsFailedAlarm?.Properties).toMatchObject({
      Namespace: 'ami-backup',
      MetricName: 'RestoreTestsFailed',
      Dimensions: [
        { Name: 'service', Value: 'ami-backup' },
        { Name: 'stage', Value: 'dev' },
      ],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    const stale = service.template.Resources.StaleInstancesAlarm?.Properties;
    expect(stale).toMatchObject({
      Namespace: 'ami-backup',
      MetricName: 'StaleInstances',
      Dimensions: [
        { Name: 'service', Value: 'ami-backup' },
        { Name: 'stage', Value: 'dev' },
      ],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(service.template.Resources.FailedInvocationsAlarm?.Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['FailedInvocationsQueue', 'QueueName'] } }],
    });
    const errors = service.template.Resources.FunctionErrorsAlarm?.Properties.Metrics as readonly {
      MetricStat?: { Metric: { Dimensions: readonly { Value: unknown }[] } };
    }[];
    expect(errors.flatMap((metric) => metric.MetricStat?.Metric.Dimensions.map((d) => d.Value) ?? [])).toEqual(
      FUNCTIONS.map(({ name }) => ({ Ref: `${name.charAt(0).toUpperCase()}${name.slice(1)}LambdaFunction` })),
    );
    const notify = { 'Fn::If': ['HasAlarmTopic', [''], { Ref: 'AWS::NoValue' }] };
    for (const alarm of alarms) expect(alarm.Properties).toMatchObject({ AlarmActions: notify, OKActions: notify });
    // Without a topic (the default), the condition is false: the alarms notify no one.
    expect((service.template as unknown as { Conditions: unknown }).Conditions).toMatchObject({
      HasAlarmTopic: { 'Fn::Not': [{ 'Fn::Equals': ['', ''] }] },
    });
  });

  it('does not deploy the approved-images Config rule by default', () => {
    const rules = resourcesOfType(service.template, 'AWS::Config::ConfigRule');
    expect(rules).toHaveLength(1);
    expect(deployed(service.template, 'ApprovedImagesConfigRule')).toBe(false);
  });

  it("has a dashboard of the night: the service's metrics, its functions' errors and the failure queue", () => {
    const dashboard = service.template.Resources.NightDashboard;
    expect(dashboard?.Type).toBe('AWS::CloudWatch::Dashboard');
    const body = (dashboard?.Properties.DashboardBody as { 'Fn::Sub': string } | undefined)?.['Fn::Sub'] ?? '{}';
    const widgets = (JSON.parse(body) as { widgets: { properties: { metrics: string[][] } }[] }).widgets;
    const names = widgets.flatMap((widget) => widget.properties.metrics.map((metric) => metric[1]));
    expect(names).toEqual(
      expect.arrayContaining([
        'BackupsSucceeded',
        'BackupsFailed',
        'ImagesExpired',
        'SnapshotsDeleted',
        'StaleInstances',
        'RestoreTestsPassed',
        'RestoreTestsFailed',
        'DeniedCalls',
        'ThrottledCalls',
        'CopiesSucceeded',
        'CopiesFailed',
        'CopiesExpired',
        'ImagesShared',
        'SharesRevoked',
        'ShareFailures',
        'Errors',
        'ApproximateNumberOfMessagesVisible',
      ]),
    );
    // The errors of every function are charted.
    const errors = widgets.find((widget) => widget.properties.metrics[0]?.[1] === 'Errors');
    expect(errors?.properties.metrics.map((metric) => metric.at(-1))).toEqual(
      FUNCTIONS.map(({ name }) => `\${${name.charAt(0).toUpperCase()}${name.slice(1)}LambdaFunction}`),
    );
  });

  it('writes one bundled zip per function, holding its handler', async () => {
    for (const { name, file } of FUNCTIONS) {
      const zip = await readFile(path.join(service.dir, `${name}.zip`));
      // Entry names are stored uncompressed in the zip's headers.
      expect(zip.includes(`functions/${file}.js`)).toBe(true);
      expect(zip.includes(`functions/${file}.js.map`)).toBe(true);
    }
  });
});

/** A KMS key id, as copyKmsKeys takes it. */
const COPY_KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';
/** Keys sharing may use, by ARN (shareKmsKey, shareGrantKeys). */
const SHARE_KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const GRANT_KEYS = [
  'arn:aws:kms:eu-west-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321',
  'arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555',
];

describe('serverless package with overridden stage and parameters', () => {
  let service: PackagedService;

  beforeAll(async () => {
    service = await packageService([
      '--stage',
      'prod',
      '--region',
      'eu-west-1',
      '--param=optInTagKey=backup-plan',
      '--param=optInTagValue=nightly',
      '--param=rebootSchedule=cron(0 2 * * ? *)',
      '--param=minRetain=3',
      '--param=minRetainDays=14',
      '--param=maxExpirePerRun=9',
      '--param=rotateSchedule=cron(0 4-5 * * ? *)',
      '--param=alarmTopicArn=arn:aws:sns:eu-west-1:111122223333:backups',
      '--param=approvedImagesConfigRule=true',
      '--param=copyRegions=us-west-2',
      '--param=copyAllowedRegions=ap-south-1',
      `--param=copyKmsKeys=us-west-2=${COPY_KEY},ap-south-1=alias/backups`,
      '--param=shareAccounts=444455556666',
      `--param=shareKmsKey=${SHARE_KEY}`,
      // The share key named again among the grantable ones is named once.
      `--param=shareGrantKeys=${GRANT_KEYS.join(',')},${SHARE_KEY}`,
      '--param=shareSchedule=cron(30 11 * * ? *)',
    ]);
  }, PACKAGE_TIMEOUT_MS);

  it('lets copyImages copy into the configured Regions only, and use their keys only through EC2 there', () => {
    const inRegion = (region: string, resource: string) => sub(`arn:\${AWS::Partition}:ec2:${region}::${resource}/*`);
    const destinations = [
      inRegion('us-west-2', 'image'),
      inRegion('ap-south-1', 'image'),
      inRegion('us-west-2', 'snapshot'),
      inRegion('ap-south-1', 'snapshot'),
    ];
    expect(statementOf(service.template, 'copyImages', 'CreateOwnedCopiesInConfiguredRegions')).toMatchObject({
      Resource: destinations,
      Condition: { StringEquals: { [`aws:RequestTag/${ImageTag.managedBy}`]: 'ami-backup-prod' } },
    });
    expect(statementOf(service.template, 'copyImages', 'TagCopiesOnCreation').Resource).toEqual(destinations);
    expect(statementOf(service.template, 'copyImages', 'EncryptCopiesWithConfiguredKeys')).toMatchObject({
      Resource: [sub(`arn:\${AWS::Partition}:kms:us-west-2:\${AWS::AccountId}:key/${COPY_KEY}`)],
      Condition: { StringEquals: { 'kms:ViaService': ['ec2.us-west-2.amazonaws.com'] } },
    });
    expect(statementOf(service.template, 'copyImages', 'EncryptCopiesWithConfiguredAliases')).toMatchObject({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub
      Resource: [sub('arn:${AWS::Partition}:kms:ap-south-1:${AWS::AccountId}:key/*')],
      Condition: {
        StringEquals: { 'kms:ViaService': ['ec2.ap-south-1.amazonaws.com'] },
        'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/backups'] },
      },
    });
    expect(lambdaFunction(service.template, 'copyImages').Properties.Environment).toMatchObject({
      Variables: {
        COPY_REGIONS: 'us-west-2',
        COPY_ALLOWED_REGIONS: 'ap-south-1',
        COPY_KMS_KEYS: `us-west-2=${COPY_KEY},ap-south-1=alias/backups`,
        COPY_PASSES_RULE: 'ami-backup-prod-copy-passes',
      },
    });
  });

  it('lets shareImages grant, list and revoke on the named keys only, and EC2 copy with the share key only', () => {
    const statements = statementsOf(service.template, 'shareImages');
    const sids = shareKeyStatements([], []).map((candidate) => candidate.Sid);
    expect(statements.filter((candidate) => sids.includes(candidate.Sid))).toEqual(
      shareKeyStatements([SHARE_KEY, ...GRANT_KEYS], [SHARE_KEY]),
    );
    expect(lambdaFunction(service.template, 'shareImages').Properties.Environment).toMatchObject({
      Variables: {
        SHARE_ACCOUNTS: '444455556666',
        SHARE_KMS_KEY: SHARE_KEY,
        SHARE_GRANT_KEYS: `${GRANT_KEYS.join(',')},${SHARE_KEY}`,
        SHARE_PASSES_RULE: 'ami-backup-prod-share-passes',
      },
    });
    const daily = resourcesOfType(service.template, 'AWS::Events::Rule').filter(
      (rule) => ruleTarget(rule) === 'ShareImagesLambdaFunction' && rule.Properties.Name === undefined,
    );
    expect(daily.map((rule) => rule.Properties.ScheduleExpression)).toEqual(['cron(30 11 * * ? *)']);
  });

  afterAll(async () => {
    await rm(service.dir, { recursive: true, force: true });
  });

  it('targets the requested region', async () => {
    const state = JSON.parse(await readFile(path.join(service.dir, 'serverless-state.json'), 'utf8')) as {
      service: { provider: { region: string; stage: string } };
    };
    expect(state.service.provider).toMatchObject({ region: 'eu-west-1', stage: 'prod' });
  });

  it('names the stage as owner in the environment and in the ownership conditions', () => {
    expect(lambdaFunction(service.template, 'rotate').Properties.Environment).toMatchObject({
      Variables: { OWNER: 'ami-backup-prod', OPT_IN_TAG_KEY: 'backup-plan', OPT_IN_TAG_VALUE: 'nightly' },
    });
  });

  it('passes the retention floor, the nightly cap and the rotation schedule to every function', () => {
    for (const { name } of FUNCTIONS) {
      expect(lambdaFunction(service.template, name).Properties.Environment).toMatchObject({
        Variables: {
          MIN_RETAIN: '3',
          MIN_RETAIN_DAYS: '14',
          MAX_EXPIRE_PER_RUN: '9',
          ROTATE_SCHEDULE: 'cron(0 4-5 * * ? *)',
        },
      });
    }
    expect(statementOf(service.template, 'rotate', 'DeregisterOwnImages').Condition).toEqual({
      StringEquals: { [`aws:ResourceTag/${ImageTag.managedBy}`]: 'ami-backup-prod' },
    });
  });

  it('conditions imaging (and so its reboot) and instance tagging on the configured opt-in tag', () => {
    // restoreTests acts on its own test instances only (ownership and test-instance tags), never on opted-in ones.
    const onInstances = FUNCTIONS.filter(({ name }) => name !== 'restoreTests').flatMap(({ name }) =>
      statementsOf(service.template, name).filter((candidate) =>
        JSON.stringify(candidate.Resource).includes(':instance/'),
      ),
    );
    expect(onInstances.map((candidate) => candidate.Sid)).toEqual([
      'StartRunsOnOptedInInstances',
      'ClearPolicyErrors',
      'ImageOptedInInstances',
      'TrackRunsOnOptedInInstances',
      'RecordOutcomesOnOptedInInstances',
      'RecordShareErrors',
    ]);
    for (const candidate of onInstances) {
      expect(candidate.Condition?.StringEquals).toEqual({ 'aws:ResourceTag/backup-plan': 'nightly' });
    }
  });

  it('deploys the approved-images Config rule when asked: AWS managed, on instances, with the approved values', () => {
    expect(deployed(service.template, 'ApprovedImagesConfigRule')).toBe(true);
    expect(service.template.Resources.ApprovedImagesConfigRule).toMatchObject({
      Type: 'AWS::Config::ConfigRule',
      Properties: {
        ConfigRuleName: 'ami-backup-prod-approved-images',
        Scope: { ComplianceResourceTypes: ['AWS::EC2::Instance'] },
        Source: { Owner: 'AWS', SourceIdentifier: 'APPROVED_AMIS_BY_TAG' },
        InputParameters: {
          amisByTagKeyAndValue: APPROVED_VALUES.map((value) => `${ApprovalTag.approved}:${value}`).join(','),
        },
      },
    });
  });

  it('notifies the given topic from every alarm', () => {
    const topic = 'arn:aws:sns:eu-west-1:111122223333:backups';
    expect((service.template as unknown as { Conditions: unknown }).Conditions).toMatchObject({
      HasAlarmTopic: { 'Fn::Not': [{ 'Fn::Equals': [topic, ''] }] },
    });
    for (const alarm of resourcesOfType(service.template, 'AWS::CloudWatch::Alarm')) {
      expect(alarm.Properties.AlarmActions).toEqual({ 'Fn::If': ['HasAlarmTopic', [topic], { Ref: 'AWS::NoValue' }] });
    }
  });

  it('uses the overridden reboot schedule', () => {
    const rebootRule = resourcesOfType(service.template, 'AWS::Events::Rule').find(
      (rule) => ruleTarget(rule) === 'RebootLambdaFunction',
    );
    expect(rebootRule?.Properties.ScheduleExpression).toBe('cron(0 2 * * ? *)');
  });
});
