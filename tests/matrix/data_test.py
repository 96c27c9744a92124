#!/usr/bin/python3
"""The matrix's data file and its refusals: every cell is listed once with the
expectation the rules give it; a wrong expectation fails naming its cell; a
bad data file, a bad filter or missing certificates are refused with words.

    data_test.py UPTLS CERTS
"""
import json
import os
import subprocess
import sys
import tempfile

uptls, certs = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
data = json.load(open(os.path.join(here, "expected.json")))
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(*args, data_file=None):
    argv = [uptls, "matrix", "--certs", certs] + list(args)
    if data_file:
        argv += ["--expect", data_file]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def variant(edit):
    """A copy of the data file (next to the original: the helpers live there) changed by edit()."""
    d = json.loads(json.dumps(data))
    edit(d)
    f = tempfile.NamedTemporaryFile("w", suffix=".json", dir=here, delete=False)
    json.dump(d, f)
    f.close()
    return f.name


backends = [b["name"] for b in json.loads(subprocess.run([uptls, "backends", "--json"], capture_output=True,
                                                         text=True, timeout=30).stdout)["backends"]]

# 1. Every cell listed once, each with a rule or a capability need.
listed = run("--list")
check(listed.returncode == 0, f"--list exited {listed.returncode}: {listed.stderr}")
lines = [l for l in listed.stdout.splitlines() if l]
names = [l.split(": ", 1)[0] for l in lines]
check(len(names) == len(set(names)), "a cell is listed twice")
modes = sum(len(p["modes"]) for p in data["protocols"].values())
configs = len(data["server_configs"])
profiles = len([p for p in data["client_profiles"] if p != "default"])
want = modes * configs * (len(backends) * profiles * (len(backends) + len(data["peers"]["servers"]))
                          + len(data["peers"]["clients"]) * len(backends))
check(len(names) == want, f"{len(names)} cells listed, the dimensions make {want}")
check(all(("[rule " in l) or ("[needs " in l) for l in lines), "a cell without the rule that gave its expectation")
caps = {b["name"]: b["capabilities"] for b in json.loads(subprocess.run([uptls, "backends", "--json"],
        capture_output=True, text=True, timeout=30).stdout)["backends"]}
for b, c in caps.items():
    line = next(l for l in lines if l.startswith(f"smtp/starttls/openssl:strict->{b}/tls13:") or
                l.startswith(f"smtp/starttls/{backends[0]}:strict->{b}/tls13:"))
    check(("not run" in line) == (not c["tls13"]), f"the TLS 1.3 server cell of {b} is not marked by capability: {line}")
rsa_only = [l for l in lines if "/tls12-rsa-kx:" in l and "->aiosmtpd/" not in l]
check(rsa_only and all("not run" in l for l in rsa_only), "uptls servers are not marked unable to serve RSA-only")

# 2. A wrong expectation fails, naming the cell and both outcomes.
def flip(d):
    for r in d["rules"]:
        if r.get("when") == {"server_config": "expired"}:
            r["expect"] = {"error": "cert_name_mismatch"}
wrong = variant(flip)
try:
    b = backends[0]
    r = run("--quiet", "--only", f"client={b}", "--only", f"server={b}", "--only", "server_config=expired",
            "--only", "client_profile=strict", data_file=wrong)
    check(r.returncode == 1, f"a wrong expectation: exit {r.returncode}, not 1")
    for mode in ("starttls", "implicit"):
        cell = f"smtp/{mode}/{b}:strict->{b}/expired"
        check(f"NOT AS EXPECTED {cell}" in r.stderr and "failed with cert_expired, expected cert_name_mismatch" in r.stderr,
              f"the wrong expectation's cell {cell} is not named with both outcomes: {r.stderr}")
finally:
    os.unlink(wrong)

# 3. Bad data files are refused before anything runs, with words.
def bad_file(edit, words, what):
    f = variant(edit)
    try:
        r = run("--list", data_file=f)
        check(r.returncode == 2 and words in r.stderr, f"{what}: exit {r.returncode}, stderr {r.stderr!r}")
    finally:
        os.unlink(f)

bad_file(lambda d: d.update(rules=[]), "no rule matches the cell", "no rules")
bad_file(lambda d: d["rules"].append({"when": {"colour": "red"}, "expect": {"error": "eof"}}),
         "unknown dimension 'colour'", "an unknown dimension")
bad_file(lambda d: d["rules"].append({"expect": {"ok": "TLSv1.3", "suite": "no-such-family"}}),
         "unknown suite family 'no-such-family'", "an unknown suite family")
bad_file(lambda d: d["rules"].append({"client_caps": {"telepathy": True}, "expect": {"error": "eof"}}),
         "unknown capability 'telepathy'", "an unknown capability")
bad_file(lambda d: d["rules"].append({"expect": {"maybe": True}}), "has none of ok, error, peer_error", "an empty expectation")
r = run("--list", data_file="/nonexistent/expected.json")
check(r.returncode == 2 and "cannot read the data file" in r.stderr, f"a missing data file: {r.returncode} {r.stderr!r}")
notjson = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
notjson.write("{ not json")
notjson.close()
r = run("--list", data_file=notjson.name)
os.unlink(notjson.name)
check(r.returncode == 2 and "not JSON" in r.stderr, f"a file that is not JSON: {r.returncode} {r.stderr!r}")

# 4. Bad filters and missing certificates.
r = run("--only", "colour=red")
check(r.returncode == 2 and "no dimension 'colour'" in r.stderr, f"a bad --only: {r.returncode} {r.stderr!r}")
r = run("--only", "client")
check(r.returncode == 2 and "KEY=VALUE" in r.stderr, f"--only without '=': {r.returncode} {r.stderr!r}")
r = run("--only", "client=nobody")
check(r.returncode == 2 and "no cell matches" in r.stderr, f"a filter matching nothing: {r.returncode} {r.stderr!r}")
r = subprocess.run([uptls, "matrix", "--certs", "/nonexistent", "--only", "client=" + backends[0]],
                   capture_output=True, text=True, timeout=60)
check(r.returncode == 2 and "no ca.pem" in r.stderr, f"missing certificates: {r.returncode} {r.stderr!r}")
# A real client that is not there is named with its Debian package, before any cell runs.
r = subprocess.run([uptls, "matrix", "--certs", certs, "--only", "client=curl"], capture_output=True, text=True,
                   timeout=60, env=dict(os.environ, PATH="/nonexistent"))
check(r.returncode == 2 and "the matrix needs 'curl' (Debian: curl)" in r.stderr, f"a missing peer: {r.returncode} {r.stderr!r}")
r = run("--jobs", "0")
check(r.returncode == 2 and "--jobs" in r.stderr, f"--jobs 0: {r.returncode} {r.stderr!r}")

if failures:
    sys.exit(1)
print(f"{len(names)} cells listed with their expectations; refusals checked")
