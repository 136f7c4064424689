"""extract_reply: the policy in DESIGN.md ("Reply extraction"), rule by rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpmail import parse_mail
from helpmail.replies import (
    DEFAULT_MARKERS,
    MARKER_TEXTS,
    MAX_INPUT_CHARS,
    MAX_LINES,
    REPLY_MARKER_HTML_ID,
    REPLY_MARKER_TEXT,
    REPLY_MARKER_TEXT_DE,
    REPLY_MARKER_TEXT_NL,
    Forwarded,
    Method,
    Reply,
    ReplyFlag,
    extract_reply,
    marker_html,
    marker_text,
    vocabulary,
)

DATA = Path(__file__).parent / "data" / "replies"
QUOTE = "> Hello Bob,\n>\n> your printer is fixed.\n>\n> Kind regards,\n> Support"


# -- public surface -------------------------------------------------------------------------------


def test_method_values_are_stable() -> None:
    assert [m.value for m in Method] == [
        "own_marker",
        "parent_match",
        "html_container",
        "attribution",
        "header_block",
        "divider",
        "forward",
        "quote_marker",
        "interleaved",
        "signature",
        "none",
    ]


def test_reply_is_a_frozen_value() -> None:
    reply = extract_reply("Hello")
    assert reply == Reply(text="Hello")
    with pytest.raises(AttributeError):
        reply.text = "x"  # type: ignore[misc]
    assert 0 < reply.confidence <= 1


def test_import_has_no_io_modules() -> None:
    code = (
        "import sys, helpmail.replies; print(sorted(m for m in ('email', 'socket', 'ssl', "
        "'email.utils') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# -- own marker ---------------------------------------------------------------------------------


def test_marker_texts_and_html() -> None:
    assert marker_text() == REPLY_MARKER_TEXT == "===== reply above this line ====="
    assert marker_text("de") == REPLY_MARKER_TEXT_DE
    assert marker_text("nl-BE") == REPLY_MARKER_TEXT_NL
    assert marker_text("fr") == REPLY_MARKER_TEXT  # no localised default: English
    assert marker_text("en", text="$helpdesk-replyabove$") == "$helpdesk-replyabove$"
    assert set(MARKER_TEXTS) == {"en", "de", "nl"}
    assert tuple(MARKER_TEXTS.values()) == DEFAULT_MARKERS
    html = marker_html("de")
    assert f'id="{REPLY_MARKER_HTML_ID}"' in html
    assert f'class="{REPLY_MARKER_HTML_ID}"' in html
    assert REPLY_MARKER_TEXT_DE in html
    assert "&lt;b&gt;" in marker_html(text="<b>")


@pytest.mark.parametrize("lang", ["en", "de", "nl"])
def test_marker_cuts_above(lang: str) -> None:
    mail = (
        f"Thanks!\n\nOn Mon, 23 Nov 2026 at 10:00, Support <s@example.com> wrote:\n> "
        f"{marker_text(lang)}\n{QUOTE}"
    )
    reply = extract_reply(mail)
    assert reply.method is Method.OWN_MARKER
    assert reply.text == "Thanks!"
    assert ReplyFlag.MARKER_QUOTED in reply.flags
    assert "your printer is fixed" in reply.quoted


def test_marker_unquoted_below_outlook_header() -> None:
    mail = (
        "Works, thanks.\n\nFrom: Support <s@example.com>\nSent: Monday, November 23, 2026 10:00\n"
        f"To: Bob\nSubject: [#1] Printer\n\n{REPLY_MARKER_TEXT}\n\nHello Bob, where is this "
        f"printer we talk about"
    )
    reply = extract_reply(mail)
    assert (reply.text, reply.method) == ("Works, thanks.", Method.OWN_MARKER)


def test_marker_wrapped_over_lines() -> None:
    mail = f"Yes.\n\n> ===== reply above\n> this line =====\n{QUOTE}"
    reply = extract_reply(mail)
    assert reply.text == "Yes."
    assert ReplyFlag.MARKER_WRAPPED in reply.flags


def test_marker_quoted_printable_garbled() -> None:
    mail = (
        "Yes.\n\n> =3D=3D=3D=3D=3D reply above th=\nis line =3D=3D=3D=3D=3D\n> Hello Bob, "
        "quoted text here=\n and more\n"
    )
    reply = extract_reply(mail)
    assert reply.text == "Yes."
    assert reply.method is Method.OWN_MARKER


def test_custom_marker() -> None:
    mail = "Fine.\n\n$helpdesk-replyabove$\nHello Bob"
    assert extract_reply(mail, markers=["$helpdesk-replyabove$"]).method is Method.OWN_MARKER
    assert extract_reply(mail, markers=["$helpdesk-replyabove$"]).text == "Fine."
    assert extract_reply(mail).method is not Method.OWN_MARKER


def test_marker_html_element_with_outlook_prefix() -> None:
    html = (
        "<div>Okay, done.</div><div id='x_helpmail-reply-above' class='x_helpmail-reply-above'>"
        "something the client rewrote</div><p>Hello Bob</p>"
    )
    reply = extract_reply("", html=html)
    assert (reply.text, reply.method) == ("Okay, done.", Method.OWN_MARKER)
    assert ReplyFlag.FROM_HTML in reply.flags


def test_text_above_and_below_a_quoted_marker() -> None:
    mail = f"Hi,\n\n> {REPLY_MARKER_TEXT}\n> Hello Bob, is it fixed?\n\nYes, since this morning."
    reply = extract_reply(mail)
    assert reply.text == "Hi,\n\nYes, since this morning."
    assert reply.method is Method.OWN_MARKER


def test_inline_answers_inside_the_quoted_ticket_mail() -> None:
    mail = (
        f"See my answers below.\n\n> {REPLY_MARKER_TEXT}\n> Which printer is it?\n"
        "The one on floor 3.\n> Since when?\nSince Monday.\n>\n> Kind regards, Support"
    )
    reply = extract_reply(mail)
    assert reply.method is Method.OWN_MARKER
    assert reply.text == (
        "See my answers below.\n\n> Which printer is it?\nThe one on floor 3.\n> Since when?\n"
        "Since Monday."
    )


def test_answer_below_the_marker_is_kept() -> None:
    mail = f"> {REPLY_MARKER_TEXT}\n> Hello Bob, is it fixed?\n\nYes it is."
    reply = extract_reply(mail)
    assert reply.text == "Yes it is."
    assert ReplyFlag.REPLY_BELOW_QUOTE in reply.flags


# -- parent -------------------------------------------------------------------------------------


PARENT = (
    "Hello Bob,\n\nwe have sent a technician to look at the printer on floor three.\n"
    "It should work again by noon. Please tell us whether it does.\n\nKind regards,\nExample "
    "Support"
)


def test_parent_match_without_marker_or_quote_markers() -> None:
    mail = "It works again, thanks.\n\nBob\n\n" + PARENT.replace("floor three.\n", "floor\nthree. ")
    reply = extract_reply(mail, parent=PARENT)
    assert reply.text == "It works again, thanks.\n\nBob"
    assert reply.method is Method.PARENT_MATCH


def test_parent_as_inbound_mail() -> None:
    raw = b"From: s@example.com\r\nTo: b@example.org\r\nSubject: x\r\n\r\n" + PARENT.encode()
    reply = extract_reply("Thanks!\n\n" + PARENT, parent=parse_mail(raw))
    assert reply.text == "Thanks!"


def test_parent_does_not_eat_new_text() -> None:
    reply = extract_reply("A completely different question about invoices.", parent=PARENT)
    assert reply.text == "A completely different question about invoices."


# -- attribution lines ----------------------------------------------------------------------------

ATTRIBUTIONS = {
    "en": "On Mon, Nov 23, 2026 at 10:00 AM Anna Support <anna@example.com> wrote:",
    "en-wrapped": "On Mon, Nov 23, 2026 at 10:00 AM Anna Support <\nanna@example.com> wrote:",
    "en-wrapped-3": "On Mon, Nov 23, 2026 at 10:00 AM,\nAnna Support\n<anna@example.com> wrote:",
    "en-nodate": "Anna Support <anna@example.com> wrote:",
    "de": "Am Mo., 23. Nov. 2026 um 10:00 Uhr schrieb Anna Support <anna@example.com>:",
    "de-wrapped": "Am Mo., 23. Nov. 2026 um 10:00 Uhr schrieb Anna Support <\nanna@example.com>:",
    "nl": "Op ma 23 nov 2026 om 10:00 schreef Anna Support <anna@example.com>:",
    "fr": "Le lun. 23 nov. 2026 à 10:00, Anna Support <anna@example.com> a écrit :",
    "es": "El lun, 23 nov 2026 a las 10:00, Anna Support (<anna@example.com>) escribió:",
    "it": "Il giorno lun 23 nov 2026 alle ore 10:00 Anna Support <anna@example.com> ha scritto:",
    "it-in-data": "In data 23 novembre 2026 10:00, Anna Support <anna@example.com> ha scritto:",
    "pt": "Em seg., 23 de nov. de 2026 às 10:00, Anna Support <anna@example.com> escreveu:",
    "pl": "W dniu 23.11.2026 o 10:00, Anna Support <anna@example.com> pisze:",
    "pl-user": "pon., 23 lis 2026 o 10:00 Anna Support <anna@example.com> napisał(a):",
    "da": "Den man. 23. nov. 2026 kl. 10.00 skrev Anna Support <anna@example.com>:",
    "no": "man. 23. nov. 2026 kl. 10:00 skrev Anna Support <anna@example.com>:",
    "sv": "mån 23 nov. 2026 kl. 10:00 skrev Anna Support <anna@example.com>:",
    "fi": "ma 23.11.2026 klo 10.00 Anna Support (anna@example.com) kirjoitti:",
    "ru": "пн, 23 нояб. 2026 г. в 10:00, Anna Support <anna@example.com>:",
    "ru-verb": "23 ноября 2026 г., в 10:00, пользователь Anna Support <anna@example.com> написал:",
    "uk": "пн, 23 лист. 2026 р. о 10:00 Anna Support <anna@example.com> пише:",
    "cs": "po 23. 11. 2026 v 10:00 odesílatel Anna Support <anna@example.com> napsal:",
    "ro": "În lun., 23 nov. 2026 la 10:00, Anna Support <anna@example.com> a scris:",
    "hu": "Anna Support <anna@example.com> ezt írta (időpont: 2026. nov. 23., H, 10:00):",
    "ja": "2026年11月23日(月) 10:00 Anna Support <anna@example.com>:",
    "zh": "Anna Support <anna@example.com> 于2026年11月23日周一 10:00写道：",
    "ko": "2026년 11월 23일 (월) 오전 10:00, Anna Support <anna@example.com>님이 작성:",
    "vi": "Vào 10:00 23 thg 11, 2026, Anna Support <anna@example.com> đã viết:",
    "dashes": "---- Anna Support wrote ----",
}


ATTRIBUTIONS.update(
    {
        "hu-paren": "Anna Support <anna@example.com> ezt írta (időpont: 2026. nov. 23., H, 10:00):",
        "ar": "في 23 نوفمبر 2026 10:00، كتب Anna Support <anna@example.com>:",
        "he": "ב-23 בנוב׳ 2026, בשעה 10:00, \u200fAnna Support\u200f <anna@example.com> כתב:",
        "tr": "23 Kas 2026 Pzt, 10:00 tarihinde Anna Support <anna@example.com> şunu yazdı:",
        "el": "Στις Δευ 23 Νοε 2026 στις 10:00, ο/η Anna Support <anna@example.com> έγραψε:",
        "th": "เมื่อ 23 พ.ย. 2026 เวลา 10:00 Anna Support <anna@example.com> เขียนว่า:",
        "cs-dne": "Dne 23. 11. 2026 10:00 napsal uživatel Anna Support <anna@example.com>:",
        "fi-middle": "23.11.2026 10:00 kirjoitti Anna Support <anna@example.com>:",
        "id": "Pada tanggal 23 Nov 2026 10.00, Anna Support <anna@example.com> menulis:",
        "zoho": "---- On Mon, 23 Nov 2026 10:00:00 +0100 Anna <anna@example.com> wrote ----",
        "zh-cn": "在 2026年11月23日，上午10:00，Anna Support <anna@example.com> 写道：",
        "ja-mail": "2026/11/23 10:00、Anna Support <anna@example.com>のメール:",
        "de-noaddr": "Am 23.11.2026 um 10:00 schrieb Anna Support:",
        "de-name-first": "Anna <anna@example.com> schrieb am Mo., 23. Nov. 2026 um 10:00:",
        "nl-name-first": "Anna <anna@example.com> schreef op ma 23 nov. 2026 om 10:00:",
        "da-name-first": "Anna <anna@example.com> skrev den man. 23. nov. 2026 kl. 10.00:",
        "sv-date-paren": "Anna <anna@example.com> skrev: (23 november 2026 10:00:02 CET)",
        "en-wrote-on": "Anna <anna@example.com> wrote on Mon, 23 Nov 2026 10:00:",
        "en-quoted-name": 'On Mon, Nov 23, 2026 10:00, "Support, Anna" <a@example.com> wrote:',
    }
)


@pytest.mark.parametrize("lang", sorted(ATTRIBUTIONS))
def test_attribution_lines(lang: str) -> None:
    mail = f"Thank you, that helped.\n\n{ATTRIBUTIONS[lang]}\n\n{QUOTE}\n"
    reply = extract_reply(mail)
    assert reply.text == "Thank you, that helped."
    assert reply.method is Method.ATTRIBUTION
    assert "printer is fixed" in reply.quoted


@pytest.mark.parametrize("lang", ["en", "de", "fr", "nl", "it"])
def test_attribution_without_quote_markers_ends_the_reply(lang: str) -> None:
    mail = f"Reply.\n\n{ATTRIBUTIONS[lang]}\n\nHello Bob,\nyour printer is fixed.\n"
    assert extract_reply(mail).text == "Reply."


def test_ordinary_sentences_are_not_attributions() -> None:
    mail = "On Monday I tried again.\nHere is what the technician wrote:\n\nIt was the fuser."
    reply = extract_reply(mail)
    assert reply.text == mail
    assert reply.method is Method.NONE


# -- header blocks and dividers -----------------------------------------------------------------

HEADER_BLOCKS = {
    "en": ("From", "Sent", "To", "Subject"),
    "de": ("Von", "Gesendet", "An", "Betreff"),
    "nl": ("Van", "Verzonden", "Aan", "Onderwerp"),
    "fr": ("De", "Envoyé", "À", "Objet"),
    "es": ("De", "Enviado el", "Para", "Asunto"),
    "it": ("Da", "Inviato", "A", "Oggetto"),
    "pt": ("De", "Enviado", "Para", "Assunto"),
    "pl": ("Od", "Wysłano", "Do", "Temat"),
    "da": ("Fra", "Sendt", "Til", "Emne"),
    "sv": ("Från", "Skickat", "Till", "Ämne"),
    "fi": ("Lähettäjä", "Lähetetty", "Vastaanottaja", "Aihe"),
    "ru": ("От", "Отправлено", "Кому", "Тема"),
    "uk": ("Від", "Надіслано", "Кому", "Тема"),
    "cs": ("Od", "Odesláno", "Komu", "Předmět"),
    "ro": ("De la", "Trimis", "Către", "Subiect"),
    "hu": ("Feladó", "Elküldve", "Címzett", "Tárgy"),
    "ja": ("差出人", "送信日時", "宛先", "件名"),
    "zh": ("发件人", "发送时间", "收件人", "主题"),
    "ko": ("보낸 사람", "보낸 날짜", "받는 사람", "제목"),
}


@pytest.mark.parametrize("bold", [False, True])
@pytest.mark.parametrize("lang", sorted(HEADER_BLOCKS))
def test_localised_header_blocks(lang: str, bold: bool) -> None:
    keys = HEADER_BLOCKS[lang]
    values = (
        "Anna Support <anna@example.com>",
        "23.11.2026 10:00",
        "Bob <bob@example.org>",
        "Printer",
    )
    star = "*" if bold else ""
    block = "\n".join(f"{star}{k}:{star} {v}" for k, v in zip(keys, values, strict=True))
    mail = (
        f"Danke schön.\n\n________________________________\n{block}\n\nHello Bob,\nyour "
        f"printer is fixed."
    )
    reply = extract_reply(mail)
    assert reply.text == "Danke schön."
    assert reply.method is Method.HEADER_BLOCK


@pytest.mark.parametrize(
    "divider",
    [
        "-----Original Message-----",
        "-------- Oprindelig besked --------",
        "-----Ursprüngliche Nachricht-----",
        "-------- Message d'origine --------",
        "------ Mensaje original ------",
        "-----Oorspronkelijk bericht-----",
        "----- Původní zpráva -----",
        "-------- 原始邮件 --------",
    ],
)
def test_divider_lines(divider: str) -> None:
    reply = extract_reply(f"Reply here.\n\n{divider}\nHello Bob,\nyour printer is fixed.")
    assert reply.text == "Reply here."
    assert reply.method is Method.DIVIDER


def test_groupwise_header() -> None:
    reply = extract_reply(
        "My reply\n\n>>> Bob Smith <bob@x.com> 12.05.2024 10:00 >>>\nOriginal text"
    )
    assert reply.text == "My reply"
    assert reply.method is Method.DIVIDER


def test_divider_of_unknown_language_needs_a_header_block_below() -> None:
    kept = "Please answer below.\n\n------ Enter feedback below ------\n\nIt was great."
    assert extract_reply(kept).text == kept
    cut = "Reply.\n\n------ Alkuperäinen sanoma ------\nKeyA: x\nKeyB: y\n\nold text"
    assert extract_reply(cut).text == "Reply."


# -- HTML containers
# --------------------------------------------------------------------------------

HTML_QUOTES = {
    "gmail": '<div dir="ltr">New text.</div><div class="gmail_quote"><div class="gmail_attr">On '
    "Mon wrote:</div>"
    '<blockquote class="gmail_quote">Old text.</blockquote></div>',
    "gmail-2026": '<div dir="ltr">New text.</div><div class="gmail_quote '
    'gmail_quote_container"><div dir="ltr" '
    'class="gmail_attr">On Mon, Anna wrote:<br></div><blockquote class="gmail_quote">Old '
    "text.</blockquote></div>",
    "outlook-web": '<div>New text.</div><div id="appendonsend"></div><hr><div '
    'id="divRplyFwdMsg"><b>From:</b> Anna'
    "<br><b>Sent:</b> Monday<br><b>Subject:</b> x</div><div>Old text.</div>",
    "outlook-desktop": "<div class=WordSection1><p class=MsoNormal>New text.</p><div "
    "style='border:none;border-top:solid "
    "#E1E1E1 1.0pt'><p class=MsoNormal><b>From:</b> Anna<br><b>Sent:</b> Monday<br><b>To:</b> "
    "Bob<br><b>Subject:</b>"
    " x</p></div><p class=MsoNormal>Old text.</p></div>",
    "yahoo": '<div>New text.</div><div id="yahoo_quoted_123" class="yahoo_quoted"><div>On Monday, '
    "Anna wrote:</div>"
    "<div>Old text.</div></div>",
    "thunderbird": '<p>New text.</p><div class="moz-cite-prefix">On 23.11.26 10:00, Anna '
    "wrote:<br></div>"
    '<blockquote type="cite">Old text.</blockquote>',
    "apple": '<div>New text.</div><div><br><blockquote type="cite"><div>On 23 Nov 2026, at 10:00, '
    "Anna wrote:</div>"
    "<div>Old text.</div></blockquote></div>",
    "hotmail": '<div>New text.<div><hr id="stopSpelling">Date: x<br>From: a@b.c<br>Subject: '
    "y<br>Old text.</div></div>",
}


@pytest.mark.parametrize("client", sorted(HTML_QUOTES))
def test_html_quote_containers(client: str) -> None:
    reply = extract_reply("", html=HTML_QUOTES[client])
    assert reply.text == "New text."
    assert "Old text" not in reply.text
    assert ReplyFlag.FROM_HTML in reply.flags


def test_gmail_container_holding_the_only_text_is_not_deleted() -> None:
    html = (
        '<div class="gmail_quote gmail_quote_container"><div dir="ltr">Only text, written '
        "inside the wrapper.</div></div>"
    )
    assert extract_reply("", html=html).text == "Only text, written inside the wrapper."
    quote_only = (
        '<div class="gmail_quote"><blockquote class="gmail_quote">Just the '
        "quote.</blockquote></div>"
    )
    reply = extract_reply("", html=quote_only)
    assert reply.text == "Just the quote."
    assert ReplyFlag.QUOTE_ONLY in reply.flags


def test_html_used_when_text_part_shows_no_quote() -> None:
    text = "New text.\n\nOld text."  # a client whose text part dropped the quote markers
    reply = extract_reply(text, html=HTML_QUOTES["thunderbird"])
    assert reply.text == "New text."
    assert reply.method is Method.HTML_CONTAINER


# -- signatures, taglines, sign-offs ------------------------------------------------------------


@pytest.mark.parametrize(
    "tagline",
    [
        "Sent from my iPhone",
        "Sent from my Verizon Wireless BlackBerry",
        "Von meinem iPhone gesendet",
        "Verzonden vanaf mijn iPhone",
        "Envoyé de mon iPhone",
        "Enviado desde mi iPhone",
        "Inviato da iPhone",
        "Enviado do meu iPhone",
        "Wysłane z iPhone'a",
        "Sendt fra min iPhone",
        "Skickat från min iPhone",
        "Lähetetty iPhonesta",
        "Отправлено с iPhone",
        "Надіслано з iPhone",
        "Odesláno z iPhonu",
        "Trimis de pe iPhone",
        "iPhoneから送信",
        "发自我的iPhone",
        "내 iPhone에서 보냄",
        "Get Outlook for Android",
        "Sent from my Android device with K-9 Mail. Please excuse my brevity.",
        "Von meinem Samsung Galaxy Smartphone gesendet.",
    ],
)
def test_mobile_taglines_are_removed(tagline: str) -> None:
    reply = extract_reply(f"Thanks,\nBob\n\n{tagline}\n\n{ATTRIBUTIONS['en']}\n{QUOTE}")
    assert reply.text == "Thanks,\nBob"
    assert reply.tagline == tagline


def test_signature_delimiter_and_sign_off() -> None:
    reply = extract_reply("It works.\n\nThanks,\nBob\n\n-- \nBob Miller\nFacilities\n+49 30 1234")
    assert reply.text == "It works.\n\nThanks,\nBob"
    assert reply.signature == "Bob Miller\nFacilities\n+49 30 1234"
    assert reply.method is Method.SIGNATURE


def test_not_signatures() -> None:
    for text in (
        "Here is another email\n\nSent from my desk, is much easier than my mobile phone.",
        "A fix -- not a signature.\nkthxbai",
        "Section 1\n________________\n" + "\n".join(f"item {n}" for n in range(12)),
    ):
        assert extract_reply(text).text == text


def test_underscore_rule_as_section_divider_is_kept() -> None:
    text = "Section 1\nfirst part\n________________________________\nSection 2\nsecond part"
    assert extract_reply(text).text == text
    footer = (
        "Answer\n\n_______________________________________________\nlist mailing list\nl@lists.x"
    )
    assert extract_reply(footer).text == "Answer"


def test_signature_only_mail_keeps_it() -> None:
    reply = extract_reply("Sent from my iPhone")
    assert reply.text == "Sent from my iPhone"


# -- forwards -------------------------------------------------------------------------------------


def test_forward_note_and_forwarded_message() -> None:
    mail = (
        "Please look at this.\n\n---------- Forwarded message ---------\nFrom: Carl "
        "<carl@example.net>\n"
        "Date: Mon, 23 Nov 2026 at 09:00\nSubject: Broken invoice\nTo: Bob "
        "<bob@example.org>\n\nThe invoice is wrong."
    )
    reply = extract_reply(mail)
    assert reply.text == "Please look at this."
    assert reply.method is Method.FORWARD
    assert isinstance(reply.forwarded, Forwarded)
    assert reply.forwarded.headers["from"] == "Carl <carl@example.net>"
    assert reply.forwarded.headers["subject"] == "Broken invoice"
    assert reply.forwarded.text == "The invoice is wrong."
    assert reply.forwarded.intro == "Forwarded message"


def test_apple_forward_and_localised_forward() -> None:
    apple = (
        "FYI\n\nBegin forwarded message:\n\n> From: Carl <carl@example.net>\n> Subject: "
        "Hi\n>\n> Body text."
    )
    reply = extract_reply(apple)
    assert reply.text == "FYI"
    assert reply.forwarded is not None
    assert reply.forwarded.text == "Body text."
    german = (
        "Siehe unten.\n\n-------- Weitergeleitete Nachricht --------\nBetreff: "
        "Rechnung\nVon: Carl <c@x.de>\n\nText."
    )
    assert extract_reply(german).forwarded is not None


def test_forward_without_note_returns_the_forwarded_text() -> None:
    mail = (
        "---------- Forwarded message ---------\nFrom: Carl <carl@example.net>\nSubject: "
        "Broken\n\nThe invoice is wrong."
    )
    reply = extract_reply(mail)
    assert reply.text == "The invoice is wrong."
    assert ReplyFlag.FORWARD_ONLY in reply.flags
    assert reply.forwarded is not None


def test_outlook_forward_known_by_subject() -> None:
    raw = (
        b"From: bob@example.org\r\nTo: s@example.com\r\nSubject: WG: Rechnung\r\n\r\nBitte "
        b"pruefen.\r\n\r\n"
        b"Von: Carl <c@x.de>\r\nGesendet: Montag\r\nAn: Bob\r\nBetreff: Rechnung\r\n\r\nDie "
        b"Rechnung.\r\n"
    )
    reply = extract_reply(parse_mail(raw))
    assert reply.text == "Bitte pruefen."
    assert reply.forwarded is not None
    assert reply.forwarded.headers["subject"] == "Rechnung"


# -- reply position -------------------------------------------------------------------------------


def test_reply_below_the_quote() -> None:
    reply = extract_reply(f"{ATTRIBUTIONS['en']}\n{QUOTE}\n\nBottom-posted answer.")
    assert reply.text == "Bottom-posted answer."
    assert ReplyFlag.REPLY_BELOW_QUOTE in reply.flags


def test_quote_only_returns_the_quote() -> None:
    reply = extract_reply(f"{ATTRIBUTIONS['en']}\n{QUOTE}\n")
    assert reply.text.startswith("Hello Bob,")
    assert ReplyFlag.QUOTE_ONLY in reply.flags


def test_interleaved_answers_keep_the_quoted_lines() -> None:
    mail = (
        f"{ATTRIBUTIONS['en']}\n> Is it fixed?\nYes.\n> And the toner?\nAlso replaced.\n>\n> "
        f"Support\n"
    )
    reply = extract_reply(mail)
    assert reply.method is Method.INTERLEAVED
    assert reply.text == "> Is it fixed?\nYes.\n> And the toner?\nAlso replaced."


def test_inline_answers_to_single_quoted_lines() -> None:
    mail = (
        "Hi Joe,\n\n> Can you send the invoice?\n\nSure, attached.\n\n> And the receipt?\n\nAlso."
    )
    reply = extract_reply(mail)
    assert reply.method is Method.INTERLEAVED
    assert reply.text == mail


def test_sign_off_below_the_quote_joins_the_reply() -> None:
    mail = f"Top answer.\n\n{ATTRIBUTIONS['en']}\n{QUOTE}\n\nRegards,\nBob"
    assert extract_reply(mail).text == "Top answer.\n\nRegards,\nBob"


def test_lone_quoted_line_is_not_a_quote() -> None:
    mail = "Look at this:\n\n> a single arrow line"
    assert extract_reply(mail).text == mail
    inside = "I typed\n> ls\nand nothing happened"
    assert extract_reply(inside).text == inside


def test_one_trailing_quoted_line_below_the_reply_is_the_quote() -> None:
    reply = extract_reply("Still broken.\n\n> old text")
    assert reply.text == "Still broken."
    assert reply.quoted == "> old text"


def test_one_line_quoted_parent_is_removed_without_a_stray_marker() -> None:
    reply = extract_reply(
        "Done.\n\n> Please restart the printer.\n", parent="Please restart the printer."
    )
    assert reply.text == "Done."
    assert reply.quoted == "> Please restart the printer."
    unquoted = extract_reply(
        "Done.\n\nPlease restart the printer.\n\n", parent="Please restart the printer."
    )
    assert unquoted.text == "Done."


# -- inputs, safety, size -------------------------------------------------------------------------


def test_inbound_mail_html_only() -> None:
    raw = (
        b"From: bob@example.org\r\nTo: s@example.com\r\nSubject: Re: x\r\nContent-Type: "
        b"text/html\r\n\r\n"
        b"<p>Html answer.</p><blockquote type='cite'>Old<br>text</blockquote>"
    )
    mail = parse_mail(raw)
    assert mail.text_from_html
    reply = extract_reply(mail)
    assert reply.text == "Html answer."
    assert ReplyFlag.FROM_HTML in reply.flags


def test_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    from helpmail.replies import text as text_module

    def boom(*args: object, **kwargs: object) -> object:
        raise RuntimeError("internal bug")

    monkeypatch.setattr(text_module, "extract_lines", boom)
    reply = extract_reply("Hello\n> quoted")
    assert reply.text == "Hello\n> quoted"
    assert ReplyFlag.INTERNAL_ERROR in reply.flags


def test_empty_and_whitespace() -> None:
    assert extract_reply("").text == ""
    assert extract_reply(" \n\t").text == ""
    assert extract_reply("", html="<p> </p>").text == ""


def test_long_quoted_thread() -> None:
    path = DATA / "github-email_reply_parser" / "emails" / "email_long_quote.txt"
    text = path.read_text(encoding="utf-8")
    assert len(text) > 700_000
    reply = extract_reply(text)
    assert reply.text.startswith("Hi folks")
    assert "running a test?" in reply.text


def test_twenty_thousand_quoted_lines() -> None:
    mail = (
        "Short answer.\n\nOn Mon, Bob <b@x.org> wrote:\n"
        + "> quoted line with some words\n" * 20_000
    )
    reply = extract_reply(mail)
    assert reply.text == "Short answer."
    assert reply.quoted.count("\n") >= 19_999


def test_one_megabyte_line() -> None:
    line = "word " * 200_000
    assert extract_reply(line).text == line.strip()
    assert extract_reply(">" * 1_000_000).text.strip() != ""


def test_input_is_capped() -> None:
    text = "a" * (MAX_INPUT_CHARS + 10)
    reply = extract_reply(text)
    assert len(reply.text) == MAX_INPUT_CHARS
    assert ReplyFlag.TRUNCATED in reply.flags


def test_hostile_html_is_bounded() -> None:
    nested = "<p>Answer.</p>" + "<blockquote>quoted " * 5_000
    reply = extract_reply("", html=nested)
    assert reply.text == "Answer."
    assert max(len(line) for line in reply.quoted.split("\n")) < 200  # prefix depth is capped
    big = "<p>Answer.</p><blockquote type='cite'>" + "<p>old</p>" * 200_000
    reply = extract_reply("", html=big)
    assert reply.text == "Answer."
    assert ReplyFlag.TRUNCATED in reply.flags


def test_many_lines_are_capped() -> None:
    reply = extract_reply("Answer.\n" + "line\n" * (MAX_LINES + 10))
    assert ReplyFlag.TRUNCATED in reply.flags
    assert reply.text.startswith("Answer.")


def _nested_unbounded(pattern: str) -> bool:
    """Whether a regex has an unbounded repeat inside another unbounded repeat (``(a+)+``)."""
    import importlib

    c: Any = importlib.import_module("re._constants")  # the stdlib regex parser (no stubs)
    parser: Any = importlib.import_module("re._parser")

    def walk(items: Any, inside: bool) -> bool:
        for op, arg in items:
            if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
                _low, high, sub = arg
                unbounded = high == c.MAXREPEAT
                if unbounded and inside:
                    return True
                if walk(sub, inside or unbounded):
                    return True
            elif op in (c.SUBPATTERN, c.ATOMIC_GROUP):
                if walk(arg[-1], inside):
                    return True
            elif op is c.BRANCH:
                if any(walk(branch, inside) for branch in arg[1]):
                    return True
            elif op in (c.ASSERT, c.ASSERT_NOT) and walk(arg[1], inside):
                return True
        return False

    return walk(parser.parse(pattern), False)


def test_no_regex_with_nested_unbounded_quantifiers() -> None:
    import re

    from helpmail.replies import extract, html, markers, patterns
    from helpmail.replies import text as text_module

    found = []
    for module in (patterns, markers, extract, html, text_module):
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern):
                found.append(name)
                assert not _nested_unbounded(value.pattern), f"{module.__name__}.{name}"
    assert len(found) > 20
    assert _nested_unbounded(r"(a+)+b")


def test_vocabulary_is_data() -> None:
    """Languages live in tables: every table row names a language code and a non-empty phrase."""
    tables = [
        vocabulary.ATTRIBUTION_VERBS,
        vocabulary.ATTRIBUTION_OPENERS,
        vocabulary.TAGLINE_PREFIXES,
        vocabulary.VALEDICTIONS,
    ]
    for table in tables:
        for lang, phrase in table:
            assert 2 <= len(lang) <= 3
            assert phrase.strip() == phrase
            assert phrase
    langs = {lang for lang, _field, _key in vocabulary.HEADER_KEYS}
    required = [
        "en",
        "de",
        "nl",
        "fr",
        "es",
        "it",
        "pt",
        "pl",
        "da",
        "no",
        "sv",
        "fi",
        "ru",
        "uk",
        "cs",
        "ro",
        "hu",
        "ja",
        "zh",
        "ko",
    ]
    assert set(required) <= langs
    assert set(required) <= {lang for lang, _verb in vocabulary.ATTRIBUTION_VERBS} | {"ja", "ru"}
