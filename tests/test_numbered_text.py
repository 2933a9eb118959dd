"""Buttons as plain text for channels without them (Zalo), and the rules that read a typed choice."""

from __future__ import annotations

from chidoan.engine.messages import Button, Outgoing, Typed, numbered_text
from chidoan.engine.typed import match, plain


def message(*labels: str, typed: Typed = Typed.choice, locale: str = "vi") -> Outgoing:
    rows = [[Button(label, f"x:{i}")] for i, label in enumerate(labels, 1)]
    return Outgoing("Câu hỏi?", rows, typed=typed).with_hint(locale)


def test_numbered_text_lists_the_options_and_the_hint_in_the_readers_language():
    assert numbered_text(message("Tiếng Việt", "English", "Huỷ")) == (
        "Câu hỏi?\n\n1. Tiếng Việt\n2. English\n3. Huỷ\n\nTrả lời 1, 2 hoặc 3."
    )
    assert numbered_text(message("Yes", "No", locale="en")).endswith("1. Yes\n2. No\n\nReply 1 or 2.")
    assert numbered_text(message("« Quay lại")).endswith("1. « Quay lại\n\nTrả lời 1.")
    many = numbered_text(message(*(f"Báo cáo {n}" for n in range(1, 31))))
    assert "\n30. Báo cáo 30\n" in many and many.endswith("Trả lời một số từ 1 đến 30.")


def test_numbered_text_keeps_numbers_already_shown_and_bullets_where_numbers_are_answers():
    assert "\n1. Định kỳ\n2. Chuyên đề\n3. « Quay lại\n" in numbered_text(
        message("1. Định kỳ", "2. Chuyên đề", "« Quay lại")
    )
    text = numbered_text(message("25", "« Quay lại", typed=Typed.value))
    assert "\n• 25\n• « Quay lại\n" in text and text.endswith(
        "Đồng chí nhập câu trả lời, hoặc gõ chữ của một lựa chọn."
    )
    assert numbered_text(message("Bỏ qua", typed=Typed.text)).endswith("Đồng chí nhập câu trả lời, hoặc trả lời 1.")
    assert numbered_text(Outgoing("Xin chào")) == "Xin chào"


def test_the_hint_travels_with_the_outbox_body():
    body = message("Có", "Không").to_body()
    again = Outgoing.from_body(body)
    assert again.hint == "Trả lời 1 hoặc 2." and again.typed is Typed.choice
    assert numbered_text(again) == numbered_text(message("Có", "Không"))


def body(*labels: str, typed: Typed = Typed.choice, earlier: int = 0) -> dict:
    return {
        "text": "?",
        "buttons": [[[label, f"x:{i}"]] for i, label in enumerate(labels, 1)],
        "typed": str(typed),
        "earlier": earlier,
    }


def test_a_choice_is_its_number_its_words_a_synonym_or_part_of_one_label():
    menu = body("1. Định kỳ (hằng tháng)", "2. Chuyên đề", "3. Đột xuất", "« Quay lại")
    assert match(menu, "3").payload == "x:3" and match(menu, " 2. ").payload == "x:2"
    assert match(menu, "CHUYEN DE!").payload == "x:2"
    assert match(menu, "dinh ky").payload == "x:1"  # part of exactly one label
    assert match(menu, "quay lai").payload == "x:4" and match(menu, "lui").payload == "x:4"  # a synonym
    assert match(menu, "³") is None and match(menu, "sinh hoạt") is None
    assert match(body("Có", "Không"), "ko").payload == "x:2" and match(body("Yes", "No"), "có").payload == "x:1"
    assert plain("✅ Dùng nội dung gợi ý") == "dung noi dung goi y" and plain("1. 1.1 Cập nhật") == "1 1 cap nhat"


def test_a_number_the_question_lacks_is_stale_or_unknown():
    assert match(body("Tiếng Việt", "English", earlier=5), "3") == match(body("A", earlier=5), "3")
    stale = match(body("Tiếng Việt", "English", earlier=5), "3")
    assert stale is not None and (stale.payload, stale.number, stale.earlier) == (None, 3, True)
    unknown = match(body("Tiếng Việt", "English"), "3")
    assert unknown is not None and (unknown.number, unknown.earlier) == (3, False)


