#!/usr/bin/python3
"""Runs one example program against a real local peer and checks what it prints.

    run.py EXAMPLE PROGRAM CERTS_DIR

EXAMPLE is smtp-client, smtp-server, fallback, poll-client, asio, or one of the
demos ./dev demo runs (demo-smtp, demo-fallback). The peers are
programs nobody here wrote: aiosmtpd (Python, in this process), Python's smtplib,
and openssl s_server. Each case also checks a refusal, with its reason. Every
process started here is stopped by its PID; every wait has a deadline.
"""
import logging
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time

EXAMPLE_TIMEOUT = 60  # seconds; the examples' own waits are 5-10 s


def fail(msg, output=None):
    if output is not None:
        sys.stderr.write("---- output ----\n" + output + "\n----------------\n")
    sys.stderr.write("FAIL: " + msg + "\n")
    sys.exit(1)


def expect(output, pattern, what):
    if not re.search(pattern, output, re.MULTILINE):
        fail(f"{what}: no line matches {pattern!r}", output)


def refuse(output, pattern, what):
    if re.search(pattern, output, re.MULTILINE):
        fail(f"{what}: a line matches {pattern!r}", output)


def run(argv, want_status):
    """Runs argv to its end (bounded); returns its combined output."""
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=EXAMPLE_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        fail(f"{argv[0]} did not end within {EXAMPLE_TIMEOUT} s", (e.output or b"").decode(errors="replace"))
    if done.returncode != want_status:
        fail(f"{os.path.basename(argv[0])} exited {done.returncode}, expected {want_status}", done.stdout)
    return done.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_program(name, package):
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        if os.access(os.path.join(d, name), os.X_OK):
            return
    fail(f"the peer program '{name}' is not installed (Debian package: {package})")


