/** The operator CLI (`npm run admin`) as a real child process: its exit code, stdout and stderr. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const CLI = ['node_modules/tsx/dist/cli.mjs', 'cli/admin.ts'];

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `admin ARGS…` from the repository root, writing `input` to its stdin. */
export function runAdmin(args: string[], input: string | Buffer = '', env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => undefined); // the CLI may exit before reading stdin
    child.stdin.end(input);
  });
}