def test_at_a_text_step_only_a_whole_label_its_number_or_a_synonym_counts():
    step = body("✅ Dùng nội dung gợi ý", "« Quay lại", "Bỏ qua", typed=Typed.text, earlier=4)
    assert match(step, "dung").payload == "x:1" and match(step, "Dùng nội dung gợi ý").payload == "x:1"
    assert match(step, "bo qua").payload == "x:3" and match(step, "2").payload == "x:2"
    assert match(step, "4").earlier  # the menu before
    for answer in ("2 buổi", "Dùng xe đạp", "nội dung", "12", "dung xe"):
        assert match(step, answer) is None, answer
    titles = body("Bí thư Đảng ủy xã", "Phó Bí thư Đảng ủy xã", typed=Typed.text)
    assert match(titles, "Phó Bí thư Đảng ủy") is None  # part of a suggestion is the person's own answer
    assert match(titles, "bi thu dang uy xa").payload == "x:1"


def test_at_a_number_or_date_step_a_number_is_the_answer():
    step = body("25", "« Quay lại", typed=Typed.value, earlier=6)
    assert match(step, "1") is None and match(step, "3") is None
    assert match(step, "25").payload == "x:1" and match(step, "quay lai").payload == "x:2"


def test_a_number_below_one_is_never_a_button_and_navigation_takes_its_words_at_a_text_step():
    zero = match(body("1. Định kỳ", "2. Chuyên đề"), "0")
    assert zero is not None and (zero.payload, zero.number, zero.earlier) == (None, 0, False)  # nothing earlier
    back_only = {"text": "?", "typed": "text", "earlier": 0, "buttons": [[["« Quay lại", "j:1.2.back"]]]}
    assert match(back_only, "0") is None and match(back_only, "1") is None  # the answer "1", not Back
    assert match(back_only, "quay lai").payload == "j:1.2.back"
    rows = [
        [["Bí thư", "j:1.2.s:0"]],
        [["Phó Bí thư", "j:1.2.s:1"]],
        [["« Quay lại", "j:1.2.back"], ["Bỏ qua", "j:1.2.skip"]],
    ]
    step = {"text": "?", "typed": "text", "earlier": 0, "buttons": rows}
    assert match(step, "2").payload == "j:1.2.s:1" and match(step, "3") is None and match(step, "4") is None
    assert match(step, "bo qua").payload == "j:1.2.skip"


def test_a_number_told_once_to_belong_to_an_earlier_question_is_the_answer_when_typed_again():
    after_menu = {"text": "?", "typed": "text", "earlier": 3, "buttons": []}
    assert match(after_menu, "2").earlier and match(after_menu, "0") is None and match(after_menu, "4") is None
    assert match(after_menu | {"told": [2]}, "2") is None  # the free-text answer "2"
    assert match(after_menu | {"told": [2]}, "3").earlier
    menu = body("Tiếng Việt", "English", earlier=5) | {"told": [4]}
    again = match(menu, "4")
    assert again is not None and (again.number, again.earlier) == (4, False)  # no option 4 here


def test_at_a_text_step_only_its_options_are_numbered():
    rows = [[Button("Bí thư", "j:1.2.s:0")], [Button("« Quay lại", "j:1.2.back"), Button("Bỏ qua", "j:1.2.skip")]]
    step = Outgoing("Chức vụ?", rows, typed=Typed.text).with_hint("vi")
    assert numbered_text(step) == (
        "Chức vụ?\n\n1. Bí thư\n• « Quay lại\n• Bỏ qua\n\nĐồng chí nhập câu trả lời, hoặc trả lời 1."
    )
    back_only = Outgoing("Chủ đề?", [[Button("« Quay lại", "j:1.2.back")]], typed=Typed.text).with_hint("vi")
    assert back_only.hint == "" and numbered_text(back_only) == "Chủ đề?\n\n• « Quay lại"


def test_the_numbers_an_earlier_question_had_are_its_numbered_options_only():
    from chidoan.engine.typed import numbered_count

    rows = [[["Bí thư", "j:1.2.s:0"]], [["« Quay lại", "j:1.2.back"], ["Bỏ qua", "j:1.2.skip"]]]
    assert numbered_count({"typed": "text", "buttons": rows}) == 1
    assert numbered_count({"typed": "choice", "buttons": rows}) == 3
    assert numbered_count({"typed": "value", "buttons": rows}) == 0
