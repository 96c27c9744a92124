#!/usr/bin/python3
"""An aiosmtpd STARTTLS server for the fallback tests and the demo.

--mode legacy: TLS 1.2 with plain RSA key exchange only (AES128-GCM-SHA256), like the
old mail services the fallback ladder exists for. asyncio closes the socket on a
failed handshake without sending an alert, so a strict client sees EOF.
--mode modern: the ssl module's defaults (TLS 1.3, forward secrecy).
Prints "READY <port>" once it accepts connections; runs until stdin closes or it
is terminated.
"""
import argparse
import signal
import ssl
import sys

from aiosmtpd.controller import Controller


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--mode", choices=["legacy", "modern"], default="legacy")
    args = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.mode == "legacy":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("AES128-GCM-SHA256")

    ctl = Controller(Sink(), hostname="127.0.0.1", port=args.port, tls_context=ctx,
                     require_starttls=True, server_hostname="localhost")
    ctl.start()
    print("READY", args.port, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (ctl.stop(), sys.exit(0)))
    try:
        sys.stdin.read()  # until the parent closes our stdin or goes away
    finally:
        ctl.stop()


if __name__ == "__main__":
    main()
