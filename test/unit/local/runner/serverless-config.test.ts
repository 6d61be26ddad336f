// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the fixtures write Serverless variables as ${…}
import { parseSchedule } from '../../../../local/runner/schedule';
import {
  parseServerlessConfig,
  readServerlessConfig,
  ServerlessConfigError,
} from '../../../../local/runner/serverless-config';

/** What `serverless print --format json` gives: variables resolved, CloudFormation's functions in their long form. */
const PRINTED = {
  service: 'ami-backup',
  frameworkVersion: '4',
  provider: {
    name: 'aws',
    stage: 'dev',
    region: 'eu-west-1',
    timeout: 20,
    environment: { OPT_IN_TAG_KEY: 'Backup', OWNER: 'ami-backup-dev', LOG_LEVEL: 'INFO', RETAIN: 7, DRY: false },
  },
  functions: {
    reboot: {
      handler: 'functions/reboot.handler',
      role: 'RebootRole',
      timeout: 900,
      maximumRetryAttempts: 2,
      destinations: { onFailure: { type: 'sqs', arn: { 'Fn::GetAtt': ['FailedQueue', 'Arn'] } } },
      events: [{ schedule: { rate: ['cron(0 3 * * ? *)'], input: { source: 'local' } } }],
      name: 'ami-backup-dev-reboot',
    },
    createImages: {
      handler: 'functions/create-images.handler',
      timeout: '900',
      reservedConcurrency: 1,
      maximumRetryAttempts: 0,
      events: [
        { schedule: { name: 'ami-backup-dev-passes', rate: ['rate(5 minutes)'] } },
        { schedule: { name: 'ami-backup-dev-fast-passes', rate: ['rate(1 minute)'], enabled: false } },
        { schedule: 'rate(3 hours)' },
      ],
    },
    recordImageState: {
      handler: 'src/v1.2/record.main',
      environment: { LOG_LEVEL: 'DEBUG' },
      events: [
        {
          sqs: {
            arn: { 'Fn::GetAtt': ['ImageStateQueue', 'Arn'] },
            batchSize: '1000',
            maximumBatchingWindow: 30,
            functionResponseType: 'ReportBatchItemFailures',
          },
        },
        { sqs: { arn: { 'Fn::GetAtt': 'SlowQueue.Arn' }, enabled: false } },
        { sqs: { 'Fn::GetAtt': ['SlowQueue', 'Arn'] } },
        {
          eventBridge: {
            eventBus: 'backups',
            enabled: false,
            description: 'deploy-only text',
            pattern: { source: ['com.example'] },
          },
        },
      ],
    },
    idle: { handler: 'functions/idle.handler' },
  },
  resources: {
    Resources: {
      ImageStateRule: {
        Type: 'AWS::Events::Rule',
        Properties: {
          EventPattern: { source: ['aws.ec2'], detail: { State: ['available'] } },
          Targets: [
            { Id: 'ImageStateQueue', Arn: { 'Fn::GetAtt': ['ImageStateQueue', 'Arn'] } },
            { Id: 'Notify', Arn: { Ref: 'NotifyTopic' }, InputPath: '$.detail' },
          ],
        },
      },
      QuietRule: {
        Type: 'AWS::Events::Rule',
        Properties: {
          State: 'DISABLED',
          EventBusName: 'arn:aws:events:us-east-1:123456789012:event-bus/backups',
          EventPattern: '{"source":["com.example"]}',
          Targets: [{ Id: 'q', Arn: { 'Fn::GetAtt': ['SlowQueue', 'Arn'] } }],
        },
      },
      NightlyRule: {
        Type: 'AWS::Events::Rule',
        Properties: {
          ScheduleExpression: 'rate(1 day)',
          Targets: [{ Id: 'q', Arn: { 'Fn::GetAtt': 'SlowQueue.Arn' } }],
        },
      },
      ImageStateQueue: {
        Type: 'AWS::SQS::Queue',
        Properties: {
          VisibilityTimeout: 720,
          RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['FailedQueue', 'Arn'] }, maxReceiveCount: 5 },
        },
      },
      SlowQueue: {
        Type: 'AWS::SQS::Queue',
        Properties: {
          RedrivePolicy: '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:failed","maxReceiveCount":"3"}',
        },
      },
      FailedQueue: { Type: 'AWS::SQS::Queue', Properties: { MessageRetentionPeriod: 1209600 } },
      NotifyTopic: { Type: 'AWS::SNS::Topic' },
      RebootRole: { Type: 'AWS::IAM::Role', Properties: { Policies: [] } },
    },
  },
};

