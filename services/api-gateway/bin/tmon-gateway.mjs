#!/usr/bin/env node
// Runs the gateway's operator CLI from source with tsx, so it works straight from a checkout.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
