import { EC2Client } from '@aws-sdk/client-ec2';
import { type LocalEc2, type LocalEc2Options, SimClock, startLocalEc2 } from '../../../local/ec2';

export const START = new Date('2026-03-01T00:00:00.000Z');
export const MINUTE = 60_000;

/** An endpoint on a manual clock at START (throttling off unless asked), and an SDK client for it. */
export async function startTestEc2(
  options: LocalEc2Options = {},
): Promise<{ ec2: LocalEc2; client: EC2Client; clock: SimClock }> {
  const clock = options.clock ?? SimClock.manual(START);
  const ec2 = await startLocalEc2({ throttling: false, ...options, clock });
  return { ec2, client: clientFor(ec2.url), clock };
}

export function clientFor(url: string, maxAttempts = 1): EC2Client {
  return clientIn(url, 'us-east-1', maxAttempts);
}

/** A client of the endpoint that signs its requests for `region`, as the SDK does for EC2 in that Region. */
export function clientIn(url: string, region: string, maxAttempts = 1): EC2Client {
  return new EC2Client({
    endpoint: url,
    region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts,
  });
}

/** The error a call fails with (the test fails if it succeeds). */
export async function failureOf(call: Promise<unknown>): Promise<{ name: string; message: string; status: number }> {
  try {
    await call;
  } catch (err: unknown) {
    const error = err as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: error.name, message: error.message, status: error.$metadata?.httpStatusCode ?? 0 };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** A raw EC2 Query call: status, headers and body text exactly as the endpoint sent them. */
export async function rawQuery(
  url: string,
  params: Record<string, string>,
): Promise<{ status: number; body: string; requestId: string | null }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ Version: '2016-11-15', ...params }).toString(),
  });
  return { status: response.status, body: await response.text(), requestId: response.headers.get('x-amzn-requestid') };
}

/** `ok`, or the name of the error a call fails with. */
export async function outcomeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (err: unknown) {
    return err instanceof Error ? err.name : String(err);
  }
}
