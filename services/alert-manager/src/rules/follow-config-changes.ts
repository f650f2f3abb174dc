import { SUBJECTS, type Bus } from '@terminusa/bus';
import type { Logger } from '@terminusa/runtime';

/** What a change of the alert configuration refreshes: the rules in force and the silences read for notifications. */
export interface ConfigFollowers {
  rules: { reload(): Promise<void> };
  silences: { invalidate(): void };
}

/** Reloads the rules or forgets the cached silences when the gateway says either changed (`alerts.config.changed`). */
export function followConfigChanges(bus: Bus, followers: ConfigFollowers, logger: Logger): ReturnType<Bus['subscribe']> {
  return bus.subscribe(
    SUBJECTS.alertConfigChanged,
    (change) => (change.what === 'rules' ? void followers.rules.reload() : followers.silences.invalidate()),
    (err) => logger.warn('invalid config-changed message', { err: err.message }),
  );
}
