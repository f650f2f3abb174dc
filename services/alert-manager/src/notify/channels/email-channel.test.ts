import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { EmailChannel, type EmailSettings } from './email-channel.ts';
import { testNotification, failure } from '../../../test-support/test-notifications.ts';

const PASSWORD = 'smtp-password-SECRET-77';

interface Received {
  from: string;
  to: string[];
  raw: string;
}

let server: SMTPServer | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** Starts a real SMTP server on a free port, without STARTTLS, collecting each message it accepts. */
async function startSmtp(options: SMTPServerOptions = {}): Promise<{ port: number; received: Received[] }> {
  const received: Received[] = [];
  server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const { mailFrom, rcptTo } = session.envelope;
        received.push({ from: mailFrom ? mailFrom.address : '', to: rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
    ...options,
  });
  const smtp = server;
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  return { port: (smtp.server.address() as AddressInfo).port, received };
}

function settings(port: number, overrides: Partial<EmailSettings> = {}): EmailSettings {
  return { host: '127.0.0.1', port, secure: false, requireTls: false, from: 'tmon@example.com', to: ['oncall@example.com', 'ops@example.com'], ...overrides };
}

function smtpError(message: string, responseCode: number): Error {
  return Object.assign(new Error(message), { responseCode });
}

describe('EmailChannel', () => {
  it('sends one message to every address, subject the title, text and HTML with each alert', async () => {
    const { port, received } = await startSmtp();
    await new EmailChannel(settings(port), { timeoutMs: 2_000 }).send(testNotification(2));
    expect(received).toHaveLength(1);
    expect(received[0]!.from).toBe('tmon@example.com');
    expect(received[0]!.to).toEqual(['oncall@example.com', 'ops@example.com']);
    const mail = await simpleParser(received[0]!.raw);
    expect(mail.subject).toBe('[FIRING:2] HighCpu');
    expect(mail.headers.get('x-tmon-notification-id')).toBe('n-HighCpu-1');
    for (const summary of ['CPU above 90% on web-1', 'CPU above 90% on web-2']) {
      expect(mail.text).toContain(summary);
      expect(mail.html).toContain(summary);
    }
  });

  it('logs in when a user is set', async () => {
    const logins: string[] = [];
    const { port, received } = await startSmtp({
      allowInsecureAuth: true,
      onAuth(auth, _session, callback) {
        if (auth.username === 'tmon' && auth.password === PASSWORD) {
          logins.push(auth.username);
          return callback(null, { user: auth.username });
        }
        callback(smtpError('Authentication failed', 535));
      },
    });
    await new EmailChannel(settings(port, { user: 'tmon', password: PASSWORD }), { timeoutMs: 2_000 }).send(testNotification());
    expect(logins).toEqual(['tmon']);
    expect(received).toHaveLength(1);

    const err = await failure(new EmailChannel(settings(port, { user: 'tmon', password: `wrong-${PASSWORD}` }), { timeoutMs: 2_000 }).send(testNotification()));
    expect([err.retryable, err.status]).toEqual([false, 535]);
    expect(err.message).not.toContain(PASSWORD);
    expect(inspect(err, { depth: 5 })).not.toContain(PASSWORD);
  });

  it('does not retry a 5xx refusal but retries a 4xx one', async () => {
    let code = 550;
    const { port } = await startSmtp({
      onRcptTo(_address, _session, callback) {
        callback(smtpError('mailbox unavailable', code));
      },
    });
    const channel = new EmailChannel(settings(port), { timeoutMs: 2_000 });
    const permanent = await failure(channel.send(testNotification()));
    expect([permanent.retryable, permanent.status, permanent.message]).toEqual([false, 550, 'smtp server answered 550 to RCPT TO']);
    code = 451;
    const transient = await failure(channel.send(testNotification()));
    expect([transient.retryable, transient.status]).toEqual([true, 451]);
  });

  it('retries when the server cannot be reached', async () => {
    const { port } = await startSmtp();
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    const err = await failure(new EmailChannel(settings(port), { timeoutMs: 2_000 }).send(testNotification()));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/^smtp delivery failed \(E[A-Z]+\)$/);
  });

  it('refuses to send in clear text when requireTls is on and the server offers no STARTTLS', async () => {
    const { port, received } = await startSmtp();
    const err = await failure(new EmailChannel(settings(port, { requireTls: true }), { timeoutMs: 2_000 }).send(testNotification()));
    expect(received).toHaveLength(0);
    expect([err.retryable, err.message]).toEqual([false, 'smtp server answered 500 to STARTTLS']);
  });
});
