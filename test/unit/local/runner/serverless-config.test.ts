// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the YAML under test writes Serverless variables as ${…}
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSchedule } from '../../../../local/runner/schedule';
import {
  loadServerlessConfig,
  parseServerlessConfig,
  ServerlessConfigError,
} from '../../../../local/runner/serverless-config';

const SERVICE = `
service: ami-backup

params:
  default:
    rebootSchedule: cron(0 3 * * ? *)
    optInTagKey: Backup
  prod:
    rebootSchedule: cron(0 2 * * ? *)

provider:
  name: aws
  runtime: nodejs22.x
  stage: \${opt:stage, 'dev'}
  region: \${opt:region, 'eu-west-1'}
  environment:
    OPT_IN_TAG_KEY: \${param:optInTagKey}
    OWNER: \${self:service}-\${sls:stage}
    LOG_LEVEL: INFO
  iam:
    role:
      statements:
        - Effect: Allow
          Action: ec2:RebootInstances
          Resource: !Sub arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:instance/*
          Condition: \${file(scripts/condition.cjs)}

functions:
  reboot:
    handler: functions/reboot.handler
    timeout: 900
    maximumRetryAttempts: 2
    events:
      - schedule:
          rate: \${param:rebootSchedule}
          input: { source: local }
  recordImageState:
    handler: functions/record-image-state.handler
    environment:
      LOG_LEVEL: DEBUG
    events:
      - eventBridge:
          pattern:
            source: [aws.ec2]
            detail-type: [EC2 AMI State Change]
            detail:
              State: [available, failed]
`;

/** A service with the given provider `environment` entries and `functions` section (YAML, indented by the caller). */
function service(functions: string, environment = 'LOG_LEVEL: INFO', extra = ''): string {
  return `service: demo
provider:
  name: aws
  environment:
    ${environment}
${extra}
functions:
${functions}`;
}

