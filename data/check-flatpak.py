#!/usr/bin/env python3
"""check-flatpak.py MANIFEST.json — the Flatpak manifest parses and has what Tessera needs:
the app id, a GNOME runtime of 2024 or later (46+) with its SDK, the tessera command, the
modules cfitsio, fftw3 (single precision, threads), sep and tessera (meson, last), and
every archive source pinned by sha256. Prints what it checked; exit 1 on the first problem."""
import json
import sys


def fail(msg):
    print("flatpak manifest: " + msg)
    sys.exit(1)


def main(path):
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        fail("cannot read %s: %s" % (path, e))
    for key in ("id", "runtime", "runtime-version", "sdk", "command", "modules", "finish-args"):
        if key not in m:
            fail("missing '%s'" % key)
    if m["id"] != "io.github.tessera.Tessera":
        fail("id is %r" % m["id"])
    if m["runtime"] != "org.gnome.Platform" or m["sdk"] != "org.gnome.Sdk":
        fail("runtime/sdk are %r/%r, want org.gnome.Platform/org.gnome.Sdk" % (m["runtime"], m["sdk"]))
    try:
        version = int(str(m["runtime-version"]))
    except ValueError:
        fail("runtime-version %r is not a GNOME release number" % m["runtime-version"])
    if version < 46:
        fail("runtime-version %d is older than GNOME 46 (2024)" % version)
    if m["command"] != "tessera":
        fail("command is %r" % m["command"])
    args = m["finish-args"]
    for need in ("--share=ipc", "--socket=wayland", "--socket=fallback-x11"):
        if need not in args:
            fail("finish-args lack %s" % need)
    mods = {}
    for mod in m["modules"]:
        if not isinstance(mod, dict) or "name" not in mod or "sources" not in mod:
            fail("every module needs a name and sources")
        mods[mod["name"]] = mod
        for src in mod["sources"]:
            if src.get("type") == "archive" and len(src.get("sha256", "")) != 64:
                fail("module %s: archive %s is not pinned by sha256" % (mod["name"], src.get("url")))
            if src.get("type") == "git" and not (src.get("tag") or src.get("commit")):
                fail("module %s: git source without tag or commit" % mod["name"])
    for need in ("cfitsio", "sep", "tessera"):
        if need not in mods:
            fail("module %s missing" % need)
    fftw = [n for n in mods if n.startswith("fftw3")]
    if not fftw:
        fail("module fftw3 missing")
    opts = mods[fftw[0]].get("config-opts", [])
    for need in ("--enable-float", "--enable-threads"):
        if need not in opts:
            fail("fftw3 lacks %s" % need)
    if m["modules"][-1]["name"] != "tessera":
        fail("tessera must be the last module (it links the others)")
    if mods["tessera"].get("buildsystem") != "meson":
        fail("tessera must build with meson")
    print("flatpak manifest %s: ok (%s %s, modules %s)"
          % (path, m["runtime"], m["runtime-version"], ", ".join(mods)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    main(sys.argv[1])
