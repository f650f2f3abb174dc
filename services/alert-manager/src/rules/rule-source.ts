import { readFile } from 'node:fs/promises';
import { unwatchFile, watchFile } from 'node:fs';
import { parseRulesFileEntries, RulesFileError, type PgAlertStore } from '@terminusa/alerting';
import { SUBJECTS, type Bus } from '@terminusa/bus';
import type { Logger } from '@terminusa/runtime';
import { RuleSet } from './rule-set.ts';

/**
 * The rules in force on this replica. The rules file is the source of file rules: each valid version is
 * written to PostgreSQL (where API rules live too), and a bad version is refused with every problem logged
 * while the previous rules stay. Every replica loads the full set from PostgreSQL, at start, when told on the
 * bus that rules changed, and every `refreshMs` as a safety net.
 */
export class RuleSource {
  private current = new RuleSet([]);
  private timer: NodeJS.Timeout | undefined;
  /** Loads begun, and the number of the newest whose rules are in force. */
  private loadsStarted = 0;
  private newestInForce = 0;

  constructor(
    private readonly store: PgAlertStore,
    private readonly bus: Bus,
    private readonly logger: Logger,
    private readonly file: string | undefined,
    private readonly refreshMs = 5000,
  ) {}

  /** The rules in force now. */
  get rules(): RuleSet {
    return this.current;
  }

  /**
   * Syncs the file, loads the rules and starts watching for changes. Rejects when the rules cannot be loaded: with
   * none in force, the sweeps would take every alert's rule for deleted and resolve them all.
   */
  async start(): Promise<void> {
    if (this.file) {
      await this.syncFile();
      watchFile(this.file, { interval: 1000 }, () => void this.syncFile());
    }
    await this.load();
    this.timer = setInterval(() => void this.reload(), this.refreshMs);
  }

  stop(): void {
    clearInterval(this.timer);
    if (this.file) unwatchFile(this.file);
  }

  /** Reads the rules file; writes it to the store only when the whole file is valid. */
  async syncFile(): Promise<boolean> {
    const file = this.file!;
    try {
      const text = await readFile(file, 'utf8');
      const rules = parseRulesFileEntries(text, file);
      await this.store.syncFileRules(file, rules);
      this.logger.info('rules file loaded', { file, rules: rules.length });
      this.bus.publish(SUBJECTS.alertConfigChanged, [], { what: 'rules', by: `file:${file}` });
      await this.reload();
      return true;
    } catch (err) {
      if (err instanceof RulesFileError) this.logger.error('rules file refused; the previous rules stay active', { file, problems: err.problems });
      else this.logger.error('rules file unreadable; the previous rules stay active', { file, err });
      return false;
    }
  }

  /** Loads every stored rule; keeps the ones in force when that fails. */
  async reload(): Promise<void> {
    try {
      await this.load();
    } catch (err) {
      this.logger.error('could not load rules; keeping the ones in force', { err });
    }
  }

  private async load(): Promise<void> {
    const unusable = (rule: string, reason: string) => this.logger.error('a stored rule is not valid any more and is left out; fix or delete it', { rule, reason });
    // Loads overlap (a change heard while the timer's load runs): one that began before the newest in force is older
    // than it, and put in force after it, brought a deleted rule back for a while, its alerts with it.
    const started = ++this.loadsStarted;
    const rules = new RuleSet((await this.store.rules(unusable)).map((r) => r.rule));
    if (started < this.newestInForce) return;
    this.newestInForce = started;
    this.current = rules;
  }
}
