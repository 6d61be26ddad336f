import { parseArgs } from 'node:util';
import { LOCAL_ACCOUNT_ID, StateFileError, startLocalEc2 } from './index';

const USAGE = `Usage: npm run local:ec2 -- [--port 4599] [--host 127.0.0.1] [--speed N] [--state FILE] [--no-throttling] [--region R]
  --port           port to listen on (0 = any free port; default 4599)
  --speed          simulated time runs N times faster than real time (default 1)
  --state          keep state in this JSON file across restarts (written atomically on exit)
  --no-throttling  turn off EC2's request throttling
  --region         the default Region, for requests that name none (unsigned); each Region keeps its own
                   resources (default us-east-1)`;

const STATE_SAVE_INTERVAL_MS = 30_000;

function fail(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

function parseOptions() {
  try {
    const { values } = parseArgs({
      options: {
        port: { type: 'string', default: '4599' },
        host: { type: 'string', default: '127.0.0.1' },
        speed: { type: 'string', default: '1' },
        state: { type: 'string' },
        'no-throttling': { type: 'boolean', default: false },
        region: { type: 'string', default: 'us-east-1' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    });
    return values;
  } catch (err: unknown) {
    return fail(err instanceof Error ? err.message : String(err));
  }
}

async function main(): Promise<void> {
  const values = parseOptions();
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) fail(`--port must be a port number, got ${values.port}`);
  const speed = Number(values.speed);
  if (!(speed > 0 && Number.isFinite(speed))) fail(`--speed must be a positive number, got ${values.speed}`);
  const throttling = !values['no-throttling'];

  const ec2 = await startLocalEc2({
    port,
    host: values.host,
    speed,
    throttling,
    region: values.region,
    ...(values.state === undefined ? {} : { stateFile: values.state }),
  });
  console.log(
    `Local EC2 endpoint listening on ${ec2.url} (account ${LOCAL_ACCOUNT_ID}, region ${values.region}, ` +
      `speed ${speed}x, throttling ${throttling ? 'on' : 'off'}${values.state === undefined ? '' : `, state ${values.state}`})`,
  );

  // Also saved periodically, so that a killed process loses at most this much.
  if (values.state !== undefined) setInterval(() => ec2.saveState(), STATE_SAVE_INTERVAL_MS).unref();

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    ec2.stop().then(
      () => {
        console.log(`Stopped on ${signal}${values.state === undefined ? '' : `; state written to ${values.state}`}`);
        process.exit(0);
      },
      (err: unknown) => {
        console.error('Failed to stop cleanly', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(err instanceof StateFileError ? err.message : err);
  process.exit(1);
});
