/** Every command, in the order help lists them. */
import type { Command } from '../command.js';
import { applyCommands } from './apply.js';
import { authCommands } from './auth.js';
import { configCommands } from './config.js';
import { healthCommands } from './health.js';
import { keyCommands } from './keys.js';
import { serviceCommands } from './services.js';
import { usageCommands } from './usage.js';

export const COMMANDS: readonly Command[] = [
  ...authCommands,
  ...serviceCommands,
  ...keyCommands,
  ...usageCommands,
  ...healthCommands,
  ...configCommands,
  ...applyCommands,
];
