"""Text for Slack's `mrkdwn`: escaping, cutting to Slack's limits, mentions, dates, numbers.

Everything that comes from the data or from people (titles, dataset and column names,
category values, paths, reasons) goes through `escape` before it is put into `mrkdwn`, so it
is shown as written: it can never ping a channel, hide a link, restyle the message or reorder
what is read. `escape`:

1. strips control characters (C0 except newline and tab, DEL, C1) and the bidi embeddings,
   overrides, isolates and marks (U+202A..U+202E, U+2066..U+2069, U+200E, U+200F, U+061C),
   which could make `evil.exe` read as `exe.live` or hide part of a line;
2. writes `&`, `<` and `>` as entities, as Slack's formatting reference asks: `<` opens a
   link, a mention or a broadcast (`<http://evil|click>`, `<@U123>`, `<!channel>`), `&`
   starts an entity, `>` closes a link;
3. neutralises the styling characters. Slack has no escape for `*bold*`, `_italic_`,
   `~strike~`, `` `code` `` or a `>` quote at the start of a line, so each is replaced by a
   look-alike that Slack does not read as markup (`STYLE_STAND_INS`): the way this module
   already kept backticks out of code blocks. A look-alike was chosen over inserting a zero-
   width character because Slack treats zero-width spaces as word boundaries (they *enable*
   styling inside words), and over wrapping values in code because that changes how every
   value looks. `*`, `_` and `~` between two letters or digits (`user_id`, `2*3`) are kept:
   Slack opens and closes styling only at a word boundary, so there they are plain text, and
   a column name stays exactly what a person copies into SQL. A backtick is always replaced,
   and `>` is replaced where it starts the value or a line.

Inside code (`inline_code`, `table_block`) Slack reads no styling, so only step 1, the
entities and the backtick stand-in apply. `plain_text` objects are not parsed at all; they
are stripped of control characters and cut to length (`clip_plain`).

Cutting happens after escaping and never splits an entity (`&lt;`), a token Warden wrote
itself (`<@U123>`, `<!date^...>`) or a code block: one left open is closed again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

ELLIPSIS = "…"
FENCE = "```"
#: A backtick inside a code block would end it; this look-alike (U+02CB) is shown instead.
BACKTICK_STAND_IN = "\u02cb"
#: Look-alikes shown for Slack's styling characters where they could style text: U+2217
#: ASTERISK OPERATOR, U+FF3F FULLWIDTH LOW LINE, U+223C TILDE OPERATOR, U+02CB, and U+FF1E
#: FULLWIDTH GREATER-THAN SIGN (for a `>` that starts a line, a quote).
STYLE_STAND_INS = {"*": "\u2217", "_": "\uff3f", "~": "\u223c", "`": BACKTICK_STAND_IN}
QUOTE_STAND_IN = "\uff1e"
#: Control characters and bidi controls, stripped from every text taken from the data.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: A styling character; `*`, `_` and `~` only count when not between two letters or digits.
_STYLE = re.compile(r"`|(?<![^\W_])[*_~]|[*_~](?![^\W_])")
#: A `>` at the start of the text or of a line (a quote).
_QUOTE = re.compile(r"^>", re.MULTILINE)
#: A Slack user id (`U…`, or `W…` on Enterprise Grid), optionally as Warden records Slack
#: actors (`slack:U…`); anything else (a login, `policy:auto`) is shown as plain text.
_SLACK_USER = re.compile(r"(?:slack:)?([UW][A-Z0-9]{1,20})")


def escape(value: object) -> str:
    """`value` as `mrkdwn` that Slack shows literally: control and bidi characters stripped,
    `&`, `<` and `>` as entities, styling characters neutralised (see the module docstring).

    >>> escape("<!channel> & <http://evil|x>")
    '&lt;!channel&gt; &amp; &lt;http://evil|x&gt;'
    >>> escape("user_id a*b") == "user_id a*b"
    True
    >>> escape("*bold* _it_") == "\u2217bold\u2217 \uff3fit\uff3f"
    True
    >>> escape("> quoted\u202e") == "\uff1e quoted"
    True
    """
    text = strip_controls(value)
    text = _STYLE.sub(lambda match: STYLE_STAND_INS[match.group()], text)
    return _entities(_QUOTE.sub(QUOTE_STAND_IN, text))


def escape_code(value: object) -> str:
    """`value` for inside a code span or block, where Slack reads no styling: control and
    bidi characters stripped, entities, and backticks (which would end the code) replaced.

    >>> escape_code("a_b*`<c>") == "a_b*" + BACKTICK_STAND_IN + "&lt;c&gt;"
    True
    """
    return _entities(strip_controls(value).replace("`", BACKTICK_STAND_IN))


def strip_controls(value: object) -> str:
    """`value` as text without control characters (newline and tab kept) or bidi controls.

    >>> strip_controls("a\\tb\\r\\x1b[31m\\u202eevil\\u2066")
    'a\\tb[31mevil'
    """
    return _CONTROLS.sub("", str(value))


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """`mrkdwn` text cut to at most `limit` characters, ending in an ellipsis.

    The cut backs off to before a half entity or a half `<...>` token, and a code block left
    open is closed.

    >>> clip("short", 10)
    'short'
    >>> clip("ab &lt;c&gt;", 6)
    'ab …'
    >>> clip("see <@U123ABC> now", 9)
    'see …'
    >>> clip("```\\nrow one\\nrow two\\n```", 16)
    '```\\nrow one…\\n```'
    """
    if len(text) <= limit:
        return text
    kept = _whole_tokens(text[: limit - len(ELLIPSIS)])
    if kept.count(FENCE) % 2 == 0:
        return kept + ELLIPSIS
    closing = "\n" + FENCE
    kept = _whole_tokens(text[: limit - len(ELLIPSIS) - len(closing)])
    return kept + ELLIPSIS + (closing if kept.count(FENCE) % 2 else "")


def _whole_tokens(text: str) -> str:
    """`text` without a trailing partial `<...>` token, entity or fence."""
    opened = text.rfind("<")
    if opened > text.rfind(">"):
        text = text[:opened]
    ampersand = text.rfind("&")
    if ampersand != -1 and ";" not in text[ampersand:]:
        text = text[:ampersand]
    # Two backticks left of a cut fence would join the closing fence into a longer one.
    stripped = text.rstrip("`")
    if (len(text) - len(stripped)) % len(FENCE):
        text = stripped + "`" * ((len(text) - len(stripped)) // len(FENCE) * len(FENCE))
    return text


def inline_code(value: object) -> str:
    """A name (playbook, hash, command) as inline code, escaped.

    >>> inline_code("a`b<c>") == "`a" + BACKTICK_STAND_IN + "b&lt;c&gt;`"
    True
    """
    return "`" + escape_code(value) + "`"


def tail(value: object, limit: int) -> str:
    """Text cut at its start, for paths, whose end (the file) matters most.

    >>> tail("data/loans/date=2025-02-03/part-0.parquet", 16)
    '…/part-0.parquet'
    """
    text = str(value)
    return text if len(text) <= limit else ELLIPSIS + text[-(limit - len(ELLIPSIS)) :]


def clip_plain(text: object, limit: int) -> str:
    """Plain text (headers, buttons, dialogs) on one line, without control or bidi
    characters, cut to `limit` characters.

    >>> clip_plain("Approve relabel_batch for incident 12", 20)
    'Approve relabel_bat…'
    """
    value = " ".join(strip_controls(text).split())
    return value if len(value) <= limit else value[: limit - len(ELLIPSIS)] + ELLIPSIS


def mention(actor: str) -> str:
    """A Slack user id as a mention; any other actor as escaped plain text.

    >>> [mention(a) for a in ("U024BE7LH", "slack:W1A2B3", "alice", "<!here>")]
    ['<@U024BE7LH>', '<@W1A2B3>', 'alice', '&lt;!here&gt;']
    """
    match = _SLACK_USER.fullmatch(actor)
    return f"<@{match.group(1)}>" if match else escape(actor)


def slack_date(moment: datetime) -> str:
    """A time every reader sees in their own time zone, with UTC text where Slack cannot
    format it (notifications, old clients). Naive times are UTC, as everywhere in Warden.

    >>> slack_date(datetime(2025, 2, 3, 14, 30, tzinfo=UTC))
    '<!date^1738593000^{date_short_pretty} {time}|2025-02-03 14:30 UTC>'
    """
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def number(value: float | None) -> str:
    """A statistic or threshold in four significant digits; `-` when there is none.

    >>> [number(v) for v in (0.21348, 1234567.0, None)]
    ['0.2135', '1.235e+06', '-']
    """
    return "-" if value is None else f"{value:.4g}"


def p_value(value: float | None) -> str:
    """A p-value as the CLI shows it: a stored 0 is below what a float holds (about 1e-308).

    >>> [p_value(p) for p in (0.0312, 1.05e-244, 0.0, None)]
    ['0.0312', '1.05e-244', '<1e-308', '-']
    """
    if value is None:
        return "-"
    return "<1e-308" if value == 0 else f"{value:.3g}"


def table_block(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows of raw text as an aligned, escaped code block (alignment is computed on the raw
    text, so an escaped `<` still takes one column).

    >>> print(table_block(("column", "p"), [("a<b", "0.01"), ("salary", "-")]))
    ```
    column  p
    a&lt;b     0.01
    salary  -
    ```
    """
    cells = [
        [strip_controls(cell).replace("`", BACKTICK_STAND_IN) for cell in row]
        for row in [header, *rows]
    ]
    widths = [max(len(row[index]) for row in cells) for index in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    return "\n".join([FENCE, *(escape_code(line) for line in lines), FENCE])