class Child:
    """A peer process in its own process group, stopped by its PID."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.out = b""
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for chunk in iter(lambda: self.proc.stdout.read1(4096), b""):
            with self.lock:
                self.out += chunk

    def text(self):
        with self.lock:
            return self.out.decode(errors="replace")

    def wait_for(self, pattern, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            m = re.search(pattern, self.text(), re.MULTILINE)
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        return None

    def wait_exit(self, seconds):
        try:
            status = self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None
        self.reader.join(timeout=2)  # the rest of its output
        return status

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            if self.wait_exit(3) is None:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=2)


class AioSmtpd:
    """aiosmtpd with STARTTLS required, in this process; records what it receives."""

    def __init__(self, certs):
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            fail("aiosmtpd is missing: /usr/bin/python3 cannot import it (Debian package: python3-aiosmtpd)")
        self.messages = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(certs, "server-rsa.pem"), os.path.join(certs, "server-rsa.key"))
        self.port = free_port()
        outer = self

        class Sink:
            async def handle_DATA(self, server, session, envelope):
                outer.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                       envelope.content.decode(errors="replace"), session.ssl is not None))
                return "250 OK"

        # The peer's own log of a refused handshake is expected noise here.
        logging.getLogger("mail.log").setLevel(logging.CRITICAL)
        self.ctl = Controller(Sink(), hostname="127.0.0.1", port=self.port, tls_context=ctx,
                              require_starttls=True, server_hostname="localhost")
        self.ctl.start()

    def stop(self):
        self.ctl.stop()


def case_smtp_client(prog, certs):
    server = AioSmtpd(certs)
    try:
        ca = os.path.join(certs, "ca.pem")
        out = run([prog, "127.0.0.1", str(server.port), ca, "localhost"], 0)
        expect(out, r"^S: 220 ", "the greeting")
        expect(out, r"^C: STARTTLS$", "the upgrade")
        expect(out, r"^tls: TLSv1\.[23] via \w+, forward secret: yes, certificate verified: yes$", "the TLS facts")
        expect(out, r"^accepted: 250$", "the message")
        expect(out, r"^C: QUIT$", "the end")
        if len(server.messages) != 1:
            fail(f"aiosmtpd received {len(server.messages)} messages, not 1", out)
        sender, rcpts, data, over_tls = server.messages[0]
        if sender != "alice@example.org" or rcpts != ["bob@example.org"] or "Hello over STARTTLS." not in data:
            fail(f"aiosmtpd received the wrong message: {server.messages[0]!r}", out)
        if not over_tls:
            fail("aiosmtpd received the message in plaintext", out)

        # Refused: a CA that did not sign the server's certificate. The client
        # stops after the failed handshake; nothing is sent, nothing arrives.
        out = run([prog, "127.0.0.1", str(server.port), os.path.join(certs, "other-ca.pem"), "localhost"], 1)
        expect(out, r"^STARTTLS failed: peer certificate is not signed by a trusted CA \(uptls\)$", "the refusal")
        refuse(out, r"^C: MAIL", "a refused server was sent mail")
        if len(server.messages) != 1:
            fail("a message arrived from the client that refused the server", out)
    finally:
        server.stop()


def case_smtp_server(prog, certs):
    import smtplib
    child = Child([prog, os.path.join(certs, "server-rsa.pem"), os.path.join(certs, "server-rsa.key"), "0", "2"])
    try:
        m = child.wait_for(r"^listening on 127\.0\.0\.1:(\d+)$", 10)
        if not m:
            fail("the server did not say where it listens", child.text())
        port = int(m.group(1))

        # Session 1, refused: mail in plaintext (require_tls: 530 before STARTTLS).
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo("plain.example")
            if not s.has_extn("starttls"):
                fail("the server does not offer STARTTLS", child.text())
            code, text = s.mail("eve@example.org")
            if code != 530:
                fail(f"MAIL before STARTTLS got {code} {text!r}, not 530", child.text())
            s.quit()

        # Session 2: STARTTLS, with the server's certificate checked, then a message.
        ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo("client.example")
            s.starttls(context=ctx)  # checks the certificate for 127.0.0.1 (an IP SAN)
            s.ehlo("client.example")
            if s.has_extn("starttls"):
                fail("the server offers STARTTLS again inside TLS", child.text())
            s.sendmail("alice@example.org", ["bob@example.org"], "Subject: hi\r\n\r\nHello, uptls.\r\n")
            s.quit()

        status = child.wait_exit(10)
        out = child.text()
        if status != 0:
            fail(f"the server exited with {status} after its two sessions, not 0", out)
        expect(out, r"^message from <alice@example\.org> to <bob@example\.org> over TLS: yes \(TLSv1\.[23]\)", "the message")
        refuse(out, r"^message from <eve@", "a plaintext message was delivered")
        if len(re.findall(r"^session ended: QUIT$", out, re.MULTILINE)) != 2:
            fail("not two sessions ended with QUIT", out)
        expect(out, r"^stopped: 2 sessions, 2 ended ok, 0 failed$", "the counters")
    finally:
        child.stop()


def s_server(certs, cert, port, extra):
    require_program("openssl", "openssl")
    child = Child(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", os.path.join(certs, cert + ".pem"),
                   "-key", os.path.join(certs, cert + ".key")] + extra)
    if not child.wait_for(r"^ACCEPT", 10):
        child.stop()
        fail("openssl s_server did not start", child.text())
    return child


def case_fallback(prog, certs):
    ca = os.path.join(certs, "ca.pem")
    # A legacy server: TLS 1.2 with plain RSA key exchange only.
    port = free_port()
    server = s_server(certs, "server-rsa", port, ["-tls1_2", "-cipher", "AES128-GCM-SHA256"])
    try:
        out = run([prog, "127.0.0.1", str(port), ca, "localhost"], 0)
        expect(out, r"^observer: attempt 1/2 \w+ strict: handshake failed: handshake_failure .*alert 40.* -> next rung: ", "attempt 1")
        expect(out, r"^observer: attempt 2/2 \w+ legacy: connected: TLSv1\.2 .*RSA.* -> won", "attempt 2")
        expect(out, r"^outcome 127\.0\.0\.1:\d+: ok: attempt 2 .* won after a fallback from attempt 1", "the outcome")
        expect(out, r"^fell back: yes$", "the verdict")
        if not server.wait_for(r"hello from the ladder", 5):
            fail("s_server did not receive the line sent over the fallback session", out + "\n" + server.text())
    finally:
        server.stop()

    # Refused: a modern server with a certificate for another name. A name error
    # is never retried: the ladder stops at attempt 1.
    port = free_port()
    server = s_server(certs, "wronghost", port, [])
    try:
        out = run([prog, "127.0.0.1", str(port), ca, "localhost"], 1)
        expect(out, r"^observer: attempt 1/2 \w+ strict: .*cert_name_mismatch.* -> stop: certificate and name errors are never retried", "the refusal")
        refuse(out, r"attempt 2/2", "the ladder went on after a name error")
        expect(out, r"^no session: peer certificate does not match the expected name$", "the error")
    finally:
        server.stop()


def case_poll_client(prog, certs):
    server = AioSmtpd(certs)
    try:
        out = run([prog, "127.0.0.1", str(server.port), os.path.join(certs, "ca.pem"), "localhost"], 0)
        expect(out, r"^C: STARTTLS$", "the upgrade")
        expect(out, r"^accepted: 250$", "the message")
        m = re.search(r"^done after (\d+) poll\(\) wake-ups", out, re.MULTILINE)
        if not m or int(m.group(1)) < 3:
            fail("the client did not wait in poll() (greeting, replies, handshake)", out)
        if len(server.messages) != 1 or not server.messages[0][3]:
            fail(f"aiosmtpd did not receive one message over TLS: {server.messages!r}", out)
    finally:
        server.stop()
    # Refused: nobody listens. The non-blocking connect fails on the first wait.
    out = run([prog, "127.0.0.1", str(free_port()), os.path.join(certs, "ca.pem"), "localhost"], 1)
    expect(out, r"^STARTTLS failed: connection refused$", "the refusal")


def case_asio(prog, certs):
    out = run([prog, os.path.join(certs, "ca.pem"), os.path.join(certs, "server-rsa.pem"),
               os.path.join(certs, "server-rsa.key")], 0)
    expect(out, r"^client S: 220 ", "the client's greeting")
    expect(out, r"^server S: 220 ", "the server's go-ahead")
    expect(out, r"^client C: STARTTLS$", "the upgrade")
    expect(out, r"^client: sent, QUIT$", "the client's end")
    expect(out, r"^server: 1 message\(s\) over TLS, session ended: QUIT$", "the server's end")
    # Refused: a client that trusts another CA gets no session.
    out = run([prog, os.path.join(certs, "other-ca.pem"), os.path.join(certs, "server-rsa.pem"),
               os.path.join(certs, "server-rsa.key")], 1)
    expect(out, r"^client: peer certificate is not signed by a trusted CA$", "the refusal")
    expect(out, r"^server: 0 message\(s\) over TLS", "nothing delivered")


def case_demo_smtp(prog, certs):
    # What ./dev demo runs first: a uptls server and client per backend.
    out = run([prog, "--certs", certs], 0)
    expect(out, r"^=== summary: .*: delivered", "the summary")
    refuse(out, r"FAILED", "a backend failed")
    # Refused: bad usage names the usage.
    expect(run([prog], 2), r"^usage: ", "the usage")


def case_demo_fallback(prog, certs):
    # What ./dev demo runs second: the ladder against openssl s_server and aiosmtpd.
    require_program("openssl", "openssl")
    out = run([prog, "--certs", certs], 0)
    expect(out, r"^-- 1\. strict client alone", "part 1")
    expect(out, r"^== done: part 1 passed, part 2 passed$", "both parts")


CASES = {
    "demo-smtp": case_demo_smtp,
    "demo-fallback": case_demo_fallback,
    "smtp-client": case_smtp_client,
    "smtp-server": case_smtp_server,
    "fallback": case_fallback,
    "poll-client": case_poll_client,
    "asio": case_asio,
}

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in CASES:
        sys.exit("usage: run.py {" + ",".join(CASES) + "} PROGRAM CERTS_DIR")
    CASES[sys.argv[1]](sys.argv[2], sys.argv[3])
    print(f"example {sys.argv[1]} ok")
