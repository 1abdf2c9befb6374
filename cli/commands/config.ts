/** config: the effective settings and where each came from; config set/unset: edit the config file. */
import type { Command } from '../command.js';
import { CONFIG_KEYS, type ConfigKey, updateConfigFile } from '../config/config-file.js';
import { type Setting, urlProblem } from '../config/settings.js';
import { usageError } from '../exit.js';

const show: Command = {
  name: 'config',
  summary: 'Show the effective endpoints and where each came from (flag > environment > config file > default)',
  usage: '',
  async run(ctx) {
    const { settings } = ctx;
    const login = await ctx.session.store.load();
    const credential: Setting =
      settings.token.value !== undefined
        ? { value: 'PORTCULLIS_TOKEN (set)', source: 'environment', origin: 'PORTCULLIS_TOKEN' }
        : login.kind === 'tokens'
          ? { value: `login at ${login.tokens.issuer}`, source: 'config file', origin: settings.paths.tokenFile }
          : { value: undefined, source: 'unset' };
    const rows: [string, Setting][] = [
      ['url', settings.url],
      ['issuer', settings.issuer],
      ['client_id', settings.clientId],
      ['credential', credential],
    ];
    ctx.out.result(
      {
        settings: Object.fromEntries(rows.map(([k, s]) => [k, { value: s.value ?? null, source: s.source, ...(s.origin ? { origin: s.origin } : {}) }])),
        config_dir: settings.paths.dir,
        config_file: settings.paths.configFile,
        token_file: settings.paths.tokenFile,
      },
      () => {
        ctx.out.table(rows, [
          { header: 'SETTING', value: ([k]) => k },
          { header: 'VALUE', value: ([, s]) => s.value ?? '(not set)' },
          { header: 'SOURCE', value: ([, s]) => (s.origin && s.source !== 'config file' ? `${s.source} (${s.origin})` : s.source) },
        ]);
        ctx.out.line();
        ctx.out.line(`config file: ${settings.paths.configFile}`);
        ctx.out.line(`token file:  ${settings.paths.tokenFile}`);
      },
    );
  },
};

function configKey(name: string): ConfigKey {
  const key = name.replace(/-/g, '_');
  if (!(CONFIG_KEYS as string[]).includes(key)) throw usageError(`Unknown setting "${name}"; one of: ${CONFIG_KEYS.join(', ')}.`);
  return key as ConfigKey;
}

const set: Command = {
  name: 'config set',
  summary: 'Store a setting in the config file (url, issuer, client_id)',
  usage: '<setting> <value>',
  args: { min: 2, max: 2 },
  async run(ctx) {
    const key = configKey(ctx.args[0]!);
    const value = ctx.args[1]!;
    const problem = key === 'client_id' ? undefined : urlProblem(value);
    if (problem) throw usageError(`${key}: "${value}" ${problem}.`);
    const stored = key === 'client_id' ? value : value.replace(/\/+$/, '');
    const file = await updateConfigFile(ctx.settings.paths.configFile, { [key]: stored });
    ctx.out.result(file, () => ctx.out.line(`Set ${key} in ${ctx.settings.paths.configFile}.`));
  },
};

const unset: Command = {
  name: 'config unset',
  summary: 'Remove a setting from the config file',
  usage: '<setting>',
  args: { min: 1, max: 1 },
  async run(ctx) {
    const key = configKey(ctx.args[0]!);
    const file = await updateConfigFile(ctx.settings.paths.configFile, { [key]: undefined });
    ctx.out.result(file, () => ctx.out.line(`Removed ${key} from ${ctx.settings.paths.configFile}.`));
  },
};

export const configCommands: readonly Command[] = [show, set, unset];
