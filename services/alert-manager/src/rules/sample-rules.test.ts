import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRulesFile } from '@terminusa/alerting';

describe('the sample rules file shipped in deploy/config', () => {
  it('is valid and covers the collector and backups', () => {
    const file = join(import.meta.dirname, '..', '..', '..', '..', 'deploy', 'config', 'alert-rules.yaml');
    const rules = parseRulesFile(readFileSync(file, 'utf8'), file);
    expect(rules.map((r) => ('metric' in r ? r.metric : undefined))).toEqual(expect.arrayContaining(['system_cpu_usage_percent', 'system_memory_used_percent', 'system_disk_used_percent', 'system_load1', 'backup_failed']));
  });
});
