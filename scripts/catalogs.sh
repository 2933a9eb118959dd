#!/usr/bin/env bash
# Re-extract the texts from the code and merge them into every catalog (run after changing texts).
# The code's texts are English, so the English catalog is filled with them; Vietnamese needs a
# translator for every new text (tests/test_i18n.py fails until it has one).
set -euo pipefail
cd "$(dirname "$0")/.."
pot=chidoan/locales/chidoan.pot
pybabel extract -F babel.cfg -k N_ -k say -k t -c TRANSLATORS: --no-location --sort-output --omit-header -o "$pot" . >/dev/null 2>&1
for locale in vi en; do
  po=chidoan/locales/$locale/LC_MESSAGES/chidoan.po
  if [ -f "$po" ]; then
    pybabel update -i "$pot" -d chidoan/locales -D chidoan -l "$locale" --no-fuzzy-matching --ignore-obsolete >/dev/null 2>&1
  else
    pybabel init -i "$pot" -d chidoan/locales -D chidoan -l "$locale" >/dev/null 2>&1
  fi
done
python - <<'PY'
from babel.messages.pofile import read_po, write_po
path = "chidoan/locales/en/LC_MESSAGES/chidoan.po"
with open(path, "rb") as fp:
    catalog = read_po(fp, locale="en")
for message in catalog:
    if message.id and not message.string:
        message.string = message.id
with open(path, "wb") as fp:
    write_po(fp, catalog, width=100, sort_output=True, omit_header=False)
PY
missing=$(python -c "
from babel.messages.pofile import read_po
c = read_po(open('chidoan/locales/vi/LC_MESSAGES/chidoan.po', 'rb'), locale='vi')
print(sum(1 for m in c if m.id and not m.string))")
echo "catalogs updated: $(grep -c '^msgid ' "$pot") texts; Vietnamese still to translate: $missing"
