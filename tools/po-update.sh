#!/bin/sh
# List the sources with messages in po/POTFILES, bring po/LL.po up to date with the sources (new messages appear untranslated, removed ones
# become obsolete) and list what is left to translate. po/check-po.py (the `po` test) fails
# until every message is translated. Usage: tools/po-update.sh [LL]   (default: every LINGUAS)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
# POTFILES: every source file with a translatable string (po/check-po.py checks the same)
{ head -n 1 "$root/po/POTFILES"; cd "$root" && ls data/*.in ui/*.ui;
  grep -lE '(^|[^A-Za-z0-9_])(N_|_|C_|NC_) *\(' src/app/*.c src/cli/*.c src/engine/*/*.c | sort; } > "$root/po/POTFILES.new"
mv "$root/po/POTFILES.new" "$root/po/POTFILES"
pot=$(mktemp --suffix=.pot)
trap 'rm -f "$pot"' EXIT
xgettext --from-code=UTF-8 --directory="$root" --files-from="$root/po/POTFILES" \
  --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 --keyword=g_dngettext:2,3 \
  --package-name=tessera --output="$pot"
for lang in ${1:-$(grep -v '^#' "$root/po/LINGUAS")}; do
  msgmerge --quiet --update --backup=none --no-fuzzy-matching "$root/po/$lang.po" "$pot"
  msgattrib --no-obsolete --output-file="$root/po/$lang.po" "$root/po/$lang.po"
  echo "== $lang: untranslated"
  msgattrib --untranslated --no-wrap "$root/po/$lang.po" | grep -A1 '^msgid' | grep -v '^--' || true
done
