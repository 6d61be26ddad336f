/** Nightly, or from the console: expire images beyond retention with their snapshots, and delete orphan snapshots. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { parseInvocation } from '../lib/input';
import { logger } from '../lib/logger';
import { addMetrics, callMetrics, metrics, rotationMetrics } from '../lib/metrics';
import { createRuntime } from '../lib/runtime';
import { type RotateSummary, rotate } from '../lib/use-cases/rotate';

const runtime = createRuntime();

export const handler = middy(async (event: unknown, context: Context): Promise<RotateSummary> => {
  const summary = await rotate(parseInvocation(event), runtime(context));
  if (!summary.dryRun) addMetrics(rotationMetrics(summary));
  return summary;
})
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics))
  .use(callMetrics());
