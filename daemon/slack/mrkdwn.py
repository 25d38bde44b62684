"""Text for Slack's `mrkdwn`: escaping, cutting to Slack's limits, mentions, dates, numbers.

Slack reads three characters in `mrkdwn` text as markup: `<` opens a link, a mention or a
broadcast (`<http://evil|click>`, `<@U123>`, `<!channel>`), `&` starts an entity, and `>`
closes a link. Everything that comes from the data or from people (titles, column names,
category values, paths, reasons) goes through `escape` before it is put into `mrkdwn`, so it
is shown as written and can never ping a channel or hide a link. `plain_text` objects are
not parsed for links or mentions; they are only cut to length (`clip_plain`).

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
#: A Slack user id (`U…`, or `W…` on Enterprise Grid), optionally as Warden records Slack
#: actors (`slack:U…`); anything else (a login, `policy:auto`) is shown as plain text.
_SLACK_USER = re.compile(r"(?:slack:)?([UW][A-Z0-9]{1,20})")


def escape(value: object) -> str:
    """`value` as text that Slack shows literally: `&`, `<` and `>` as entities.

    >>> escape("<!channel> & <http://evil|x>")
    '&lt;!channel&gt; &amp; &lt;http://evil|x&gt;'
    """
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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
    return "`" + escape(str(value).replace("`", BACKTICK_STAND_IN)) + "`"


def tail(value: object, limit: int) -> str:
    """Text cut at its start, for paths, whose end (the file) matters most.

    >>> tail("data/loans/date=2025-02-03/part-0.parquet", 16)
    '…/part-0.parquet'
    """
    text = str(value)
    return text if len(text) <= limit else ELLIPSIS + text[-(limit - len(ELLIPSIS)) :]


def clip_plain(text: object, limit: int) -> str:
    """Plain text (headers, buttons, dialogs) on one line, cut to `limit` characters.

    >>> clip_plain("Approve relabel_batch for incident 12", 20)
    'Approve relabel_bat…'
    """
    value = " ".join(str(text).split())
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
    cells = [[cell.replace("`", BACKTICK_STAND_IN) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[index]) for row in cells) for index in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    return "\n".join([FENCE, *(escape(line) for line in lines), FENCE])
