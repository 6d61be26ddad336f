/**
 * Every minute, or from the console: image each queued instance whose turn has come (through EC2's reboot, a group at
 * a time), find instances back healthy from their image's reboot, and record outcomes whose event never came.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { parseInvocation } from '../lib/input';
import { logger } from '../lib/logger';
import { addMetrics, callMetrics, metrics, outcomeMetrics } from '../lib/metrics';
import { createRuntime } from '../lib/runtime';
import { advanceRuns } from '../lib/use-cases/advance-runs';
import type { Summary } from '../lib/use-cases/context';

const runtime = createRuntime();

export const handler = middy(async (event: unknown, context: Context): Promise<Summary> => {
  const summary = await advanceRuns(parseInvocation(event), runtime(context), {
    createImages: true,
    functionName: 'createImages',
  });
  if (!summary.dryRun) addMetrics(outcomeMetrics(summary.instances));
  return summary;
})
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics))
  .use(callMetrics());
