/**
 * Certificates for the NATS TLS tests (nats-tls.test.ts, nats-routes.test.ts), made by openssl in a test's
 * temporary directory: a CA and certificates it signs, each with the extensions it is given. Test support only.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Runs openssl in `dir`; throws with its stderr on failure. */
export function openssl(dir: string, ...args: string[]): void {
  const run = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${run.stderr}`);
}

/** A self-signed CA in `dir`: `<name>.crt` and `<name>.key`. */
export function makeCa(dir: string, name = 'ca', subject = 'tmon test CA'): void {
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${subject}`, '-keyout', `${name}.key`, '-out', `${name}.crt`);
}

/**
 * A certificate `<name>.crt` with its key `<name>.key` in `dir`, signed by the CA `<ca>.crt`, with `ext` as its
 * extensions (openssl's extfile syntax, one per line: subjectAltName, extendedKeyUsage).
 */
export function makeCertificate(dir: string, name: string, ext: string, ca = 'ca'): void {
  writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
  openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
}
