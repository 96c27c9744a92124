#!/usr/bin/python3
"""The matrix page in a real browser: runs `uptls matrix --html --json`, loads
the page in headless Chromium (Debian: chromium) and checks from the rendered
DOM that every cell of the JSON report is there, once, with its outcome class
and its verdict. With --screenshot FILE it also saves a PNG of the page.

    html_test.py UPTLS [--screenshot FILE] [uptls matrix options...]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser


def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    sys.exit(1)


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    fail("headless Chromium is needed to check the page: install the Debian package 'chromium' (./dev setup does)")


class Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells = {}
        self.legend = set()
        self.summary = False
        self._in = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        if tag == "td" and "data-cell" in a:
            name = a["data-cell"]
            if name in self.cells:
                fail(f"cell {name} appears twice in the page")
            self.cells[name] = {"classes": classes, "title": a.get("title", ""), "text": ""}
            self._in = name
            self._text = []
        if tag == "p" and a.get("id") == "summary":
            self.summary = True
        if tag == "span" and classes:
            self.legend |= classes

    def handle_data(self, data):
        if self._in:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._in:
            self.cells[self._in]["text"] = "".join(self._text)
            self._in = None


def main():
    args = sys.argv[1:]
    if not args:
        fail("usage: html_test.py UPTLS [--screenshot FILE] [matrix options]")
    uptls, rest = args[0], args[1:]
    shot = None
    if rest[:1] == ["--screenshot"]:
        shot, rest = rest[1], rest[2:]
    browser = chromium()
    with tempfile.TemporaryDirectory() as tmp:
        page, report = os.path.join(tmp, "matrix.html"), os.path.join(tmp, "matrix.json")
        run = subprocess.run([uptls, "matrix", "--quiet", "--html", page, "--json", report] + rest,
                             capture_output=True, text=True, timeout=240)
        if run.returncode != 0:
            fail(f"uptls matrix exited {run.returncode}:\n{run.stdout}\n{run.stderr}")
        cells = json.load(open(report))["cells"]
        # Chromium as root needs --no-sandbox; its profile goes in the temporary folder.
        base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + os.path.join(tmp, "profile")]
        try:
            dom = subprocess.run(base + ["--dump-dom", "file://" + page], capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            fail("chromium --dump-dom did not finish in 120 s")
        if dom.returncode != 0 or "<table" not in dom.stdout:
            fail(f"chromium --dump-dom failed ({dom.returncode}): {dom.stderr[-2000:]}")
        parsed = Cells()
        parsed.feed(dom.stdout)
        if not parsed.summary:
            fail("the rendered page has no summary")
        for want in ("ok13", "ok12", "fallback", "refused", "na", "mismatch"):
            if want not in parsed.legend:
                fail(f"the legend has no '{want}'")
        for c in cells:
            got = parsed.cells.get(c["name"])
            if got is None:
                fail(f"cell {c['name']} is missing from the rendered page")
            if c["outcome"] not in got["classes"]:
                fail(f"cell {c['name']}: class {sorted(got['classes'])}, the report says {c['outcome']}")
            verdict = "match" if c["matched"] else "mismatch"
            if verdict not in got["classes"]:
                fail(f"cell {c['name']}: not marked {verdict}")
            if "expected: " not in got["title"]:
                fail(f"cell {c['name']}: no expectation in its title")
            g = c["got"]
            if g.get("ok") and g["cipher"].replace("TLS_", "", 1).split("_WITH_")[-1] not in got["text"]:
                fail(f"cell {c['name']}: the page says '{got['text']}', not the suite {g['cipher']}")
            if not g.get("ok") and g.get("error") and not c["client_is_peer"] and g["error"] not in got["text"]:
                fail(f"cell {c['name']}: the page says '{got['text']}', not the error {g['error']}")
        extra = set(parsed.cells) - {c["name"] for c in cells}
        if extra:
            fail(f"the page has cells the report does not: {sorted(extra)[:5]}")
        print(f"{len(cells)} cells rendered by {browser}, each with its class and verdict")
        if shot:
            r = subprocess.run(base + ["--hide-scrollbars", "--window-size=1500,2400", "--screenshot=" + os.path.abspath(shot),
                                       "file://" + page], capture_output=True, text=True, timeout=120)
            if r.returncode != 0 or not os.path.exists(shot) or open(shot, "rb").read(8) != b"\x89PNG\r\n\x1a\n":
                fail(f"chromium --screenshot failed: {r.stderr[-2000:]}")
            print("screenshot:", os.path.abspath(shot))


if __name__ == "__main__":
    main()
