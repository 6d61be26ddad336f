/**
 * On `EC2 AMI State Change` (available, failed): record the outcome on the instance and publish it. From the console
 * (`{"instanceIds"?, "dryRun"?}`): record every outcome that is due, without creating images.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { parseImageStateChange, parseInvocation } from '../lib/input';
import { logger } from '../lib/logger';
import { createRuntime } from '../lib/runtime';
import { advanceRuns } from '../lib/use-cases/advance-runs';
import type { Summary } from '../lib/use-cases/context';
import { recordImageState } from '../lib/use-cases/record-image-state';

const runtime = createRuntime();

export const handler = middy((event: unknown, context: Context): Promise<Summary> => {
  const change = parseImageStateChange(event);
  return change === undefined
    ? advanceRuns(parseInvocation(event), runtime(context), { createImages: false, functionName: 'recordImageState' })
    : recordImageState(change, runtime(context));
}).use(injectLambdaContext(logger, { clearState: true }));
