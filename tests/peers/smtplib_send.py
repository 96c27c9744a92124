"""Sends one message with Python's smtplib over STARTTLS, verifying the server.

Usage: smtplib_send.py HOST PORT CAFILE
Prints the negotiated version and cipher, then SENT; exits non-zero on any failure.
"""
import smtplib
import ssl
import sys

host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
context = ssl.create_default_context(cafile=cafile)
body = "Subject: from smtplib\r\n\r\nhello from python smtplib\r\n.leading dot\r\n"
with smtplib.SMTP(host, port, local_hostname="smtplib.example", timeout=10) as smtp:
    smtp.ehlo()
    if not smtp.has_extn("starttls"):
        sys.exit("server did not offer STARTTLS")
    smtp.starttls(context=context)
    smtp.ehlo()
    if smtp.has_extn("starttls"):
        sys.exit("STARTTLS still offered after TLS")
    print("TLS", smtp.sock.version(), smtp.sock.cipher()[0], flush=True)
    refused = smtp.sendmail("py@example.org", ["rcpt@example.org"], body)
    if refused:
        sys.exit("refused: %r" % refused)
print("SENT", flush=True)
