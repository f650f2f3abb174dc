import type { StreamName } from './subjects.ts';

/** Maps the suite's relative subject and stream names into one namespace, so tests can run side by side. */
export class Namespace {
  constructor(readonly prefix: string) {}

  /** `metrics.samples` → `<prefix>.metrics.samples`. */
  subject(relative: string): string {
    return this.prefix ? `${this.prefix}.${relative}` : relative;
  }

  /** Relative form of an absolute subject, or undefined when it lies outside the namespace. */
  relative(subject: string): string | undefined {
    if (!this.prefix) return subject;
    return subject.startsWith(`${this.prefix}.`) ? subject.slice(this.prefix.length + 1) : undefined;
  }

  /** `SAMPLES` → `<prefix>_SAMPLES`. */
  stream(name: StreamName): string {
    return this.prefix ? `${this.prefix}_${name}` : name;
  }
}
