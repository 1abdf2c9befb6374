/** What a command is, and what it is handed when it runs. */
import type { ParseArgsConfig } from 'node:util';
import type { ControlPlaneClient } from './api/client.js';
import type { Session } from './auth/session.js';
import type { Settings } from './config/settings.js';
import { usageError } from './exit.js';
import type { Io } from './io.js';
import type { Output } from './output.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
export type OptionValues = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;

export interface Command {
  /** One or two words: "services", "keys rotate". */
  readonly name: string;
  readonly summary: string;
  /** Arguments and options after the name, for help: "<id> [--grace SECONDS]". */
  readonly usage: string;
  readonly options?: OptionSpec;
  /** Positional arguments after the name; default none. */
  readonly args?: { readonly min: number; readonly max: number };
  run(ctx: CommandContext): Promise<void>;
}

export interface CommandContext {
  readonly io: Io;
  readonly out: Output;
  readonly settings: Settings;
  readonly options: OptionValues;
  readonly args: readonly string[];
  readonly session: Session;
  /** The control-plane client, with the session's credential. */
  api(): ControlPlaneClient;
}

export function stringOption(ctx: CommandContext, name: string): string | undefined {
  const value = ctx.options[name];
  return typeof value === 'string' ? value : undefined;
}

export function listOption(ctx: CommandContext, name: string): string[] {
  const value = ctx.options[name];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return typeof value === 'string' ? [value] : [];
}

export function flag(ctx: CommandContext, name: string): boolean {
  return ctx.options[name] === true;
}

/** A whole number option within bounds, or a usage error naming it. */
export function integerOption(ctx: CommandContext, name: string, min: number, max: number): number | undefined {
  const raw = stringOption(ctx, name);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) throw usageError(`--${name} must be a whole number from ${min} to ${max}, not "${raw}".`);
  return value;
}

/** An option that makes sense only with another: `--consumer` without `--all`, for instance. */
export function requireWith(ctx: CommandContext, option: string, needs: string): void {
  if (ctx.options[option] !== undefined && ctx.options[needs] === undefined) throw usageError(`--${option} needs --${needs}.`);
}
