/**
 * The handlers' shared wiring, made once per cold start: configuration (validated), the EC2 adapter and the event
 * publisher, each with a client reused across warm invocations. Endpoints come from the SDK's usual settings
 * (`AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL_EVENTBRIDGE`, region), so the same code talks to AWS or a local endpoint.
 */
import type { Context } from 'aws-lambda';
import { BackupEvents } from './backup-events';
import { readConfig } from './config';
import { Ec2Gateway } from './ec2-gateway';
import { logger } from './logger';
import type { UseCaseContext } from './use-cases/context';

/** The account in a function's ARN (`arn:aws:lambda:<region>:<account>:function:<name>`); '' when unreadable. */
export function accountOf(functionArn: string | undefined): string {
  return /^arn:[^:]+:lambda:[^:]*:(\d{12}):/.exec(functionArn ?? '')?.[1] ?? '';
}

export function createRuntime(env: NodeJS.ProcessEnv = process.env): (lambda: Context) => UseCaseContext {
  const config = readConfig(env);
  const ec2 = new Ec2Gateway();
  const events = new BackupEvents(config.eventBusName);
  logger.debug('configuration', { config });
  return (lambda) => ({
    config,
    ec2,
    events,
    logger,
    remainingMs: () => lambda.getRemainingTimeInMillis(),
    accountId: accountOf(lambda.invokedFunctionArn),
  });
}
