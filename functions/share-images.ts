/**
 * From a run's start while backups are to be shared, daily, or from the console: share good backups with the accounts
 * their instances name, revoke what they no longer name, and keep the key grants and re-encrypted copies that takes.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { parseInvocation } from '../lib/input';
import { logger } from '../lib/logger';
import { addMetrics, callMetrics, metrics, shareMetrics } from '../lib/metrics';
import { createRuntime } from '../lib/runtime';
import { type ShareSummary, shareImages } from '../lib/use-cases/share-images';

const runtime = createRuntime();

export const handler = middy(async (event: unknown, context: Context): Promise<ShareSummary> => {
  const summary = await shareImages(parseInvocation(event), runtime(context));
  if (!summary.dryRun) addMetrics(shareMetrics(summary));
  return summary;
})
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics))
  .use(callMetrics());
