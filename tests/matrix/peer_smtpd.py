#!/usr/bin/python3
"""The aiosmtpd server of the compatibility matrix (uptls matrix).

One process serves every server configuration of the matrix in both modes
(STARTTLS and implicit TLS), each on its own loopback port, with Python's ssl
module (OpenSSL underneath) configured as the data file says:

    peer_smtpd.py CERTS ID:CERT:MIN:MAX:KX ...

MIN/MAX are TLSv1.2, TLSv1.3 or '-'; KX is 'rsa' (plain RSA key exchange only)
or 'ecdhe' (forward secret only when MAX is TLSv1.2). Prints
"PORT ID starttls|implicit N" for each, then "READY"; runs until its standard
input closes.
"""
import logging
import socket
import ssl
import sys

from aiosmtpd.controller import Controller


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def context(certs, cert, lo, hi, kx):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(f"{certs}/{cert}.pem", f"{certs}/{cert}.key")
    versions = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
    ctx.minimum_version = versions.get(lo, ssl.TLSVersion.TLSv1_2)
    if hi in versions:
        ctx.maximum_version = versions[hi]
    if hi == "TLSv1.2":
        ctx.set_ciphers("AES128-GCM-SHA256:AES256-GCM-SHA384" if kx == "rsa" else "ECDHE+AESGCM:ECDHE+CHACHA20")
    return ctx


class ImplicitController(Controller):
    # The readiness check of aiosmtpd connects with a client context of its
    # own; a plain TCP connect is enough here (the port is ours).
    def _trigger_server(self):
        with socket.create_connection((self.hostname, self.port), timeout=5):
            pass


def main():
    # A refused handshake is an outcome of the matrix, not news: aiosmtpd's
    # tracebacks would bury the report.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL + 1)
    certs = sys.argv[1]
    controllers = []
    for spec in sys.argv[2:]:
        ident, cert, lo, hi, kx = spec.split(":")
        ctx = context(certs, cert, lo, hi, kx)
        for mode in ("starttls", "implicit"):
            port = free_port()
            if mode == "starttls":
                ctl = Controller(Sink(), hostname="127.0.0.1", port=port, tls_context=ctx,
                                 require_starttls=True, server_hostname="localhost")
            else:
                ctl = ImplicitController(Sink(), hostname="127.0.0.1", port=port, ssl_context=ctx,
                                         server_hostname="localhost")
            ctl.start()
            controllers.append(ctl)
            print("PORT", ident, mode, port, flush=True)
    print("READY", flush=True)
    try:
        sys.stdin.read()
    finally:
        for ctl in controllers:
            try:
                ctl.stop()
            except Exception:
                pass


if __name__ == "__main__":
    main()
