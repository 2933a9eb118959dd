#!/usr/bin/env bash
# Re-extract the texts from the code and merge them into every catalog (run after changing texts).
set -euo pipefail
cd "$(dirname "$0")/.."
pot=chidoan/locales/chidoan.pot
pybabel extract -F babel.cfg -k N_ -k say -k t --no-location --sort-output --omit-header -o "$pot" . >/dev/null 2>&1
for locale in vi en; do
  po=chidoan/locales/$locale/LC_MESSAGES/chidoan.po
  if [ -f "$po" ]; then
    pybabel update -i "$pot" -d chidoan/locales -D chidoan -l "$locale" --no-fuzzy-matching --ignore-obsolete >/dev/null 2>&1
  else
    pybabel init -i "$pot" -d chidoan/locales -D chidoan -l "$locale" >/dev/null 2>&1
  fi
done
echo "catalogs updated: $(grep -c '^msgid ' "$pot") texts"
