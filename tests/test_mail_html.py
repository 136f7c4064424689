"""html_to_text on the markup real mailers send."""

from __future__ import annotations

import pytest

from helpmail.mail.html import html_to_text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("", ""),
        ("plain words", "plain words"),
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("line<br>next<br/>last", "line\nnext\nlast"),
        ("a<br><br>b", "a\n\nb"),
        # Gmail: one div per line, <div><br></div> for an empty line
        (
            '<div dir="ltr">Hi,<div><br></div><div>Thanks</div><div>Bob</div></div>',
            "Hi,\n\nThanks\nBob",
        ),
        # Outlook: MsoNormal paragraphs are lines, &nbsp; paragraphs are blank lines
        (
            '<p class="MsoNormal">Hi,<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
            '<p class="MsoNormal">Regards<o:p></o:p></p><p class="MsoNormal">Ann<o:p></o:p></p>',
            "Hi,\n\nRegards\nAnn",
        ),
        ("<ul><li>one</li><li>two</li></ul>", "- one\n- two"),
        ("<ol><li>one<li>two</ol>", "1. one\n2. two"),
        ('<ol start="3"><li>c</li></ol>', "3. c"),
        ('<ol start="²"><li>c</li></ol>', "1. c"),
        ('<ol start="99999999999999999"><li>c</li></ol>', "1. c"),
        ("<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>", "- a\n  - b\n- c"),
        (
            "<table><tr><th>Name</th><th>Qty</th></tr><tr><td>Toner</td><td>2</td></tr></table>",
            "Name | Qty\nToner | 2",
        ),
        (
            "<p>before</p><blockquote><p>quoted</p><p>more</p></blockquote><p>after</p>",
            "before\n\n> quoted\n>\n> more\n\nafter",
        ),
        ("<blockquote>a<blockquote>b</blockquote></blockquote>", "> a\n>\n> > b"),
        ("&lt;tag&gt; &amp; &quot;q&quot; &#8364; &euro; &#x41;", '<tag> & "q" € € A'),
        ("a&nbsp;&nbsp;b", "a b"),
        ("zero\u200bwidth&zwnj;chars\ufeff", "zerowidthchars"),
        ('<a href="https://example.com/x">the site</a>', "the site <https://example.com/x>"),
        ('<a href="https://example.com/">https://example.com/</a>', "https://example.com/"),
        ('<a href="https://example.com">example.com</a>', "example.com"),
        ('<a href="mailto:a@b.c">a@b.c</a>', "a@b.c"),
        ('<img src="x.png" alt="Logo"> text', "[Logo] text"),
        ('<img src="pixel.gif">', ""),
        ("<pre>  keep\n    indent</pre>", "  keep\n    indent"),
        ("<h1>Title</h1>text", "Title\n\ntext"),
        ("<hr>", "--------------------"),
        ("<script>alert(1)</script>visible", "visible"),
        ("<style>p { color: red }</style>visible", "visible"),
        ("<head><title>T</title><style>x</style></head><body>visible</body>", "visible"),
        ("<!-- a comment -->visible<!--[if mso]>mso only<![endif]-->", "visible"),
        ("<xml><o:OfficeDocumentSettings>x</o:OfficeDocumentSettings></xml>visible", "visible"),
        ('<span style="display:none">preheader</span>visible', "visible"),
        ('<div style="display: none"><div>hidden</div>still hidden</div>shown', "shown"),
        ("<div>unclosed <b>bold", "unclosed bold"),
        ("a < b and c > d", "a < b and c > d"),
        ("Jane Roe <jane@example.com> wrote:", "Jane Roe <jane@example.com> wrote:"),
        ("<b>a</b>  <i> b</i>", "a b"),
        ("<p>broken <tag", "broken"),
        ("<!DOCTYPE html><html><body>doc</body></html>", "doc"),
        ("<![CDATA[raw]]>", "raw"),
        ("<p>  lots   of\n\n  space  </p>", "lots of space"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_apple_mail_and_thunderbird_quotes() -> None:
    html = (
        "<html><body><div>Sure, done.</div><div><br></div>"
        '<div class="moz-cite-prefix">On 02.03.26 09:00, Support wrote:<br></div>'
        '<blockquote type="cite" cite="mid:x@y"><div>Can you check?</div></blockquote>'
        "</body></html>"
    )
    assert html_to_text(html) == (
        "Sure, done.\n\nOn 02.03.26 09:00, Support wrote:\n\n> Can you check?"
    )


def test_hidden_content_is_kept_when_it_is_all_the_text() -> None:
    html = '<div style="display:none; max-height:0">mobile-only text</div>'
    assert html_to_text(html) == "mobile-only text"
    assert html_to_text('<span style="display:none">pre</span><p>body</p>') == "body"


def test_thunderbird_forward_header_table() -> None:
    html = (
        '<div class="moz-forward-container">-------- Forwarded Message --------'
        '<table class="moz-email-headers-table"><tbody>'
        '<tr><th align="RIGHT" nowrap="nowrap">Subject: </th><td>Re: Example</td></tr>'
        '<tr><th align="RIGHT" nowrap="nowrap">From: </th><td>John &lt;j@x.org&gt;</td></tr>'
        "</tbody></table><br><p>Dear John,</p></div>"
    )
    assert html_to_text(html) == (
        "-------- Forwarded Message --------\n\n"
        "Subject: Re: Example\nFrom: John <j@x.org>\n\nDear John,"
    )


def test_unterminated_comment_and_many_open_brackets_stay_linear() -> None:
    # these must not take quadratic time (no timing assertion: a quadratic version would hang)
    assert html_to_text("<!--" * 50_000) == ""
    assert html_to_text("<a" * 50_000).startswith("") is True
    assert html_to_text("<" * 100_000) == "<" * 100_000
    assert html_to_text("<title>" * 50_000 + "text") == "text"
    assert html_to_text("<head>" * 50_000 + "text") == "text"
    big = "<div>" + "<p>paragraph &amp; text</p>" * 20_000 + "</div>"
    assert html_to_text(big).count("paragraph & text") == 20_000
