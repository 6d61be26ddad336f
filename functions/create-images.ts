/**
 * Every few minutes, or from the console: image each instance whose reboot is over and whose status checks pass,
 * and record the outcome of images whose state-change event never came.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { parseInvocation } from '../lib/input';
import { logger } from '../lib/logger';
import { createRuntime } from '../lib/runtime';
import { advanceRuns } from '../lib/use-cases/advance-runs';
import type { Summary } from '../lib/use-cases/context';

const runtime = createRuntime();

export const handler = middy(
  (event: unknown, context: Context): Promise<Summary> =>
    advanceRuns(parseInvocation(event), runtime(context), { createImages: true, functionName: 'createImages' }),
).use(injectLambdaContext(logger, { clearState: true }));
