// postern multi -l: postmulti(1)'s instance listing (postmulti.c list_instances: "%-15s %-15s %-9s %s").
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SHIM = fileURLToPath(new URL('../../bin/postern.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'postern-multi-'));
after(() => rmSync(root, { recursive: true, force: true }));
const [main, out1, out2] = ['main', 'out1', 'out2'].map((d) => join(root, d)) as [string, string, string];
for (const d of [main, out1, out2]) mkdirSync(d);
// Each instance has its own queue and data directory (postmulti refuses shared ones).
const own = (d: string) => `queue_directory = ${d}/spool\ndata_directory = ${d}/data\n`;
writeFileSync(join(main, 'main.cf'), `multi_instance_directories = ${out1}, ${out2}\nmulti_instance_enable = yes\n${own(main)}`);
writeFileSync(join(out1, 'main.cf'), `multi_instance_name = postfix-out1\nmulti_instance_group = mta\nmulti_instance_enable = yes\n${own(out1)}`);
writeFileSync(join(out2, 'main.cf'), `multi_instance_name = postfix-out2\n${own(out2)}`);
const multi = (...args: string[]) => spawnSync(process.execPath, [SHIM, 'multi', '-c', main, ...args], { encoding: 'utf8' });

test('-l lists the primary then multi_instance_directories: name, group, enabled, directory', () => {
  const r = multi('-l');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    r.stdout,
    `-               -               y         ${main}\npostfix-out1    mta             y         ${out1}\npostfix-out2    -               n         ${out2}\n`,
  );
  assert.equal(multi('-l', '-R').stdout.split('\n')[0], `postfix-out2    -               n         ${out2}`);
});

test('-g, -i (name, suffix, -, directory) select; -j prints JSON; errors as postmulti', () => {
  assert.equal(multi('-l', '-g', 'mta').stdout, `postfix-out1    mta             y         ${out1}\n`);
  for (const name of ['postfix-out2', 'out2', out2]) assert.equal(multi('-l', '-i', name).stdout, `postfix-out2    -               n         ${out2}\n`, name);
  assert.equal(multi('-l', '-i', '-').stdout, `-               -               y         ${main}\n`);
  assert.deepEqual(JSON.parse(multi('-lj', '-i', 'out1').stdout), { name: 'postfix-out1', group: 'mta', enabled: 'y', config_directory: out1 });
  assert.deepEqual({ ...multi('-l', '-i', 'nosuch') }.stderr, 'postmulti: fatal: No instance named nosuch\n');
  assert.equal(multi('-l', '-a', '-g', 'mta').stderr, "postmulti: fatal: Specity no more than one of '-a', '-g', '-i'\n");
  assert.equal(multi().stderr, "postmulti: fatal: Specify exactly one of '-e', '-l', '-p', '-x'\n");
});
