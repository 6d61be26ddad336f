/**
 * Weekly, then every few minutes while tests are in flight, or from the console: launch instances from the newest
 * good backups, record whether they came up healthy, and terminate them.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { parseInvocation } from '../lib/input';
import { logger } from '../lib/logger';
import { addMetrics, callMetrics, metrics, restoreTestMetrics } from '../lib/metrics';
import { createRuntime } from '../lib/runtime';
import { type RestoreTestSummary, runRestoreTests } from '../lib/use-cases/restore-tests';

const runtime = createRuntime();

export const handler = middy(async (event: unknown, context: Context): Promise<RestoreTestSummary> => {
  const summary = await runRestoreTests(parseInvocation(event), runtime(context));
  if (!summary.dryRun) addMetrics(restoreTestMetrics(summary));
  return summary;
})
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics))
  .use(callMetrics());
