/**
 * Virtual time for a benchmark: every wait in this process (the SDK's retry backoff and rate limiting, the latency
 * given to each API call) passes on a simulated clock instead of the wall clock, so a night of hours runs in
 * seconds and still counts every wait.
 *
 * `setTimeout`, `setInterval` and `Date` are faked (@sinonjs/fake-timers). While an invocation runs, the driver lets
 * real I/O finish, and when every request in flight is waiting on a fake timer (or there is none and the code waits on
 * one), it moves time to the next timer, and the endpoint's clock with it.
 */
import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Clock, withGlobal } from '@sinonjs/fake-timers';
import type { SimClock } from '../local/ec2';

export interface VirtualTime {
  /** Runs one invocation, moving virtual time while it waits; resolves with its result. */
  drive<T>(invoke: () => Promise<T>): Promise<T>;
  /** Brings the fake `Date` to the endpoint's clock (call whenever that clock moved on its own). */
  sync(): void;
  uninstall(): void;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Installs virtual time over `clock` (a manual clock), and gives every HTTP response of this process's servers
 * `latencyMs` of simulated time, as EC2's own latency would.
 */
export function installVirtualTime(clock: SimClock, latencyMs: number): VirtualTime {
  const fake: Clock = withGlobal(globalThis).install({
    now: clock.now(),
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'],
    // Timers made before the install (a client's keep-alive housekeeping) stay real and are cleared as such.
    shouldClearNativeTimers: true,
  });
  let inFlight = 0;
  let parked = 0;
  subscribe('http.client.request.start', () => {
    inFlight += 1;
  });
  // A call is in flight until its response body has been read (or it failed): until then, real I/O is under way.
  subscribe('http.client.response.finish', (message) => {
    const { response } = message as { response: IncomingMessage };
    let counted = false;
    const done = (): void => {
      if (counted) return;
      counted = true;
      inFlight -= 1;
    };
    response.once('end', done);
    response.once('close', done);
    response.once('error', done);
  });
  subscribe('http.client.request.error', () => {
    inFlight -= 1;
  });
  // Latency is given to the calls of invocations only: outside them nothing moves virtual time, and the runner's own
  // look-ups (its report) are not the service's.
  let driving = false;
  subscribe('http.server.request.start', (message) => {
    if (!driving) return;
    const { response } = message as { request: IncomingMessage; response: ServerResponse };
    const end = response.end.bind(response) as (...args: unknown[]) => ServerResponse;
    (response as { end: (...args: unknown[]) => ServerResponse }).end = (...args: unknown[]) => {
      parked += 1;
      setTimeout(() => {
        parked -= 1;
        end(...args);
      }, latencyMs);
      return response;
    };
  });

  const sync = (): void => {
    if (fake.now < clock.nowMs()) fake.setSystemTime(clock.nowMs());
  };

  // One pump moves time for every invocation under way (events run side by side).
  const running = new Set<Promise<unknown>>();
  let pumping = false;
  const pumpTime = async (): Promise<void> => {
    while (running.size > 0) {
      await nextTurn();
      // Real I/O still under way: let it progress. Otherwise everything waits on virtual time.
      if (running.size === 0 || inFlight > parked || fake.countTimers() === 0) continue;
      fake.next();
      // Everything else due at that same instant goes too.
      fake.tick(0);
      if (fake.now > clock.nowMs()) clock.advanceTo(new Date(fake.now));
    }
    // In the same turn as the last check, so that an invocation starting later starts a new pump.
    pumping = false;
    driving = false;
  };

  return {
    sync,
    async drive<T>(invoke: () => Promise<T>): Promise<T> {
      if (running.size === 0) sync();
      driving = true;
      const invocation = invoke();
      const tracked = invocation.then(
        () => undefined,
        () => undefined,
      );
      running.add(tracked);
      void tracked.then(() => running.delete(tracked));
      if (!pumping) {
        pumping = true;
        void pumpTime();
      }
      return invocation;
    },
    uninstall: () => fake.uninstall(),
  };
}
