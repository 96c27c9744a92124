"""An aiosmtpd SMTP server with STARTTLS required, for the uptls client tests.

Usage: aiosmtpd_server.py PORT CERT KEY [--no-tls]
Prints READY when it listens on 127.0.0.1:PORT, then one MESSAGE line per
delivered message (a JSON object), and runs until it is terminated.
"""
import json
import ssl
import sys
import time

from aiosmtpd.controller import Controller


class Handler:
    async def handle_DATA(self, server, session, envelope):
        print("MESSAGE " + json.dumps({
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "tls": session.ssl is not None,
            "helo": session.host_name,
            "cipher": session.ssl.get("cipher") if session.ssl else None,
        }), flush=True)
        return "250 Message accepted for delivery"


def main():
    port = int(sys.argv[1])
    use_tls = "--no-tls" not in sys.argv
    kwargs = {}
    if use_tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        kwargs = {"tls_context": context, "require_starttls": True}
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, ready_timeout=10, **kwargs)
    controller.start()
    print("READY", flush=True)
    try:
        while True:
            time.sleep(1)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
