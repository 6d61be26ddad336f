/** Nightly, or from the console: start a run — queue each opted-in instance for its image, recorded in its tags. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { parseInvocation } from '../lib/input';
import { logger } from '../lib/logger';
import { createRuntime } from '../lib/runtime';
import { type StartRunSummary, startRun } from '../lib/use-cases/start-run';

const runtime = createRuntime();

export const handler = middy(
  (event: unknown, context: Context): Promise<StartRunSummary> => startRun(parseInvocation(event), runtime(context)),
).use(injectLambdaContext(logger, { clearState: true }));
