/**
 * On Lambda each function has an environment of its own (its credentials above all). The local runner holds every
 * function in one process, so each function's variables are scoped to its module loading and its invocations: reads
 * of `process.env` inside them see the function's values first. The handlers read `process.env` as usual.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

type Environment = Readonly<Record<string, string>>;

const scoped = new AsyncLocalStorage<Environment>();
let installed = false;

/** Routes reads of `process.env` through the scope in force (once per process). */
function install(): void {
  if (installed) return;
  installed = true;
  const shared = process.env;
  const own = (key: string | symbol): string | undefined => {
    const environment = scoped.getStore();
    return typeof key === 'string' && environment !== undefined && Object.hasOwn(environment, key)
      ? environment[key]
      : undefined;
  };
  process.env = new Proxy(shared, {
    get: (target, key) => own(key) ?? Reflect.get(target, key),
    has: (target, key) => own(key) !== undefined || Reflect.has(target, key),
    ownKeys: (target) => [...new Set([...Reflect.ownKeys(target), ...Object.keys(scoped.getStore() ?? {})])],
    getOwnPropertyDescriptor: (target, key) => {
      const value = own(key);
      return value === undefined
        ? Reflect.getOwnPropertyDescriptor(target, key)
        : { value, writable: true, enumerable: true, configurable: true };
    },
  });
}

/** Runs `work` (and everything it starts) with `environment` over the process's. */
export function withEnvironment<T>(environment: Environment, work: () => T): T {
  install();
  return scoped.run(environment, work);
}
