#!/bin/sh
# validate-data.sh DESKTOP METAINFO SCHEMA-DIR FLATPAK-MANIFEST CHECK-FLATPAK.PY
# Runs desktop-file-validate, appstreamcli validate --no-net (or appstream-util),
# glib-compile-schemas --strict --dry-run and the Flatpak manifest check; prints what each
# validator said. Exit 0 when every available check passed, 77 (skip) when none could run.
set -u
desktop=$1 metainfo=$2 schemadir=$3 manifest=$4 checker=$5
ran=0 failed=0

check () {
  name=$1; shift
  echo "== $name: $*"
  if "$@"; then
    echo "== $name: ok"
  else
    echo "== $name: FAILED"
    failed=1
  fi
  ran=1
}

if command -v desktop-file-validate >/dev/null; then
  check desktop-file-validate desktop-file-validate "$desktop"
else
  echo "== desktop-file-validate not installed (desktop-file-utils): skipped"
fi

if command -v appstreamcli >/dev/null; then
  check appstreamcli appstreamcli validate --no-net --explain "$metainfo"
elif command -v appstream-util >/dev/null; then
  check appstream-util appstream-util validate-relax --nonet "$metainfo"
else
  echo "== appstreamcli / appstream-util not installed (appstream): skipped"
fi

if command -v glib-compile-schemas >/dev/null; then
  check glib-compile-schemas glib-compile-schemas --strict --dry-run "$schemadir"
else
  echo "== glib-compile-schemas not installed (libglib2.0-bin): skipped"
fi

if command -v python3 >/dev/null; then
  check flatpak-manifest python3 "$checker" "$manifest"
else
  echo "== python3 not installed: flatpak manifest check skipped"
fi

[ "$failed" -ne 0 ] && exit 1
[ "$ran" -eq 0 ] && exit 77
exit 0
