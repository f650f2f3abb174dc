import winston from 'winston';
import type { Config } from '@terminusa/config';

/** Structured logger shared by a service's components. */
export type Logger = winston.Logger;

const SECRET_KEY = /pass(word)?|secret|token|authorization|(api|snapshot)[_-]?key|cookie/i;

/** Replaces the value of any secret-looking field, however deep, so secrets never reach a log line. */
const redactSecrets = winston.format((info) => redact(info) as winston.Logform.TransformableInfo);

function redact(value: unknown, depth = 0): unknown {
  if (!value || typeof value !== 'object' || depth > 6) return value;
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  const out: Record<string | symbol, unknown> = Array.isArray(value) ? ([] as unknown as Record<string, unknown>) : {};
  for (const key of Reflect.ownKeys(value)) {
    const v = (value as Record<string | symbol, unknown>)[key];
    out[key] = typeof key === 'string' && SECRET_KEY.test(key) ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

/** A JSON logger to stdout (and a file when configured), tagged with the service and instance. */
export function createLogger(config: Config['log'], meta: { service: string; instance: string }): Logger {
  const format = winston.format.combine(winston.format.errors({ stack: true }), redactSecrets(), winston.format.timestamp(), winston.format.json());
  const transports: winston.transport[] = [new winston.transports.Console({ stderrLevels: ['error'] })];
  if (config.file) transports.push(new winston.transports.File({ filename: config.file }));
  return winston.createLogger({ level: config.level, defaultMeta: meta, format, transports });
}