function failure(text: string, options = {}): ServerlessConfigError {
  try {
    parseServerlessConfig(text, options);
  } catch (error: unknown) {
    if (error instanceof ServerlessConfigError) return error;
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

describe('parseServerlessConfig', () => {
  it('reads functions, handlers, timeouts, environment and events with variables resolved', () => {
    expect(parseServerlessConfig(SERVICE)).toEqual({
      service: 'ami-backup',
      stage: 'dev',
      region: 'eu-west-1',
      functions: [
        {
          name: 'reboot',
          handler: 'functions/reboot.handler',
          modulePath: 'functions/reboot.ts',
          exportName: 'handler',
          timeout: 900,
          maximumRetryAttempts: 2,
          environment: { OPT_IN_TAG_KEY: 'Backup', OWNER: 'ami-backup-dev', LOG_LEVEL: 'INFO' },
          events: [
            {
              kind: 'schedule',
              schedule: parseSchedule('cron(0 3 * * ? *)'),
              enabled: true,
              input: { source: 'local' },
            },
          ],
        },
        {
          name: 'recordImageState',
          handler: 'functions/record-image-state.handler',
          modulePath: 'functions/record-image-state.ts',
          exportName: 'handler',
          timeout: 6,
          maximumRetryAttempts: 2,
          environment: { OPT_IN_TAG_KEY: 'Backup', OWNER: 'ami-backup-dev', LOG_LEVEL: 'DEBUG' },
          events: [
            {
              kind: 'eventBridge',
              pattern: {
                source: ['aws.ec2'],
                'detail-type': ['EC2 AMI State Change'],
                detail: { State: ['available', 'failed'] },
              },
              eventBus: 'default',
              enabled: true,
            },
          ],
        },
      ],
      queues: [],
      rules: [],
    });
  });

  describe('stage, region and params', () => {
    it('takes the stage option, and the params of that stage before the defaults', () => {
      const config = parseServerlessConfig(SERVICE, { stage: 'prod', region: 'ap-south-1' });
      expect(config.stage).toBe('prod');
      expect(config.region).toBe('ap-south-1');
      const [reboot] = config.functions;
      expect(reboot?.environment.OWNER).toBe('ami-backup-prod');
      expect(reboot?.events[0]).toMatchObject({ schedule: { expression: 'cron(0 2 * * ? *)' } });
      expect(reboot?.environment.OPT_IN_TAG_KEY).toBe('Backup');
    });

    it('lets param options win over the file', () => {
      const config = parseServerlessConfig(SERVICE, { params: { rebootSchedule: 'rate(1 hour)' } });
      expect(config.functions[0]?.events[0]).toMatchObject({ schedule: { kind: 'rate', intervalMinutes: 60 } });
    });

    it('uses the provider stage, then dev; the provider region, then us-east-1', () => {
      const staged = parseServerlessConfig(service('  f:\n    handler: f.handler', 'A: ${sls:stage}', '  stage: qa'));
      expect(staged.stage).toBe('qa');
      expect(staged.functions[0]?.environment.A).toBe('qa');
      const plain = parseServerlessConfig(service('  f:\n    handler: f.handler'));
      expect(plain.stage).toBe('dev');
      expect(plain.region).toBe('us-east-1');
    });

    it('refuses a stage defined by itself', () => {
      const error = failure(service('  f:\n    handler: f.handler', 'A: b', '  stage: ${sls:stage}'));
      expect(error.message).toContain('provider.stage');
      expect(error.message).toContain('${sls:stage}');
    });
  });

  describe('variables', () => {
    const custom = `custom:
  timeout: 30
  bus: { dev: backups-dev, prod: backups-prod }
  names: [a, b]
  loopA: \${self:custom.loopB}
  loopB: \${self:custom.loopA}
`;
    const withCustom = (functions: string, environment = 'LOG_LEVEL: INFO') =>
      `${service(functions, environment)}\n${custom}`;

    it('keeps the type of a value that is one variable', () => {
      const config = parseServerlessConfig(
        withCustom('  f:\n    handler: f.handler\n    timeout: ${self:custom.timeout}'),
      );
      expect(config.functions[0]?.timeout).toBe(30);
    });

    it('resolves variables nested in addresses', () => {
      const config = parseServerlessConfig(
        withCustom('  f:\n    handler: f.handler', 'BUS: ${self:custom.bus.${sls:stage}}'),
        {
          stage: 'prod',
        },
      );
      expect(config.functions[0]?.environment.BUS).toBe('backups-prod');
    });

    it('uses fallbacks in order: variables, quoted strings and numbers', () => {
      const environment = [
        `A: \${param:missing, 'quoted, with comma'}`,
        'B: ${opt:unknown, param:alsoMissing, "double"}',
        'C: ${param:missing, ${self:custom.timeout}}',
        'D: ${param:missing, 42}',
      ].join('\n    ');
      const config = parseServerlessConfig(withCustom('  f:\n    handler: f.handler', environment));
      expect(config.functions[0]?.environment).toMatchObject({
        A: 'quoted, with comma',
        B: 'double',
        C: '30',
        D: '42',
      });
    });

    it('leaves CloudFormation references alone', () => {
      const config = parseServerlessConfig(service('  f:\n    handler: f.handler', 'ARN: arn:${AWS::Partition}:ec2'));
      expect(config.functions[0]?.environment.ARN).toBe('arn:${AWS::Partition}:ec2');
    });

    it.each<[string, string, string]>([
      ['a param without a value', 'A: ${param:missing}', '${param:missing} has no value and no fallback'],
      ['an unknown option without fallback', 'A: ${opt:profile}', '${opt:profile} has no value'],
      ['an environment variable', 'A: ${env:HOME}', 'the "env" variable source is not available locally'],
      ['a file', 'A: ${file(./x.yml)}', 'not available locally'],
      ['another sls variable', 'A: ${sls:instanceId}', '${sls:instanceId} is not available locally'],
      ['a path not in the file', 'A: ${self:custom.nope}', 'refers to "custom.nope", which is not in the file'],
      ['variables in a loop', 'A: ${self:custom.loopA}', 'loop'],
      ['a list inside a string', 'A: x-${self:custom.names}', 'is not text'],
      ['an unquoted fallback', 'A: ${param:missing, plain words}', 'neither a variable nor a quoted value'],
      ['an unterminated variable', 'A: ${self:service', 'unterminated variable'],
    ])('refuses %s, naming it and where it is', (_case, environment, problem) => {
      const error = failure(withCustom('  f:\n    handler: f.handler', environment));
      expect(error.message).toContain('provider.environment.A');
      expect(error.message).toContain(problem);
    });

    it('does not resolve parts it does not read', () => {
      expect(() => parseServerlessConfig(SERVICE)).not.toThrow();
    });
  });

  describe('functions', () => {
    it('splits handlers at the last dot into module and export', () => {
      const config = parseServerlessConfig(service('  f:\n    handler: src/v1.2/jobs.main'));
      expect(config.functions[0]).toMatchObject({ modulePath: 'src/v1.2/jobs.ts', exportName: 'main' });
    });

    it('takes the timeout of the function, else the provider, else 6 seconds', () => {
      const text = service(
        '  a:\n    handler: a.handler\n    timeout: 60\n  b:\n    handler: b.handler',
        'X: y',
        '  timeout: 20',
      );
      expect(parseServerlessConfig(text).functions.map((fn) => fn.timeout)).toEqual([60, 20]);
      expect(parseServerlessConfig(service('  a:\n    handler: a.handler')).functions[0]?.timeout).toBe(6);
    });

    it('writes numbers and booleans of the environment as strings', () => {
      const config = parseServerlessConfig(service('  f:\n    handler: f.handler', 'N: 7\n    B: true'));
      expect(config.functions[0]?.environment).toEqual({ N: '7', B: 'true' });
    });

    it('reads CloudFormation short forms but refuses them where a string is needed', () => {
      const error = failure(service('  f:\n    handler: f.handler', 'QUEUE: !Ref FailedQueue'));
      expect(error.message).toContain('provider.environment.QUEUE');
      expect(error.message).toContain('{"Ref":"FailedQueue"}');
    });

    it.each<[string, string, string]>([
      ['a handler without export', '  f:\n    handler: reboot', 'functions.f.handler'],
      ['a timeout of zero', '  f:\n    handler: f.handler\n    timeout: 0', 'functions.f.timeout'],
      ['a timeout as text', '  f:\n    handler: f.handler\n    timeout: long', 'functions.f.timeout'],
      [
        'three retries',
        '  f:\n    handler: f.handler\n    maximumRetryAttempts: 3',
        'functions.f.maximumRetryAttempts',
      ],
      ['events that are not a list', '  f:\n    handler: f.handler\n    events: {}', 'functions.f.events'],
      ['a function that is not a mapping', '  f: functions/f.handler', 'functions.f'],
    ])('refuses %s', (_case, functions, where) => {
      expect(failure(service(functions)).where).toBe(where);
    });

    it('reads the retry setting', () => {
      const config = parseServerlessConfig(service('  f:\n    handler: f.handler\n    maximumRetryAttempts: 0'));
      expect(config.functions[0]?.maximumRetryAttempts).toBe(0);
    });
  });

  describe('events', () => {
    const events = (list: string) =>
      parseServerlessConfig(service(`  f:\n    handler: f.handler\n    events:\n${list}`));

    it('reads the string form of a schedule', () => {
      expect(events('      - schedule: rate(5 minutes)').functions[0]?.events).toEqual([
        { kind: 'schedule', schedule: parseSchedule('rate(5 minutes)'), enabled: true },
      ]);
    });

    it('reads a list of rates as one schedule each, sharing the settings', () => {
      const list = [
        '      - schedule:',
        '          name: nightly',
        '          enabled: false',
        '          rate: [cron(0 3 * * ? *), rate(2 hours)]',
        '          input: \'{"dryRun":true}\'',
      ].join('\n');
      expect(events(list).functions[0]?.events).toEqual([
        {
          kind: 'schedule',
          schedule: parseSchedule('cron(0 3 * * ? *)'),
          enabled: false,
          name: 'nightly',
          input: '{"dryRun":true}',
        },
        {
          kind: 'schedule',
          schedule: parseSchedule('rate(2 hours)'),
          enabled: false,
          name: 'nightly',
          input: '{"dryRun":true}',
        },
      ]);
    });

    it('reads an EventBridge rule on another bus, disabled', () => {
      const list = [
        '      - eventBridge:',
        '          eventBus: backups',
        '          enabled: false',
        '          description: deploy-only text',
        '          pattern: { source: [com.example] }',
      ].join('\n');
      expect(events(list).functions[0]?.events).toEqual([
        { kind: 'eventBridge', pattern: { source: ['com.example'] }, eventBus: 'backups', enabled: false },
      ]);
    });

    it('names the function and event of a schedule that does not parse', () => {
      const error = failure(
        service(
          '  f:\n    handler: f.handler\n    events:\n      - schedule: rate(5 minutes)\n      - schedule: rate(1 minutes)',
        ),
      );
      expect(error.where).toBe('functions.f.events[1].schedule.rate');
      expect(error.message).toContain('rate(1 minutes)');
      expect(error.message).toContain('takes the unit "minute"');
    });

    it('names the function, event and pattern part of a pattern that does not validate', () => {
      const error = failure(
        service(
          '  f:\n    handler: f.handler\n    events:\n      - eventBridge:\n          pattern: { detail: { State: available } }',
        ),
      );
      expect(error.where).toBe('functions.f.events[0].eventBridge.pattern');
      expect(error.message).toContain('detail.State');
    });

    it.each<[string, string, string]>([
      ['an HTTP event', '      - http: { path: /, method: get }', 'not "http"'],
      ['two types in one event', '      - schedule: rate(1 hour)\n        sqs: arn', 'one event type'],
      [
        'an input transformer',
        '      - eventBridge:\n          pattern: { source: [a] }\n          inputTransformer: {}',
        'inputTransformer',
      ],
      ['a schedule without rate', '      - schedule: { enabled: true }', 'cron(…) or rate(…)'],
      ['an empty list of rates', '      - schedule: { rate: [] }', 'at least one expression'],
      ['a non-boolean enabled', '      - schedule: { rate: rate(1 hour), enabled: "no" }', 'true or false'],
      ['an EventBridge rule without pattern', '      - eventBridge: { eventBus: default }', 'pattern is required'],
    ])('refuses %s', (_case, list, problem) => {
      expect(failure(service(`  f:\n    handler: f.handler\n    events:\n${list}`)).message).toContain(problem);
    });
  });

  describe('queues and the rules that feed them', () => {
    const QUEUED = `service: demo
params:
  default:
    batch: 1000
    imageState: available
functions:
  record:
    handler: record.handler
    events:
      - sqs:
          arn: !GetAtt ImageStateQueue.Arn
          batchSize: \${param:batch}
          maximumBatchingWindow: 60
          functionResponseType: ReportBatchItemFailures
      - sqs:
          arn: { Fn::GetAtt: [SlowQueue, Arn] }
          enabled: false
      - sqs:
          arn:
            Fn::GetAtt: SlowQueue.Arn
resources:
  Resources:
    ImageStateRule:
      Type: AWS::Events::Rule
      Properties:
        Description: \${file(./not-read.yml)}
        EventPattern:
          source: [aws.ec2]
          detail: { State: ['\${param:imageState}'] }
        Targets:
          - Id: ImageStateQueue
            Arn: !GetAtt ImageStateQueue.Arn
          - Id: Notify
            Arn: !Ref NotifyTopic
            InputPath: $.detail
    QuietRule:
      Type: AWS::Events::Rule
      Properties:
        State: DISABLED
        EventBusName: arn:aws:events:us-east-1:123456789012:event-bus/backups
        EventPattern: '{"source":["com.example"]}'
        Targets: [{ Id: q, Arn: { Fn::GetAtt: [SlowQueue, Arn] } }]
    NightlyRule:
      Type: AWS::Events::Rule
      Properties:
        ScheduleExpression: rate(1 day)
        Targets: [{ Id: q, Arn: !GetAtt SlowQueue.Arn }]
    ImageStateQueue:
      Type: AWS::SQS::Queue
      Properties:
        VisibilityTimeout: 720
        RedrivePolicy:
          deadLetterTargetArn: !GetAtt Failed.Arn
          maxReceiveCount: 5
    SlowQueue:
      Type: AWS::SQS::Queue
      Properties:
        RedrivePolicy: '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:failed","maxReceiveCount":"3"}'
    NotifyTopic:
      Type: AWS::SNS::Topic
`;
    /** QUEUED with one line replaced. */
    const changed = (line: string, replacement: string) => {
      expect(QUEUED).toContain(line);
      return QUEUED.replace(line, replacement);
    };

    it('reads sqs events, queues and pattern rules, with defaults and variables resolved', () => {
      const config = parseServerlessConfig(QUEUED);
      expect(config.functions[0]?.events).toEqual([
        {
          kind: 'sqs',
          queue: 'ImageStateQueue',
          batchSize: 1000,
          maximumBatchingWindow: 60,
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
      ]);
      expect(config.queues).toEqual([
        { name: 'ImageStateQueue', visibilityTimeout: 720, maxReceiveCount: 5 },
        { name: 'SlowQueue', visibilityTimeout: 30, maxReceiveCount: 3 },
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

    it('reads the short form of an sqs event', () => {
      const config = parseServerlessConfig(
        changed(
          '      - sqs:\n          arn:\n            Fn::GetAtt: SlowQueue.Arn',
          '      - sqs: !GetAtt SlowQueue.Arn',
        ),
      );
      expect(config.functions[0]?.events[2]).toMatchObject({ kind: 'sqs', queue: 'SlowQueue', batchSize: 10 });
    });

    it.each<[string, string, string, string, string]>([
      [
        'an unknown sqs key',
        '          functionResponseType: ReportBatchItemFailures',
        '          filterPatterns: [{ body: { a: [1] } }]',
        'functions.record.events[0].sqs.filterPatterns',
        'not supported',
      ],
      [
        'a queue ARN written out',
        '          arn: !GetAtt ImageStateQueue.Arn',
        '          arn: arn:aws:sqs:us-east-1:123456789012:elsewhere',
        'functions.record.events[0].sqs.arn',
        '!GetAtt <Queue>.Arn',
      ],
      [
        'a queue that is not a queue resource',
        '          arn: !GetAtt ImageStateQueue.Arn',
        '          arn: !GetAtt NotifyTopic.Arn',
        'functions.record.events[0].sqs.arn',
        'NotifyTopic is not a resource of type AWS::SQS::Queue',
      ],
      [
        'a batch above 10,000',
        '          batchSize: ${param:batch}',
        '          batchSize: 10001',
        'functions.record.events[0].sqs.batchSize',
        'from 1 to 10000',
      ],
      [
        'a batch above 10 without a window',
        '          maximumBatchingWindow: 60',
        '          maximumBatchingWindow: 0',
        'functions.record.events[0].sqs.batchSize',
        'maximumBatchingWindow of at least 1 second',
      ],
      [
        'a window above 300 seconds',
        '          maximumBatchingWindow: 60',
        '          maximumBatchingWindow: 301',
        'functions.record.events[0].sqs.maximumBatchingWindow',
        'from 0 to 300',
      ],
      [
        'another response type',
        '          functionResponseType: ReportBatchItemFailures',
        '          functionResponseType: Everything',
        'functions.record.events[0].sqs.functionResponseType',
        'ReportBatchItemFailures',
      ],
      [
        'a pattern that does not validate',
        "          detail: { State: ['${param:imageState}'] }",
        '          detail: { State: available }',
        'resources.Resources.ImageStateRule.Properties.EventPattern',
        'detail.State',
      ],
      [
        'an unknown rule state',
        '        State: DISABLED',
        '        State: PAUSED',
        'resources.Resources.QuietRule.Properties.State',
        'ENABLED, DISABLED',
      ],
      [
        'an input transformer on a queue target',
        '            Arn: !GetAtt ImageStateQueue.Arn',
        '            Arn: !GetAtt ImageStateQueue.Arn\n            InputTransformer: { InputTemplate: x }',
        'resources.Resources.ImageStateRule.Properties.Targets[0].InputTransformer',
        'not supported',
      ],
      [
        'a visibility timeout above 12 hours',
        '        VisibilityTimeout: 720',
        '        VisibilityTimeout: 43201',
        'resources.Resources.ImageStateQueue.Properties.VisibilityTimeout',
        'from 0 to 43200',
      ],
      [
        'a redrive policy without a receive count',
        '          maxReceiveCount: 5',
        '          maxReceiveCount: many',
        'resources.Resources.ImageStateQueue.Properties.RedrivePolicy.maxReceiveCount',
        'from 1 to 1000',
      ],
      [
        'a FIFO queue',
        '        VisibilityTimeout: 720',
        '        FifoQueue: true',
        'resources.Resources.ImageStateQueue.Properties.FifoQueue',
        'standard queues only',
      ],
      [
        'a variable without value in what is read',
        '        VisibilityTimeout: 720',
        '        VisibilityTimeout: ${param:visibility}',
        'resources.Resources.ImageStateQueue.Properties.VisibilityTimeout',
        'has no value',
      ],
    ])('refuses %s, naming where', (_case, line, replacement, where, problem) => {
      const error = failure(changed(line, replacement));
      expect(error.where).toBe(where);
      expect(error.message).toContain(problem);
    });
  });

  describe('the file itself', () => {
    it.each<[string, string, string]>([
      ['broken YAML', 'service: [unclosed', 'serverless.yml'],
      ['an unknown tag', 'service: !Secret demo', 'serverless.yml'],
      ['a list at the top level', '- service', 'serverless.yml'],
      ['a missing service name', 'provider: { name: aws }', 'service'],
      ['functions as a list', 'service: demo\nfunctions: [a]', 'functions'],
    ])('refuses %s', (_case, text, where) => {
      expect(failure(text).where).toBe(where);
    });
  });
});

describe('loadServerlessConfig', () => {
  it('reads the file at the given path', () => {
    const directory = mkdtempSync(join(tmpdir(), 'serverless-config-'));
    try {
      const file = join(directory, 'serverless.yml');
      writeFileSync(file, SERVICE);
      const config = loadServerlessConfig(file, { stage: 'prod' });
      expect(config.stage).toBe('prod');
      expect(config.functions.map((fn) => fn.name)).toEqual(['reboot', 'recordImageState']);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
