/**
 * EC2's `EC2 AMI State Change` events (available, failed), in batches from the image state queue: record the outcomes
 * on the instances and publish them. Also takes one such event as it is (the console, or a direct EventBridge rule),
 * and the console payload (`{"instanceIds"?, "dryRun"?}`): record every outcome that is due, without creating images.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse } from 'aws-lambda';
import { parseImageStateChange, parseInvocation, parseQueueBatch } from '../lib/input';
import { logger } from '../lib/logger';
import { addMetrics, callMetrics, metrics, outcomeMetrics } from '../lib/metrics';
import { createRuntime } from '../lib/runtime';
import { advanceRuns } from '../lib/use-cases/advance-runs';
import type { Summary } from '../lib/use-cases/context';
import { type RecordSummary, recordImageStates } from '../lib/use-cases/record-image-state';

const runtime = createRuntime();

/** A queue batch's summary, with the messages that are not image state changes reported failed. */
type BatchResult = Partial<RecordSummary> & SQSBatchResponse;

async function record(event: unknown, context: Context): Promise<BatchResult | Summary> {
  const batch = parseQueueBatch(event);
  if (batch === undefined) {
    const change = parseImageStateChange(event);
    return change === undefined
      ? advanceRuns(parseInvocation(event), runtime(context), { createImages: false, functionName: 'recordImageState' })
      : recordImageStates([change], runtime(context));
  }
  for (const { messageId, reason } of batch.rejected) logger.error('message rejected', { messageId, reason });
  const batchItemFailures = batch.rejected.map(({ messageId }) => ({ itemIdentifier: messageId }));
  const changes = batch.changes.map(({ change }) => change);
  return {
    ...(changes.length > 0 ? await recordImageStates(changes, runtime(context)) : {}),
    batchItemFailures,
  };
}

export const handler = middy(async (event: unknown, context: Context): Promise<BatchResult | Summary> => {
  const result = await record(event, context);
  if (result.dryRun !== true) addMetrics(outcomeMetrics(result.instances ?? []));
  return result;
})
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics))
  .use(callMetrics());
