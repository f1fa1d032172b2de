/**
 * `terraform fmt -check -recursive terraform/`: formatting needs no provider, so it runs offline.
 */
import { spawnSync } from 'node:child_process';
import { REPO_ROOT, TERRAFORM_ROOT, findTfFiles } from './schema-check';

function terraform(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('terraform', args, {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    // No version check-in with HashiCorp, no prompts.
    env: { ...process.env, CHECKPOINT_DISABLE: '1', TF_IN_AUTOMATION: '1', TF_INPUT: '0' },
    timeout: 30_000,
  });
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new Error('terraform is not on PATH: the Terraform checks need the terraform binary (>= 1.5; `terraform fmt` needs no provider and no network).');
    }
    throw result.error;
  }
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('terraform/ holds Terraform files', () => {
  expect(findTfFiles(TERRAFORM_ROOT).length).toBeGreaterThan(0);
});

test('terraform fmt -check -recursive terraform/ passes', () => {
  const result = terraform(['fmt', '-check', '-recursive', '-diff', 'terraform/']);
  if (result.status !== 0) {
    throw new Error(`terraform fmt -check failed (exit ${result.status}); run \`terraform fmt -recursive terraform/\`.\n${result.stdout}\n${result.stderr}`);
  }
  expect(result.status).toBe(0);
});
