#!/usr/bin/env python3
"""check-po.py SOURCE-ROOT — the translations are complete and cover every string.

1. POTFILES lists exactly the source files (src/, tests excluded) that contain
   translatable strings — _( N_( C_( NC_( — plus the data/*.in files it names, and every
   listed file exists.
2. For every language in LINGUAS, the catalogue is complete for the strings in the sources
   as they are now: xgettext extracts the messages of POTFILES, and msgcmp finds each of them
   translated (not missing, not fuzzy, not empty) in LL.po.
3. msgfmt --check --statistics accepts LL.po (format strings match their msgids) and
   reports no untranslated and no fuzzy messages.
Prints what it checked; exit 1 on any problem, 77 (skip) when gettext is not installed."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

MARK = re.compile(r'(?<![A-Za-z0-9_])(?:N_|_|C_|NC_)\s*\(')


def main(root):
    for tool in ("xgettext", "msgfmt", "msgcmp"):
        if not shutil.which(tool):
            print("%s not installed (gettext): skipped" % tool)
            return 77
    po = os.path.join(root, "po")
    with open(os.path.join(po, "POTFILES"), encoding="utf-8") as f:
        listed = [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]
    ok = True
    for p in listed:
        if not os.path.isfile(os.path.join(root, p)):
            print("POTFILES lists %s, which does not exist" % p)
            ok = False
    found = set()
    for sub in ("src",):
        for d, _dirs, files in os.walk(os.path.join(root, sub)):
            for name in files:
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(d, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                # the gettext macros' own definitions are not strings
                if MARK.search(text):
                    found.add(os.path.relpath(path, root))
    listed_src = {p for p in listed if p.startswith("src/")}
    for p in sorted(found - listed_src):
        print("%s has translatable strings but is not in po/POTFILES" % p)
        ok = False
    for p in sorted(listed_src - found):
        print("po/POTFILES lists %s, which has no translatable strings" % p)
        ok = False
    print("POTFILES: %d files listed, %d source files with strings" % (len(listed), len(found)))

    with open(os.path.join(po, "LINGUAS"), encoding="utf-8") as f:
        langs = [w for l in f if not l.startswith("#") for w in l.split()]
    with tempfile.TemporaryDirectory() as tmp:
        pot = os.path.join(tmp, "tessera.pot")
        cmd = ["xgettext", "--from-code=UTF-8", "--directory=" + root, "--files-from=" + os.path.join(po, "POTFILES"),
               "--keyword=_", "--keyword=N_", "--keyword=C_:1c,2", "--keyword=NC_:1c,2",
               "--keyword=g_dngettext:2,3", "--output=" + pot]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print("xgettext failed:\n" + r.stderr)
            return 1
        for lang in langs:
            pofile = os.path.join(po, lang + ".po")
            r = subprocess.run(["msgcmp", pofile, pot], capture_output=True, text=True)
            if r.returncode != 0:
                missing = [l for l in r.stderr.splitlines() if "this message" in l or "msgid" in l]
                print("%s.po does not translate every message of the sources (%d problems):"
                      % (lang, len(missing)))
                print("\n".join(r.stderr.splitlines()[:40]))
                ok = False
            r = subprocess.run(["msgfmt", "--check", "--statistics", "-o", os.devnull, pofile],
                               capture_output=True, text=True)
            stats = (r.stderr + r.stdout).strip()
            print("%s.po: %s" % (lang, stats))
            if r.returncode != 0 or "untranslated" in stats or "fuzzy" in stats:
                print("%s.po: msgfmt --check found problems" % lang)
                ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