type Printed = Record<string, unknown>;

/** PRINTED with the value at `path` replaced (or removed, for undefined). */
function changed(path: readonly (string | number)[], value: unknown): Printed {
  const copy = structuredClone(PRINTED) as Printed;
  let node = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

function failure(printed: unknown): ServerlessConfigError {
  try {
    readServerlessConfig(printed);
  } catch (error: unknown) {
    if (error instanceof ServerlessConfigError) return error;
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

describe('readServerlessConfig', () => {
  const config = readServerlessConfig(PRINTED);

  it('reads each function: handler module and export, timeout, retries, concurrency and environment', () => {
    expect(config.functions.map(({ events: _events, ...fn }) => fn)).toEqual([
      {
        name: 'reboot',
        handler: 'functions/reboot.handler',
        modulePath: 'functions/reboot.ts',
        exportName: 'handler',
        timeout: 900,
        maximumRetryAttempts: 2,
        environment: {
          OPT_IN_TAG_KEY: 'Backup',
          OWNER: 'ami-backup-dev',
          LOG_LEVEL: 'INFO',
          RETAIN: '7',
          DRY: 'false',
        },
      },
      expect.objectContaining({
        name: 'createImages',
        modulePath: 'functions/create-images.ts',
        timeout: 900,
        maximumRetryAttempts: 0,
        reservedConcurrency: 1,
      }),
      expect.objectContaining({
        name: 'recordImageState',
        modulePath: 'src/v1.2/record.ts',
        exportName: 'main',
        timeout: 20,
        maximumRetryAttempts: 2,
        environment: expect.objectContaining({ LOG_LEVEL: 'DEBUG', OWNER: 'ami-backup-dev' }),
      }),
      expect.objectContaining({ name: 'idle', timeout: 20 }),
    ]);
    expect(config.functions.find((fn) => fn.name === 'reboot')).not.toHaveProperty('reservedConcurrency');
  });

  it('takes the timeout of the function, else the provider, else 6 seconds', () => {
    expect(readServerlessConfig(changed(['provider', 'timeout'], undefined)).functions.map((fn) => fn.timeout)).toEqual(
      [900, 900, 6, 6],
    );
  });

  it('reads every schedule with its name, rate, enabled state and input', () => {
    expect(config.functions[0]?.events).toEqual([
      { kind: 'schedule', schedule: parseSchedule('cron(0 3 * * ? *)'), enabled: true, input: { source: 'local' } },
    ]);
    expect(config.functions[1]?.events).toEqual([
      { kind: 'schedule', schedule: parseSchedule('rate(5 minutes)'), enabled: true, name: 'ami-backup-dev-passes' },
      {
        kind: 'schedule',
        schedule: parseSchedule('rate(1 minute)'),
        enabled: false,
        name: 'ami-backup-dev-fast-passes',
      },
      { kind: 'schedule', schedule: parseSchedule('rate(3 hours)'), enabled: true },
    ]);
  });

  it('reads a list of rates as one schedule each, sharing the settings', () => {
    const printed = changed(
      ['functions', 'reboot', 'events'],
      [{ schedule: { name: 'nightly', enabled: false, rate: ['cron(0 3 * * ? *)', 'rate(2 hours)'], input: '{}' } }],
    );
    expect(readServerlessConfig(printed).functions[0]?.events).toEqual([
      { kind: 'schedule', schedule: parseSchedule('cron(0 3 * * ? *)'), enabled: false, name: 'nightly', input: '{}' },
      { kind: 'schedule', schedule: parseSchedule('rate(2 hours)'), enabled: false, name: 'nightly', input: '{}' },
    ]);
  });

  it('maps sqs events onto the queues their Fn::GetAtt names, and EventBridge events with their bus', () => {
    expect(config.functions[2]?.events).toEqual([
      {
        kind: 'sqs',
        queue: 'ImageStateQueue',
        batchSize: 1000,
        maximumBatchingWindow: 30,
        reportsBatchItemFailures: true,
        enabled: true,
      },
      {
        kind: 'sqs',
        queue: 'SlowQueue',
        batchSize: 10,
        maximumBatchingWindow: 0,
        reportsBatchItemFailures: false,
        enabled: false,
      },
      {
        kind: 'sqs',
        queue: 'SlowQueue',
        batchSize: 10,
        maximumBatchingWindow: 0,
        reportsBatchItemFailures: false,
        enabled: true,
      },
      { kind: 'eventBridge', pattern: { source: ['com.example'] }, eventBus: 'backups', enabled: false },
    ]);
  });

  it('reads the queues, and the rules with a pattern with the queues among their targets', () => {
    expect(config.queues).toEqual([
      { name: 'ImageStateQueue', visibilityTimeout: 720, maxReceiveCount: 5 },
      { name: 'SlowQueue', visibilityTimeout: 30, maxReceiveCount: 3 },
      { name: 'FailedQueue', visibilityTimeout: 30 },
    ]);
    expect(config.rules).toEqual([
      {
        name: 'ImageStateRule',
        pattern: { source: ['aws.ec2'], detail: { State: ['available'] } },
        eventBus: 'default',
        enabled: true,
        queues: ['ImageStateQueue'],
      },
      {
        name: 'QuietRule',
        pattern: { source: ['com.example'] },
        eventBus: 'backups',
        enabled: false,
        queues: ['SlowQueue'],
      },
    ]);
  });

  it('takes the stage and region given, else the provider’s, else dev and us-east-1', () => {
    expect(config).toMatchObject({ service: 'ami-backup', stage: 'dev', region: 'eu-west-1' });
    expect(readServerlessConfig(PRINTED, { stage: 'prod', region: 'us-west-2' })).toMatchObject({
      stage: 'prod',
      region: 'us-west-2',
    });
    expect(readServerlessConfig({ service: 'demo' })).toEqual({
      service: 'demo',
      stage: 'dev',
      region: 'us-east-1',
      functions: [],
      queues: [],
      rules: [],
    });
  });

  it.each<[string, readonly (string | number)[], unknown, string, string]>([
    ['a configuration that is not a mapping', [], undefined, 'serverless.yml', 'mapping'],
    ['a missing service name', ['service'], undefined, 'service', 'expected a name'],
    ['functions as a list', ['functions'], ['reboot'], 'functions', 'mapping of functions'],
    ['a function that is not a mapping', ['functions', 'idle'], 'functions/idle.handler', 'functions.idle', 'mapping'],
    ['a handler without export', ['functions', 'idle', 'handler'], 'idle', 'functions.idle.handler', '<export>'],
    ['a timeout of zero', ['functions', 'idle', 'timeout'], 0, 'functions.idle.timeout', 'from 1 to 900'],
    ['a timeout as text', ['functions', 'idle', 'timeout'], 'long', 'functions.idle.timeout', 'from 1 to 900'],
    [
      'three retries',
      ['functions', 'idle', 'maximumRetryAttempts'],
      3,
      'functions.idle.maximumRetryAttempts',
      'from 0 to 2',
    ],
    ['events that are not a list', ['functions', 'idle', 'events'], {}, 'functions.idle.events', 'list of events'],
    [
      'a reference where a string is needed',
      ['provider', 'environment', 'QUEUE'],
      { Ref: 'FailedQueue' },
      'provider.environment.QUEUE',
      '{"Ref":"FailedQueue"}',
    ],
    ['an HTTP event', ['functions', 'idle', 'events'], [{ http: { path: '/' } }], 'functions.idle.events[0]', 'http'],
    [
      'two types in one event',
      ['functions', 'idle', 'events'],
      [{ schedule: 'rate(1 hour)', sqs: 'arn' }],
      'functions.idle.events[0]',
      'one event type',
    ],
    [
      'a schedule that does not parse',
      ['functions', 'createImages', 'events', 2, 'schedule'],
      'rate(1 minutes)',
      'functions.createImages.events[2].schedule.rate',
      'takes the unit "minute"',
    ],
    [
      'a schedule without rate',
      ['functions', 'createImages', 'events', 0, 'schedule', 'rate'],
      undefined,
      'functions.createImages.events[0].schedule.rate',
      'cron(…) or rate(…)',
    ],
    [
      'an empty list of rates',
      ['functions', 'createImages', 'events', 0, 'schedule', 'rate'],
      [],
      'functions.createImages.events[0].schedule.rate',
      'at least one expression',
    ],
    [
      'an enabled that is not a boolean',
      ['functions', 'createImages', 'events', 1, 'schedule', 'enabled'],
      'no',
      'functions.createImages.events[1].schedule.enabled',
      'true or false',
    ],
    [
      'an input transformer on a schedule',
      ['functions', 'createImages', 'events', 0, 'schedule', 'inputTransformer'],
      {},
      'functions.createImages.events[0].schedule.inputTransformer',
      'not supported',
    ],
    [
      'an EventBridge event without pattern',
      ['functions', 'recordImageState', 'events', 3, 'eventBridge', 'pattern'],
      undefined,
      'functions.recordImageState.events[3].eventBridge.pattern',
      'pattern is required',
    ],
    [
      'an EventBridge pattern that does not validate',
      ['functions', 'recordImageState', 'events', 3, 'eventBridge', 'pattern'],
      { detail: { State: 'available' } },
      'functions.recordImageState.events[3].eventBridge.pattern',
      'detail.State',
    ],
    [
      'an unknown sqs key',
      ['functions', 'recordImageState', 'events', 0, 'sqs', 'filterPatterns'],
      [{ body: { a: [1] } }],
      'functions.recordImageState.events[0].sqs.filterPatterns',
      'not supported',
    ],
    [
      'a queue ARN written out',
      ['functions', 'recordImageState', 'events', 0, 'sqs', 'arn'],
      'arn:aws:sqs:us-east-1:123456789012:elsewhere',
      'functions.recordImageState.events[0].sqs.arn',
      '!GetAtt <Queue>.Arn',
    ],
    [
      'a queue that is not a queue resource',
      ['functions', 'recordImageState', 'events', 0, 'sqs', 'arn'],
      { 'Fn::GetAtt': ['NotifyTopic', 'Arn'] },
      'functions.recordImageState.events[0].sqs.arn',
      'NotifyTopic is not a resource of type AWS::SQS::Queue',
    ],
    [
      'a batch above 10,000',
      ['functions', 'recordImageState', 'events', 0, 'sqs', 'batchSize'],
      10_001,
      'functions.recordImageState.events[0].sqs.batchSize',
      'from 1 to 10000',
    ],
    [
      'a batch above 10 without a window',
      ['functions', 'recordImageState', 'events', 0, 'sqs', 'maximumBatchingWindow'],
      0,
      'functions.recordImageState.events[0].sqs.batchSize',
      'maximumBatchingWindow of at least 1 second',
    ],
    [
      'a window above 300 seconds',
      ['functions', 'recordImageState', 'events', 0, 'sqs', 'maximumBatchingWindow'],
      301,
      'functions.recordImageState.events[0].sqs.maximumBatchingWindow',
      'from 0 to 300',
    ],
    [
      'another response type',
      ['functions', 'recordImageState', 'events', 0, 'sqs', 'functionResponseType'],
      'Everything',
      'functions.recordImageState.events[0].sqs.functionResponseType',
      'ReportBatchItemFailures',
    ],
    [
      'a rule pattern that does not validate',
      ['resources', 'Resources', 'ImageStateRule', 'Properties', 'EventPattern'],
      { detail: { State: 'available' } },
      'resources.Resources.ImageStateRule.Properties.EventPattern',
      'detail.State',
    ],
    [
      'an unknown rule state',
      ['resources', 'Resources', 'QuietRule', 'Properties', 'State'],
      'PAUSED',
      'resources.Resources.QuietRule.Properties.State',
      'ENABLED, DISABLED',
    ],
    [
      'an input transformer on a queue target',
      ['resources', 'Resources', 'ImageStateRule', 'Properties', 'Targets', 0, 'InputTransformer'],
      { InputTemplate: 'x' },
      'resources.Resources.ImageStateRule.Properties.Targets[0].InputTransformer',
      'not supported',
    ],
    [
      'a visibility timeout above 12 hours',
      ['resources', 'Resources', 'ImageStateQueue', 'Properties', 'VisibilityTimeout'],
      43_201,
      'resources.Resources.ImageStateQueue.Properties.VisibilityTimeout',
      'from 0 to 43200',
    ],
    [
      'a redrive policy without a receive count',
      ['resources', 'Resources', 'ImageStateQueue', 'Properties', 'RedrivePolicy', 'maxReceiveCount'],
      'many',
      'resources.Resources.ImageStateQueue.Properties.RedrivePolicy.maxReceiveCount',
      'from 1 to 1000',
    ],
    [
      'a FIFO queue',
      ['resources', 'Resources', 'ImageStateQueue', 'Properties', 'FifoQueue'],
      true,
      'resources.Resources.ImageStateQueue.Properties.FifoQueue',
      'standard queues only',
    ],
  ])('refuses %s, naming where', (_case, path, value, where, problem) => {
    const error = failure(path.length === 0 ? ['service'] : changed(path, value));
    expect(error.where).toBe(where);
    expect(error.message).toContain(problem);
  });
});

describe('parseServerlessConfig', () => {
  it('reads a resolved configuration written as YAML, with CloudFormation’s short forms', () => {
    const config = parseServerlessConfig(`service: demo
functions:
  record:
    handler: record.handler
    events:
      - sqs: !GetAtt Queue.Arn
resources:
  Resources:
    Queue:
      Type: AWS::SQS::Queue
      Properties:
        VisibilityTimeout: 60
        RedrivePolicy: { deadLetterTargetArn: !Sub '\${Failed.Arn}', maxReceiveCount: 2 }
`);
    expect(config.functions[0]?.events).toEqual([
      {
        kind: 'sqs',
        queue: 'Queue',
        batchSize: 10,
        maximumBatchingWindow: 0,
        reportsBatchItemFailures: false,
        enabled: true,
      },
    ]);
    expect(config.queues).toEqual([{ name: 'Queue', visibilityTimeout: 60, maxReceiveCount: 2 }]);
  });

  it.each<[string, string, string]>([
    ['broken YAML', 'service: [unclosed', 'serverless.yml'],
    ['an unknown tag', 'service: !Secret demo', 'serverless.yml'],
    ['a list at the top level', '- service', 'serverless.yml'],
  ])('refuses %s', (_case, text, where) => {
    expect(() => parseServerlessConfig(text)).toThrow(ServerlessConfigError);
    expect(() => parseServerlessConfig(text)).toThrow(`${where}: `);
  });

  it('refuses a file whose variables the framework has not resolved, naming the variable', () => {
    const text = 'service: demo\nprovider:\n  environment:\n    KEY: ${param:optInTagKey}\n';
    expect(() => parseServerlessConfig(text)).toThrow(/\$\{param:optInTagKey\} is not resolved/);
  });
});
