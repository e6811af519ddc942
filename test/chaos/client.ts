/**
 * The chaos suite's SMTP client: one message per connection, and the answer
 * to the final dot (the acknowledgement) or why there was none.
 */
import { connect } from 'node:net';

export type SendResult = { ok: true } | { ok: false; why: string };

/** Sends one message; resolves with ok only for a 250 after the final dot. */
export function sendOne(port: number, from: string, to: string, body: string, timeoutMs = 30_000): Promise<SendResult> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const steps = ['EHLO chaos.test', `MAIL FROM:<${from}>`, `RCPT TO:<${to}>`, 'DATA', `${body}\r\n.`, 'QUIT'];
    const expect = [220, 250, 250, 250, 354, 250, 221];
    let step = 0;
    let buf = '';
    let done = false;
    const finish = (r: SendResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, why: 'timeout' }), timeoutMs);
    s.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, why: err.code ?? err.message }));
    s.on('close', () => finish(step > 5 ? { ok: true } : { ok: false, why: 'disconnected' }));
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const m = /^(\d{3})([ -])[^\n]*\n/.exec(buf);
        if (!m) return;
        buf = buf.slice(m[0].length);
        if (m[2] === '-') continue;
        const code = Number(m[1]);
        if (code !== expect[step]) {
          // an answer after the dot that is not 250 is a refusal; after QUIT anything will do
          if (step === 6) return finish({ ok: true });
          return finish({ ok: false, why: m[0].trim() });
        }
        if (step === 6) return finish({ ok: true });
        s.write(`${steps[step]}\r\n`);
        step++;
      }
    });
  });
}

/** A message of about `size` bytes with Message-ID `id`. */
export function message(id: string, size: number): string {
  const head = `From: chaos@chaos.test\r\nTo: sink@sink.test\r\nSubject: chaos ${id}\r\nMessage-ID: ${id}\r\n\r\n`;
  const line = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.-abcdefghij\r\n';
  return head + line.repeat(Math.max(1, Math.ceil((size - head.length) / line.length))).trimEnd();
}
