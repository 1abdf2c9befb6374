/**
 * One invocation: find the command, parse its flags strictly, resolve settings, run it, and turn whatever
 * went wrong into one line on stderr and an exit code (never a stack trace).
 */
import { parseArgs } from 'node:util';
import { ControlPlaneClient } from './api/client.js';
import { Session } from './auth/session.js';
import type { Command, CommandContext, OptionSpec, OptionValues } from './command.js';
import { COMMANDS } from './commands/index.js';
import { readConfigFile } from './config/config-file.js';
import { configPaths } from './config/paths.js';
import { resolveSettings } from './config/settings.js';
import { CliError, ExitCode, usageError } from './exit.js';
import type { Io } from './io.js';
import { Output } from './output.js';

export const GLOBAL_OPTIONS: OptionSpec = {
  json: { type: 'boolean' },
  url: { type: 'string' },
  issuer: { type: 'string' },
  'client-id': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export async function run(argv: readonly string[], io: Io): Promise<ExitCode> {
  try {
    await dispatch(argv, io);
    return ExitCode.Ok;
  } catch (error) {
    const failure = asCliError(error);
    // with --json a script gets the error as JSON too (on stderr, so stdout stays empty)
    if (argv.includes('--json')) io.err(`${JSON.stringify({ error: { exit_code: failure.exitCode, message: failure.message } })}\n`);
    else io.err(`portcullis: ${failure.message}\n`);
    return failure.exitCode;
  }
}

function asCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const fsError = error as NodeJS.ErrnoException;
  if (typeof fsError.code === 'string' && typeof fsError.path === 'string') {
    return new CliError(ExitCode.Usage, `cannot ${fsError.syscall ?? 'access'} ${fsError.path} (${fsError.code}).`);
  }
  return new CliError(ExitCode.Server, `unexpected failure: ${error instanceof Error ? error.message : String(error)}`);
}

async function dispatch(argv: readonly string[], io: Io): Promise<void> {
  const words = firstPositionals(argv);
  const command = findCommand(words);
  if (!command) {
    if (words.length === 0 || words[0] === 'help') {
      const topic = words[0] === 'help' ? findCommand(words.slice(1)) : undefined;
      io.out(topic ? commandHelp(topic) : overview());
      if (words.length === 0 && !argv.includes('--help') && !argv.includes('-h')) throw usageError('no command given.');
      return;
    }
    throw usageError(`unknown command "${words.slice(0, 2).join(' ')}"; run \`portcullis help\` for the list.`);
  }

  const { values, positionals } = parseStrictly(command, argv);
  if (values['help'] === true) {
    io.out(commandHelp(command));
    return;
  }
  const args = positionals.slice(command.name.split(' ').length);
  const { min, max } = command.args ?? { min: 0, max: 0 };
  if (args.length < min || args.length > max) throw usageError(`usage: portcullis ${command.name} ${command.usage}`.trimEnd());

  const paths = configPaths(io.env);
  const settings = resolveSettings(
    { url: str(values['url']), issuer: str(values['issuer']), 'client-id': str(values['client-id']) },
    io.env,
    await readConfigFile(paths.configFile),
    paths,
  );
  const session = new Session(settings, io);
  let api: ControlPlaneClient | undefined;
  const ctx: CommandContext = {
    io,
    out: new Output(io, values['json'] === true),
    settings,
    options: values,
    args,
    session,
    api: () => (api ??= new ControlPlaneClient(settings.url.value!, session)),
  };
  await command.run(ctx);
}

/** The leading words that name a command, found without knowing the command's own flags yet. */
function firstPositionals(argv: readonly string[]): string[] {
  const everyOption: OptionSpec = { ...GLOBAL_OPTIONS };
  for (const command of COMMANDS) Object.assign(everyOption, command.options);
  return parseArgs({ args: [...argv], options: everyOption, strict: false, allowPositionals: true }).positionals.slice(0, 3);
}

function findCommand(words: readonly string[]): Command | undefined {
  const two = words.slice(0, 2).join(' ');
  return COMMANDS.find((c) => c.name === two) ?? COMMANDS.find((c) => c.name === words[0]);
}

function parseStrictly(command: Command, argv: readonly string[]): { values: OptionValues; positionals: string[] } {
  try {
    return parseArgs({ args: [...argv], options: { ...GLOBAL_OPTIONS, ...command.options }, strict: true, allowPositionals: true });
  } catch (error) {
    const message = error instanceof Error ? error.message.replace(/\. To specify a positional argument.*$/s, '') : String(error);
    throw usageError(`${message}\nusage: portcullis ${command.name} ${command.usage}`.trimEnd());
  }
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'portcullis: API keys and sign-in for Portcullis-protected services',
    '',
    'usage: portcullis <command> [options]',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options for every command:',
    '  --json              print one JSON document instead of tables',
    '  --url URL           control plane (env PORTCULLIS_URL)',
    '  --issuer URL        OpenID provider (env PORTCULLIS_OIDC_ISSUER)',
    '  --client-id ID      OAuth client (env PORTCULLIS_OIDC_CLIENT_ID, default portcullis-cli)',
    '  -h, --help          help for a command',
    '',
    'PORTCULLIS_TOKEN (an API key or access token) replaces the stored login. Exit codes: 0 ok, 1 usage,',
    '2 not logged in / auth failed, 3 not found, 4 server or validation error, 5 unreachable.',
    '',
  ].join('\n');
}

function commandHelp(command: Command): string {
  return `usage: portcullis ${command.name} ${command.usage}`.trimEnd() + `\n\n${command.summary}.\n`;
}
