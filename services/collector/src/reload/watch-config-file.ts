import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { ConfigError, type Config } from '@terminusa/config';
import type { Logger } from '@terminusa/runtime';

/** How often the file's modification time is checked. */
const POLL_MS = 1000;

/**
 * Watches the configuration file and, each time it changes, loads the configuration again with `load`; a version that
 * validates goes to `apply`, one that does not is logged with every problem while the previous configuration stays.
 * Polling (fs.watchFile) rather than fs.watch, since editors and ConfigMap updates replace the file instead of writing it.
 */
export function watchConfigFile(
  file: string,
  load: () => Readonly<Config>,
  apply: (config: Readonly<Config>) => Promise<unknown>,
  logger: Logger,
): { stop(): void } {
  let applying = Promise.resolve();
  const onChange = (current: Stats, previous: Stats) => {
    if (current.mtimeMs === previous.mtimeMs && current.size === previous.size) return;
    // One reload at a time, in the order the changes were seen.
    applying = applying.then(async () => {
      let config: Readonly<Config>;
      try {
        config = load();
      } catch (err) {
        if (err instanceof ConfigError) logger.error('configuration file refused; the previous targets and probes stay', { file, problems: err.problems });
        else logger.error('configuration file unreadable; the previous targets and probes stay', { file, err });
        return;
      }
      try {
        await apply(config);
        logger.info('configuration file reloaded', { file, targets: config.collection.targets.length, probes: config.collection.probes.length });
      } catch (err) {
        logger.error('could not apply the reloaded configuration', { file, err });
      }
    });
  };
  watchFile(file, { interval: POLL_MS }, onChange);
  return { stop: () => unwatchFile(file, onChange) };
}
