/**
 * The handlers' shared wiring, made once per cold start: configuration (validated), the EC2 adapter and the event
 * publisher, each with a client reused across warm invocations. Endpoints come from the SDK's usual settings
 * (`AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL_EVENTBRIDGE`, `AWS_ENDPOINT_URL_KMS`, region), so the same code talks to AWS or a local endpoint.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import type { Context } from 'aws-lambda';
import { BackupEvents } from './backup-events';
import { ConfigError, readConfig } from './config';
import { Ec2Gateway } from './ec2-gateway';
import { DEFAULT_MAX_ATTEMPTS, DeadlineRetryStrategy } from './errors';
import { KmsGateway } from './kms-gateway';
import { logger } from './logger';
import { metrics } from './metrics';
import { Pacers } from './pacing';
import { Passes, SwitchedRule } from './passes';
import type { UseCaseContext } from './use-cases/context';

/** The account in a function's ARN (`arn:aws:lambda:<region>:<account>:function:<name>`); '' when unreadable. */
export function accountOf(functionArn: string | undefined): string {
  return /^arn:[^:]+:lambda:[^:]*:(\d{12}):/.exec(functionArn ?? '')?.[1] ?? '';
}

/** Attempts per call: the SDK's own `AWS_MAX_ATTEMPTS` when set (a whole number ≥ 1), else the service's default. */
export function maxAttemptsFrom(env: NodeJS.ProcessEnv): number {
  const raw = env.AWS_MAX_ATTEMPTS;
  if (raw === undefined || raw === '') return DEFAULT_MAX_ATTEMPTS;
  const attempts = Number(raw);
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw new ConfigError(`environment variable AWS_MAX_ATTEMPTS must be a whole number ≥ 1, got '${raw}'`);
  }
  return attempts;
}

/**
 * Each client retries what the SDK classifies as throttling or transient (5xx, timeouts, connection resets), up to
 * `AWS_MAX_ATTEMPTS` attempts, and never past the invocation's remaining time.
 */
export function createRuntime(env: NodeJS.ProcessEnv = process.env): (lambda: Context) => UseCaseContext {
  const config = readConfig(env);
  const maxAttempts = maxAttemptsFrom(env);
  const ec2 = new Ec2Gateway(
    new EC2Client({ retryStrategy: new DeadlineRetryStrategy(maxAttempts) }),
    new Pacers(config.rateCeilings),
  );
  // One client per destination Region, made when first needed; each Region has its own request buckets, so its own pacers.
  const regional = new Map<string, Ec2Gateway>();
  const ec2In = (region: string): Ec2Gateway => {
    const gateway =
      regional.get(region) ??
      new Ec2Gateway(
        new EC2Client({ region, retryStrategy: new DeadlineRetryStrategy(maxAttempts) }),
        new Pacers(config.rateCeilings),
      );
    regional.set(region, gateway);
    return gateway;
  };
  const eventBridge = new EventBridgeClient({ retryStrategy: new DeadlineRetryStrategy(maxAttempts) });
  const events = new BackupEvents(config.eventBusName, eventBridge);
  const passes = new Passes({ regular: config.passesRule, minutely: config.minutePassesRule }, eventBridge);
  const rotationPasses = new SwitchedRule(config.rotationPassesRule, eventBridge);
  const copyPasses = new SwitchedRule(config.copies.passesRule, eventBridge);
  const sharePasses = new SwitchedRule(config.shares.passesRule, eventBridge);
  const kms = new KmsGateway(new KMSClient({ retryStrategy: new DeadlineRetryStrategy(maxAttempts) }));
  metrics.setDefaultDimensions({ stage: config.stage });
  logger.debug('configuration', { config });
  return (lambda) => {
    const remainingMs = (): number => lambda.getRemainingTimeInMillis();
    return {
      config,
      ec2: ec2.forInvocation(remainingMs),
      ec2In: (region) => ec2In(region).forInvocation(remainingMs),
      events: events.forInvocation(remainingMs),
      passes: passes.forInvocation(remainingMs),
      rotationPasses: rotationPasses.forInvocation(remainingMs),
      copyPasses: copyPasses.forInvocation(remainingMs),
      sharePasses: sharePasses.forInvocation(remainingMs),
      kms: kms.forInvocation(remainingMs),
      logger,
      remainingMs,
      accountId: accountOf(lambda.invokedFunctionArn),
    };
  };
}
