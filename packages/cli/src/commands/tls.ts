/**
 * NAME
 *   postern tls - manage the SMTP server and client TLS settings
 *   (postfix tls, Postfix's postfix-tls-script)
 *
 * SYNOPSIS
 *   postern tls [-c config_dir] enable-client [-r randsource]
 *   postern tls enable-server [-a rsa] [-b bits] [-r randsource] [hostname ...]
 *   postern tls new-server-key [-a rsa] [-b bits] [hostname ...]
 *   postern tls new-server-cert [-a rsa] [-b bits] [hostname ...]
 *   postern tls deploy-server-cert certfile keyfile
 *   postern tls output-server-csr [-k keyfile] [hostname ...]
 *   postern tls output-server-tlsa [-h hostname] [keyfile ...]
 *   postern tls all-default-client | all-default-server
 *
 * DESCRIPTION
 *   As postfix-tls(1): enable-client sets opportunistic TLS in the SMTP
 *   client (smtp_tls_security_level = may, smtp_tls_loglevel = 1, an lmdb
 *   session cache) when none of the client TLS settings is in main.cf, else
 *   prints the typical settings and changes nothing. enable-server makes a
 *   private key and a self-signed (~100 year) certificate named
 *   key-STAMP.pem and cert-STAMP.pem in the configuration directory (with
 *   openssl(1), at $openssl_path) and deploys them with smtpd_tls_security_level
 *   = may, smtpd_tls_received_header = yes and smtpd_tls_loglevel = 1, when
 *   none of the server TLS settings is in main.cf. new-server-key and
 *   new-server-cert make a new certificate (the latter re-using the deployed
 *   key) without deploying it; deploy-server-cert checks that the certificate
 *   matches the key and deploys both; output-server-csr prints a certificate
 *   signing request; output-server-tlsa prints "3 1 1" DANE TLSA records
 *   (SHA2-256 of the key's SubjectPublicKeyInfo); all-default-* exit 0 when
 *   no such setting is in main.cf. Relative key and certificate names are in
 *   the configuration directory.
 *
 *   Postern's smtpd has one key and certificate pair (smtpd_tls_key_file,
 *   smtpd_tls_cert_file), so only the rsa algorithm is offered; Postfix's
 *   separate ECDSA pair (smtpd_tls_eckey_file) does not exist here.
 */
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { discoverPlugins, editMainCfDetailed, loadConfiguration, parseMainCf, pluginDirsFromMainCf, type ConfigView } from '@postern/core';
import { getopt, optValue } from '../getopt.js';
import { configDirectory } from '../instance.js';
import type { CommandIo } from '../io.js';
import { writeAtomically } from './conf.js';

const PROGRAM = 'postfix/postfix-tls-script';
const RSA_BITS = '2048';

const CLIENT_SETTINGS = ['smtp_use_tls', 'smtp_enforce_tls', 'smtp_tls_enforce_peername', 'smtp_tls_security_level', 'smtp_tls_cert_file', 'smtp_tls_dcert_file', 'smtp_tls_eccert_file'];
const SERVER_SETTINGS = ['smtpd_use_tls', 'smtpd_enforce_tls', 'smtpd_tls_security_level', 'smtpd_tls_cert_file', 'smtpd_tls_dcert_file', 'smtpd_tls_eccert_file'];

const USAGE: Readonly<Record<string, string>> = {
  'enable-client': 'enable-client [-r devrandom]',
  'enable-server': 'enable-server [-a algorithm] [-b bits ] [-r devrandom] [hostname ...]',
  'new-server-key': 'new-server-key [-a algorithm] [-b bits ] [hostname ...]',
  'new-server-cert': 'new-server-cert [-a algorithm] [-b bits ] [hostname ...]',
  'deploy-server-cert': 'deploy-server-cert certfile keyfile',
  'output-server-csr': 'output-server-csr [-k keyfile] [hostname ...]',
  'output-server-tlsa': 'output-server-tlsa [-h hostname] [keyfile ...]',
  'all-default-client': 'all-default-client',
  'all-default-server': 'all-default-server',
};

