/** health: the control plane's liveness and readiness probes (no credential needed). */
import type { Command } from '../command.js';
import { CliError, ExitCode } from '../exit.js';

interface Health {
  readonly status?: string;
  readonly checks?: Readonly<Record<string, string>>;
}

const PROBES = [
  { name: 'live', path: '/healthz' },
  { name: 'ready', path: '/readyz' },
] as const;

const health: Command = {
  name: 'health',
  summary: 'Check that the control plane is alive and ready (exit 4 when it is not)',
  usage: '',
  async run(ctx) {
    const api = ctx.api();
    const results: { probe: string; path: string; http_status: number; status: string; checks: Readonly<Record<string, string>> }[] = [];
    for (const probe of PROBES) {
      const reply = await api.request<Health | undefined>('GET', probe.path, { auth: false, accept: [503] });
      results.push({ probe: probe.name, path: probe.path, http_status: reply.status, status: reply.body?.status ?? 'unknown', checks: reply.body?.checks ?? {} });
    }
    const ok = results.every((r) => r.http_status === 200 && r.status === 'ok');
    ctx.out.result({ url: api.baseUrl, ok, probes: results }, () => {
      ctx.out.line(`Control plane ${api.baseUrl}`);
      ctx.out.table(results, [
        { header: 'PROBE', value: (r) => `${r.probe} (${r.path})` },
        { header: 'STATUS', value: (r) => r.status },
        { header: 'CHECKS', value: (r) => Object.entries(r.checks).map(([k, v]) => `${k}=${v}`).join(' ') },
      ]);
    });
    if (!ok) throw new CliError(ExitCode.Server, `The control plane at ${api.baseUrl} is not ready.`);
  },
};

export const healthCommands: readonly Command[] = [health];
