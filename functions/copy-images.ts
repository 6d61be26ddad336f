/**
 * From a run's start while copies are wanted or in flight, or from the console: copy good backups to the Regions their
 * instances name, record the copies' outcomes, and rotate each Region's copies by their own retention.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { parseInvocation } from '../lib/input';
import { logger } from '../lib/logger';
import { addMetrics, callMetrics, copyMetrics, metrics } from '../lib/metrics';
import { createRuntime } from '../lib/runtime';
import { type CopySummary, copyImages } from '../lib/use-cases/copy-images';

const runtime = createRuntime();

export const handler = middy(async (event: unknown, context: Context): Promise<CopySummary> => {
  const summary = await copyImages(parseInvocation(event), runtime(context));
  if (!summary.dryRun) addMetrics(copyMetrics(summary));
  return summary;
})
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics))
  .use(callMetrics());