class TlsFatal extends Error {}

/** What one run knows: the directory, main.cf as written and as expanded, and where output goes. */
interface Tls {
  readonly dir: string;
  readonly mainFile: string;
  /** Parameters set in main.cf (postconf -n). */
  readonly set: ReadonlySet<string>;
  readonly view: ConfigView;
  readonly io: CommandIo;
  readonly openssl: string;
  /** Parameters the installed packages know (a setting nobody reads is not written). */
  readonly known: (name: string) => boolean;
}

/** `postern tls ...`. */
export async function tlsCommand(argv: string[], io: CommandIo): Promise<number> {
  let explicit: string | undefined;
  let args = argv;
  if (args[0] === '-c') {
    explicit = args[1];
    args = args.slice(2);
  }
  const [cmd, ...rest] = args;
  try {
    if (!cmd || !(cmd in USAGE)) {
      io.stderr.write(`${PROGRAM}: error: unknown tls command: '${cmd ?? ''}'\n`);
      throw new TlsFatal(`usage: postfix tls enable-client (or enable-server, new-server-key, new-server-cert, deploy-server-cert, output-server-csr, output-server-tlsa, all-default-client, all-default-server)`);
    }
    const tls = await open(explicit, io);
    return await run(tls, cmd, rest);
  } catch (err) {
    io.stderr.write(`${PROGRAM}: fatal: ${(err as Error).message}\n`);
    return 1;
  }
}

async function open(explicit: string | undefined, io: CommandIo): Promise<Tls> {
  const dir = configDirectory(explicit, io.env).dir;
  const mainFile = join(dir, 'main.cf');
  if (!existsSync(dir)) throw new TlsFatal(`no Postfix configuration directory ${dir}!`);
  const text = existsSync(mainFile) ? readFileSync(mainFile, 'utf8') : '';
  const configuration = await loadConfiguration(dir, await discoverPlugins(pluginDirsFromMainCf(dir)));
  const view = configuration.view();
  const openssl = view.has('openssl_path') ? view.get('openssl_path') : 'openssl';
  if (spawnSync(openssl, ['version'], { stdio: 'ignore' }).status !== 0) throw new TlsFatal(`No working openssl(1) command found with 'openssl_path = ${openssl}'`);
  const known = (name: string) => configuration.registry.known(name);
  return { dir, mainFile, set: new Set(parseMainCf(text, mainFile).params.keys()), view, io, openssl, known };
}

