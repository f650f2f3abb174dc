import { runService } from '@terminusa/runtime';

// Rule evaluation and notification arrive with their own issue; until then the service starts, registers and reports health.
await runService({
  name: 'alert-manager',
  description: 'evaluates alert rules against the metric stream and sends notifications',
  async start() {},
});
