/** Nightly, or from the console: expire images beyond retention with their snapshots, and delete orphan snapshots. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { parseInvocation } from '../lib/input';
import { logger } from '../lib/logger';
import { createRuntime } from '../lib/runtime';
import { type RotateSummary, rotate } from '../lib/use-cases/rotate';

const runtime = createRuntime();

export const handler = middy(
  (event: unknown, context: Context): Promise<RotateSummary> => rotate(parseInvocation(event), runtime(context)),
).use(injectLambdaContext(logger, { clearState: true }));