async function run(tls: Tls, cmd: string, argv: string[]): Promise<number> {
  const usage = () => new TlsFatal(`usage: postfix tls ${USAGE[cmd]}`);
  const opts = (spec: string) => {
    try {
      return getopt(argv, spec);
    } catch {
      throw usage();
    }
  };
  switch (cmd) {
    case 'enable-client': {
      const o = opts('r:');
      if (o.args.length > 0) throw usage();
      return await enableClient(tls, optValue(o, 'r'));
    }
    case 'enable-server':
    case 'new-server-key':
    case 'new-server-cert': {
      const o = opts(cmd === 'enable-server' ? 'a:b:r:' : 'a:b:');
      const algo = optValue(o, 'a') ?? 'rsa';
      if (algo !== 'rsa') throw new TlsFatal(`Unsupported private key algorithm: ${algo}`);
      const bits = optValue(o, 'b') ?? RSA_BITS;
      if (cmd === 'enable-server') {
        if (!allDefault(tls, SERVER_SETTINGS)) return info(tls, SERVER_TYPICAL);
        return await newServerCert(tls, bits, undefined, true, o.args, randomSource(tls, optValue(o, 'r')));
      }
      let old: string | undefined;
      if (cmd === 'new-server-cert') {
        old = deployedKey(tls);
        if (old && !existsSync(old)) {
          tls.io.stderr.write(`${PROGRAM}: warning: Key file: ${old} not found, creating new keys\n`);
          old = undefined;
        }
      }
      return await newServerCert(tls, bits, old, false, o.args, undefined);
    }
    case 'deploy-server-cert': {
      if (argv.length !== 2) throw new TlsFatal(`usage: postfix tls ${cmd} certfile keyfile`);
      const [cert, key] = argv.map((f) => inDir(tls, f!));
      await deploy(tls, cert!, key!, false, undefined);
      return info(tls, deployedText(false));
    }
    case 'output-server-csr': {
      const o = opts('k:');
      const k = optValue(o, 'k');
      const keyfile = k !== undefined ? inDir(tls, k) : deployedKey(tls);
      if (!keyfile || !existsSync(keyfile)) throw new TlsFatal('No usable keyfile specified or configured');
      const names = o.args.length > 0 ? o.args : [tls.view.get('myhostname')];
      tls.io.stdout.write(openssl(tls, ['req', '-config', CONFIG_ARG, '-new', '-key', keyfile, '-subj', '/'], opensslConfig('req_extensions', names, false), 'error generating the certificate signing request'));
      return 0;
    }
    case 'output-server-tlsa': {
      const o = opts('h:');
      const host = optValue(o, 'h') ?? tls.view.get('myhostname');
      const keys = (o.args.length > 0 ? o.args.map((k) => (k === 'rsa' ? deployedKey(tls) : inDir(tls, k))) : [deployedKey(tls)]).filter((k): k is string => !!k);
      if (keys.length === 0) throw new TlsFatal('No usable keyfiles specified or configured');
      for (const k of keys) tls.io.stdout.write(`; ${k}\n_25._tcp.${host}. IN TLSA 3 1 1 ${spkiDigest(readKey(k).pub)}\n`);
      return 0;
    }
    case 'all-default-client':
    case 'all-default-server':
      if (argv.length > 0) throw usage();
      return allDefault(tls, cmd === 'all-default-client' ? CLIENT_SETTINGS : SERVER_SETTINGS) ? 0 : 1;
  }
  throw usage();
}

/** None of `names` is set in main.cf (the script's all_default). */
function allDefault(tls: Tls, names: readonly string[]): boolean {
  return names.every((n) => !tls.set.has(n));
}

const inDir = (tls: Tls, file: string) => (isAbsolute(file) ? file : join(tls.dir, file));

function deployedKey(tls: Tls): string | undefined {
  return tls.set.has('smtpd_tls_key_file') || tls.set.has('smtpd_tls_cert_file') ? tls.view.get('smtpd_tls_key_file') || undefined : undefined;
}

function randomSource(tls: Tls, given: string | undefined): string {
  return given ?? ((tls.view.has('tls_random_source') && tls.view.get('tls_random_source')) || 'dev:/dev/urandom');
}

async function enableClient(tls: Tls, rand: string | undefined): Promise<number> {
  if (!allDefault(tls, CLIENT_SETTINGS)) return info(tls, CLIENT_TYPICAL);
  const set: Record<string, string> = {
    smtp_tls_security_level: 'may',
    smtp_tls_session_cache_database: `lmdb:${tls.view.get('data_directory')}/smtp_scache`,
  };
  // Postfix's script sets smtp_tls_loglevel too; Postern's client has no TLS log levels (yet)
  if (tls.known('smtp_tls_loglevel')) set['smtp_tls_loglevel'] = '1';
  const source = randomSource(tls, rand);
  if (source) set['tls_random_source'] = source;
  await edit(tls, set);
  return info(tls, CLIENT_DEPLOYED);
}

async function edit(tls: Tls, set: Record<string, string>): Promise<void> {
  const text = existsSync(tls.mainFile) ? readFileSync(tls.mainFile, 'utf8') : '';
  const result = editMainCfDetailed(text, { set }, tls.mainFile);
  for (const w of result.warnings) tls.io.stderr.write(`${PROGRAM}: warning: ${w}\n`);
  await writeAtomically(tls.mainFile, result.text);
}

