/**
 * Every program a deployment file starts — Dockerfile CMD, compose commands, chart containers — is one the
 * build produces (a TypeScript source compiled by tsconfig into that dist path) or a script the image copies.
 * A typo in any of them would only show when a container crash-loops.
 */
import { expect } from 'chai';
import { commandOf, loadCompose } from './support/compose.js';
import { execForm, instructionsOf, lastStage, parseDockerfile } from './support/dockerfile.js';
import {
  buildLayout,
  COMPILED_ENTRY_POINTS,
  nodeEntryPoint,
  SCRIPT_ENTRY_POINTS,
  sourceExists,
  sourceOf,
} from './support/entry-points.js';
import { exists, readText, repoPath } from './support/files.js';
import { chartTemplates, skeleton } from './support/helm.js';

const dockerfile = parseDockerfile(readText(repoPath('Dockerfile')));

function startedPrograms(): { where: string; program: string }[] {
  const found: { where: string; program: string }[] = [];
  const runtime = lastStage(dockerfile);
  for (const cmd of instructionsOf(runtime, 'CMD')) found.push({ where: 'Dockerfile CMD', program: nodeEntryPoint(execForm(cmd.args))! });
  const compose = loadCompose();
  for (const name of compose.serviceNames) {
    const program = nodeEntryPoint(commandOf(compose.service(name)));
    if (program) found.push({ where: `compose ${name}`, program });
  }
  for (const t of chartTemplates().filter((x) => x.name.endsWith('.yaml'))) {
    for (const doc of skeleton(t.text)) {
      const containers = (doc as { spec?: { template?: { spec?: { containers?: { command?: string[] }[] } } } }).spec?.template?.spec?.containers ?? [];
      for (const c of containers) {
        const program = c.command ? nodeEntryPoint(c.command) : undefined;
        if (program) found.push({ where: `chart ${t.name}`, program });
      }
    }
  }
  return found;
}

describe('deploy: entry points', () => {
  const started = startedPrograms();
  const layout = buildLayout();

  it('finds the programs the Dockerfile, compose and the chart start', () => {
    const programs = new Set(started.map((s) => s.program));
    expect([...programs]).to.include.members([...COMPILED_ENTRY_POINTS, ...SCRIPT_ENTRY_POINTS]);
    expect(started.filter((s) => s.where.startsWith('chart')).map((s) => s.program)).to.include.members([...COMPILED_ENTRY_POINTS]);
  });

  it('starts nothing but known entry points', () => {
    const known = new Set<string>([...COMPILED_ENTRY_POINTS, ...SCRIPT_ENTRY_POINTS]);
    for (const { where, program } of started) expect(known.has(program), `${where} starts ${program}`).to.equal(true);
  });

  it('maps each compiled entry point to the TypeScript source tsconfig compiles into it', () => {
    expect(sourceOf('dist/control-plane/src/main.js', layout)).to.equal('control-plane/src/main.ts');
    expect(sourceOf('dist/authz-service/src/main.js', layout)).to.equal('authz-service/src/main.ts');
    expect(sourceOf('dist/control-plane/src/migrate.js', layout)).to.equal('control-plane/src/migrate.ts');
    for (const dist of COMPILED_ENTRY_POINTS) expect(layout.includes(sourceOf(dist, layout)), `${dist}: tsconfig include`).to.equal(true);
  });

  for (const dist of COMPILED_ENTRY_POINTS) {
    it(`${dist} has its source in the build`, function () {
      const source = sourceOf(dist, layout);
      // The services land from their own branches; until one has, there is nothing to compile here yet.
      if (!sourceExists(source)) this.skip();
      expect(layout.fileNames.has(repoPath(source)), `${source} is part of the tsc program`).to.equal(true);
    });
  }

  it('ships every script entry point in the runtime image', () => {
    const copies = instructionsOf(lastStage(dockerfile), 'COPY').filter((c) => !c.args.startsWith('--from=')).map((c) => c.args.split(/\s+/)[0]!);
    for (const script of SCRIPT_ENTRY_POINTS) {
      expect(exists(repoPath(script)), script).to.equal(true);
      expect(copies.some((source) => script === source || script.startsWith(`${source}/`)), `${script} is copied into the image`).to.equal(true);
    }
  });
});
