#!/usr/bin/python3
"""Python's smtplib as a matrix client: peer_smtplib.py starttls|implicit PORT CA SECONDS.

Sends one message to localhost:PORT over TLS verified against CA; on failure
prints the exception (its type and Python's own words) and exits 1.
"""
import smtplib
import ssl
import sys

mode, port, ca, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
msg = "Subject: uptls matrix\r\n\r\nOne message per cell.\r\n"
try:
    ctx = ssl.create_default_context(cafile=ca)
    if mode == "implicit":
        s = smtplib.SMTP_SSL("localhost", port, local_hostname="client.example", context=ctx, timeout=secs)
    else:
        s = smtplib.SMTP("localhost", port, local_hostname="client.example", timeout=secs)
        s.starttls(context=ctx)
    s.sendmail("matrix@example.org", ["rcpt@example.org"], msg)
    s.quit()
except Exception as e:
    print(f"{type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
