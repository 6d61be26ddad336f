import { Logger } from '@aws-lambda-powertools/logger';

/** The service's one logger; handlers attach the Lambda context and clear per-invocation keys. */
export const logger = new Logger({ serviceName: 'ami-backup' });
