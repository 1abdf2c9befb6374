/** Background reconciliation every `intervalMs` (0: never); one run at a time, stopped before shutdown. */
import type { Logger } from 'pino';
import type { ReconcileReport } from '../../api/provisioners.js';

export class ReconcileJob {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly run: () => Promise<ReconcileReport>,
    readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#tick(), this.intervalMs);
    this.#timer.unref();
  }

  #tick(): void {
    if (this.#running !== undefined || this.#stopped) return;
    this.#running = this.run()
      .then((report) => {
        const counts = Object.fromEntries(Object.entries(report.changes).map(([k, v]) => [k, v.count]));
        if (report.changed > 0 || report.problems.length > 0) this.logger.info({ changes: counts, problems: report.problems }, '3scale reconciliation changed the mirror');
        else this.logger.debug({ applications: report.applications }, '3scale reconciliation: no drift');
      })
      .catch((error: unknown) => this.logger.error({ err: error }, '3scale reconciliation failed; the next run will retry'))
      .finally(() => {
        this.#running = undefined;
      });
  }

  /** Waits for a run in progress, so the database is not closed under it. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