async function newServerCert(tls: Tls, bits: string, oldKey: string | undefined, enable: boolean, names: readonly string[], rand: string | undefined): Promise<number> {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const keyfile = join(tls.dir, `key-${stamp}.pem`);
  const certfile = join(tls.dir, `cert-${stamp}.pem`);
  if (existsSync(keyfile)) throw new TlsFatal(`New private key file already exists: ${keyfile}`);
  if (existsSync(certfile)) throw new TlsFatal(`New certificate file already exists: ${certfile}`);
  if (oldKey) {
    const key = readKey(oldKey);
    if (key.algo !== 'rsa') throw new TlsFatal(`Key algorithm '${key.algo}' of '${oldKey}' is not 'rsa'`);
    writeSecret(keyfile, key.pem);
  } else {
    openssl(tls, ['genrsa', '-out', keyfile, bits], '', `error generating new rsa ${bits} private key`, 0o077);
  }
  const fqdn = names[0] ?? tls.view.get('myhostname');
  try {
    openssl(tls, ['req', '-x509', '-config', CONFIG_ARG, '-new', '-key', keyfile, '-subj', `/CN=${fqdn}`, '-days', '36525', '-out', certfile], opensslConfig('x509_extensions', [fqdn, ...names.slice(1)], true), 'error generating self-signed SSL certificate');
  } catch (err) {
    rmSync(certfile, { force: true });
    rmSync(keyfile, { force: true });
    throw err;
  }
  if (enable) await deploy(tls, certfile, keyfile, true, rand);
  const lines = [
    ...(enable ? deployedText(true) : [`New private key and self-signed certificate created. To deploy run:`, `  # postfix tls deploy-server-cert ${certfile} ${keyfile}`]),
    'To generate a CSR run:',
    `  # postfix tls output-server-csr -k ${keyfile} [<hostname> ...]`,
    enable ? `Save the signed certificate chain in ${certfile}.` : `Save the signed certificate chain in ${certfile}, and deploy as above.`,
    'To generate TLSA records run:',
    `  # postfix tls output-server-tlsa [-h <hostname>] ${enable ? '' : keyfile}`.trimEnd(),
    ...(oldKey ? [] : enable ? ['(If you have DANE TLSA RRs, update them as soon as possible to match', 'the newly deployed keys).'] : ['(deploy after updating the DNS and waiting for stale RRs to expire).']),
  ];
  return info(tls, lines);
}

/** Checks that `cert` holds the public key of `key`, then sets both in main.cf (with `enable`, opportunistic TLS too). */
async function deploy(tls: Tls, cert: string, key: string, enable: boolean, rand: string | undefined): Promise<void> {
  const k = readKey(key);
  let certPub: string;
  try {
    certPub = spkiDigest(new X509Certificate(readFileSync(cert)).publicKey);
  } catch {
    throw new TlsFatal('error computing certificate public key digest');
  }
  if (certPub !== spkiDigest(k.pub)) throw new TlsFatal(`Certificate in ${cert} does not match key in ${key}`);
  const set: Record<string, string> = { smtpd_tls_key_file: key, smtpd_tls_cert_file: cert };
  if (enable) Object.assign(set, { smtpd_tls_security_level: 'may', smtpd_tls_received_header: 'yes', smtpd_tls_loglevel: '1' });
  if (rand) set['tls_random_source'] = rand;
  await edit(tls, set);
}

function readKey(file: string): { algo: string; pem: string; pub: ReturnType<typeof createPublicKey> } {
  try {
    const pem = readFileSync(file, 'utf8');
    const priv = createPrivateKey(pem);
    const algo = priv.asymmetricKeyType === 'ec' ? 'ecdsa' : String(priv.asymmetricKeyType);
    return { algo, pem: priv.export({ type: algo === 'rsa' ? 'pkcs1' : 'sec1', format: 'pem' }) as string, pub: createPublicKey(priv) };
  } catch {
    throw new TlsFatal(`no private key found in file: ${file}`);
  }
}

