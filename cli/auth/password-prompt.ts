/**
 * The password for `login --password`: from PORTCULLIS_PASSWORD, else typed at a terminal without echo,
 * else the first line of piped stdin. Never from a flag: flags end up in shell history and `ps`.
 */
import { nonEmpty } from '../config/paths.js';
import { usageError } from '../exit.js';
import type { Io } from '../io.js';

export async function readPassword(io: Io, prompt: string): Promise<string> {
  const fromEnv = nonEmpty(io.env['PORTCULLIS_PASSWORD']);
  if (fromEnv !== undefined) return fromEnv;
  const password = io.stdin.isTTY ? await typed(io, prompt) : await firstLine(io.stdin);
  if (password === '') throw usageError('No password given: type it at the prompt, pipe it on stdin, or set PORTCULLIS_PASSWORD.');
  return password;
}

function typed(io: Io, prompt: string): Promise<string> {
  const stdin = io.stdin;
  io.err(prompt);
  return new Promise((resolve, reject) => {
    let password = '';
    const finish = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      io.err('\n');
      if (error) reject(error);
      else resolve(password);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n' || char === '\u0004') return finish();
        if (char === '\u0003') return finish(usageError('Login cancelled.'));
        if (char === '\u007f' || char === '\b') password = password.slice(0, -1);
        else password += char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

async function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += chunk.toString();
    const newline = text.search(/\r?\n/);
    if (newline >= 0) return text.slice(0, newline);
  }
  return text;
}
