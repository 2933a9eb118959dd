"""Words people type instead of pressing a button, in one place.

Each set holds folded words (lower case, no accents: see i18n.fold). `SYNONYMS` maps a button's
label (a msgid, or a label shown as is, like a language's name) to the words that stand for it:
a typed "co" presses "Yes"/"Có", "bo qua" presses "Skip"/"Bỏ qua", in either language.
"""

from __future__ import annotations

from chidoan.i18n import N_

YES_WORDS = frozenset({"co", "c", "yes", "y", "dong y", "ok", "oke", "okay", "u", "uh", "vang", "da", "co a"})
NO_WORDS = frozenset({"khong", "k", "ko", "no", "n", "thoi", "khong a", "kh"})
SKIP_WORDS = frozenset({"bo qua", "skip", "-"})
SUBMIT_WORDS = frozenset({"gui", "gui di", "xac nhan", "dong y", "send", "submit", "confirm", "luu", "save", "nop"})
EDIT_WORDS = frozenset({"sua", "chinh sua", "sua lai", "edit"})
BACK_WORDS = frozenset({"quay lai", "tro lai", "lui", "lui lai", "back"})
DONE_WORDS = frozenset({"xong", "xong roi", "done", "het", "da gui het"})
CANCEL_WORDS = frozenset({"huy", "huy bo", "cancel"})
# At "keep this value?" (engine/runner.py, a step's doubt): keep it, or type the answer again.
# Not "giữ nguyên": while editing, that keeps the answer already stored (KEEP_WORDS).
KEEP_TYPED_WORDS = YES_WORDS | {"giu", "giu nhu da nhap", "keep", "keep it", "keep as typed"}
RETYPE_WORDS = NO_WORDS | {"nhap lai", "go lai", "type again", "retype"}
# Editing: the answer stays as it was (never stored as the new answer).
KEEP_WORDS = frozenset(
    {"giu nguyen", "giu nguyen nhu cu", "giu nhu cu", "nhu cu", "keep", "keep it", "keep as it is", "unchanged"}
)
# A whole answer saying "nothing" at an optional free-text step: that step skipped, not "ko" stored.
NOTHING_WORDS = frozenset({"ko", "k", "kh", "khong", "khong co", "ko co", "k co", "khong co gi", "none", "nothing"})
USE_WORDS = frozenset({"dung", "dung goi y", "dung noi dung goi y", "use", "use it", "use the suggestion"})

# Short forms typed for the words suggestions write out ("BCH": "Ban Chấp hành"), and the long
# form of one that labels write short ("Chủ tịch UBND phường"); folded, whole words (see typed.py).
SHORT_FORMS = {"bch": "ban chap hanh", "btv": "ban thuong vu", "uy ban nhan dan": "ubnd"}

SYNONYMS: dict[str, frozenset[str]] = {
    N_("Yes"): YES_WORDS,
    N_("No"): NO_WORDS,
    N_("Yes, add another"): YES_WORDS,
    N_("No, continue"): NO_WORDS,
    N_("Skip"): SKIP_WORDS,
    N_("« Back"): BACK_WORDS,
    N_("✅ Done"): DONE_WORDS,
    N_("Cancel"): CANCEL_WORDS,
    N_("✅ Send"): SUBMIT_WORDS,
    N_("✅ Save"): SUBMIT_WORDS,
    N_("✅ Confirm"): SUBMIT_WORDS,
    N_("✅ Send the report"): SUBMIT_WORDS,
    N_("✅ Submit the plan"): SUBMIT_WORDS,
    N_("✏️ Edit"): EDIT_WORDS,
    N_("✏️ Edit the plan"): EDIT_WORDS,
    N_("Edit anyway"): EDIT_WORDS,
    N_("✅ Use the suggested text"): USE_WORDS,
    N_("✅ Keep as typed"): KEEP_TYPED_WORDS,
    N_("✏️ Type again"): RETYPE_WORDS,
    N_("Keep as it is"): KEEP_WORDS,
    N_("Continue"): frozenset({"tiep tuc", "tiep", "continue"}),
    "English": frozenset({"tieng anh", "anh", "english", "en"}),
    "Tiếng Việt": frozenset({"tieng viet", "viet", "vietnamese", "vi"}),
}