/** SHA2-256 of the DER SubjectPublicKeyInfo, in hex (the "3 1 1" TLSA data). */
function spkiDigest(pub: ReturnType<typeof createPublicKey>): string {
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex');
}

function writeSecret(file: string, text: string): void {
  const r = spawnSync('sh', ['-c', 'umask 077 && cat > "$0"', file], { input: text });
  if (r.status !== 0) throw new TlsFatal(`Error copying private key to '${file}'`);
}

/** The script's openssl configuration for a certificate or a request with `names` as subjectAltName. */
function opensslConfig(extensions: 'x509_extensions' | 'req_extensions', names: readonly string[], x509: boolean): string {
  return [
    'default_md = sha256',
    `${extensions} = v3`,
    'prompt = yes',
    'distinguished_name = dn',
    '[dn]',
    '[v3]',
    ...(x509 ? ['basicConstraints = CA:false'] : []),
    'subjectKeyIdentifier = hash',
    'extendedKeyUsage = serverAuth, clientAuth',
    'subjectAltName = @alts',
    '[alts]',
    ...names.map((n, i) => `DNS.${i + 1} = ${n}`),
    '',
  ].join('\n');
}

/** Where an openssl argument takes the configuration `config` (a private temporary file). */
const CONFIG_ARG = '\0config';

/**
 * Runs openssl with `args` (CONFIG_ARG replaced by a file holding `config`,
 * which the script feeds on /dev/stdin), under `umask` when given.
 */
function openssl(tls: Tls, args: string[], config: string, failure: string, umask?: number): string {
  const tmp = config ? mkdtempSync(join(tmpdir(), 'postern-tls-')) : undefined;
  try {
    if (tmp) writeFileSync(join(tmp, 'openssl.cnf'), config, { mode: 0o600 });
    const argv = args.map((a) => (a === CONFIG_ARG && tmp ? join(tmp, 'openssl.cnf') : a));
    const r = spawnSync(umask === undefined ? tls.openssl : 'sh', umask === undefined ? argv : ['-c', `umask ${umask.toString(8)} && exec "$0" "$@"`, tls.openssl, ...argv], { encoding: 'utf8' });
    if (r.status !== 0) {
      for (const l of (r.stderr ?? '').split('\n')) if (l) tls.io.stderr.write(`${PROGRAM}: warning: ${l}\n`);
      throw new TlsFatal(failure);
    }
    return r.stdout;
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

function info(tls: Tls, lines: readonly string[]): number {
  for (const l of lines) tls.io.stdout.write(`${l}\n`);
  return 0;
}

const CLIENT_TYPICAL = [
  '*** Non-default SMTP client TLS settings detected, no changes made.',
  'For opportunistic TLS in the Postfix SMTP client, the below settings',
  'are typical:',
  '  smtp_tls_security_level = may',
  '  smtp_tls_loglevel = 1',
  '  smtp_tls_session_cache_database = lmdb:${data_directory}/smtp_scache',
];
const CLIENT_DEPLOYED = ['Enabled opportunistic TLS in the Postfix SMTP client.', 'Run the command:', '  # postfix reload', 'if you want the new settings to take effect immediately.'];
const SERVER_TYPICAL = [
  '*** Non-default SMTP server TLS settings detected, no changes made.',
  'For opportunistic TLS in the Postfix SMTP server, the below settings',
  'are typical:',
  '  smtpd_tls_security_level = may',
  '  smtpd_tls_loglevel = 1',
  'You can use "postfix tls new-server-cert" to create a new certificate.',
  'Or, "postfix tls new-server-key" to also force a new private key.',
];
const deployedText = (enable: boolean) => [
  ...(enable ? ['Enabled opportunistic TLS in the Postfix SMTP server'] : []),
  'New TLS private key and certificate deployed.',
  'Run the command:',
  '  # postfix reload',
  'if you want the new settings to take effect immediately.',
];
