/** Nightly, or from the console: start a run — queue each opted-in instance for its image, recorded in its tags. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { parseInvocation } from '../lib/input';
import { logger } from '../lib/logger';
import { addMetrics, callMetrics, metrics, startMetrics } from '../lib/metrics';
import { createRuntime } from '../lib/runtime';
import { type StartRunSummary, startRun } from '../lib/use-cases/start-run';

const runtime = createRuntime();

export const handler = middy(async (event: unknown, context: Context): Promise<StartRunSummary> => {
  const summary = await startRun(parseInvocation(event), runtime(context));
  if (!summary.dryRun) addMetrics(startMetrics(summary));
  return summary;
})
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics))
  .use(callMetrics());
