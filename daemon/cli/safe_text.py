"""Text from data, made safe to print on a person's terminal.

Column names, category values, scan messages, plan summaries, reasons and audit payloads
come from data and from people, not from Warden. Printed as they are, they can break or
subvert the terminal: `[bold red]x[/]` is Rich markup (a stray `[/]` raises MarkupError), and
an escape sequence can recolour the screen, set the clipboard (OSC 52) or hide text behind
a bidi override. Every human output of the CLI passes such text through one of:

- `data_markup(value)`: for Rich markup and table cells. Control characters stripped, then the
  markup escaped, so the text reads literally;
- `data_text(value)`: for output printed with `markup=False` (and for measuring widths):
  control characters stripped.

Stripped are ESC sequences whole (CSI `ESC [ ... m`, OSC `ESC ] ... BEL` or `ESC ] ... ESC \\`,
DCS, APC, PM, SOS, and two-character escapes), then every other C0 control except newline
and tab, DEL, the C1 controls (U+0080..U+009F, which some terminals read as CSI / OSC), and
the bidi embeddings, overrides, isolates and marks (U+202A..U+202E, U+2066..U+2069,
U+200E, U+200F, U+061C). Nothing else changes: JSON and CSV output keep the data as it is.

`SafeConsole` is the net under both: a Rich console that strips control characters from
every string it renders (table cells, titles, `print` arguments), so a place that forgets
the helpers cannot write an ESC byte from the data. It cannot escape markup (the string is
markup by then), which is why the helpers are still needed.

>>> data_markup("[bold red]x[/]\\x1b]52;c;aGk=\\x07 \\x1b[31mred")
'\\\\[bold red]x\\\\[/] red'
>>> data_text("a\\tb\\r\\u202eevil")
'a\\tbevil'
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

#: Whole escape sequences: string commands (OSC, DCS, SOS, PM, APC) up to their terminator
#: (BEL or ESC \) or the end of the text, CSI with its parameters, and any other ESC with
#: the character it introduces.
_ESCAPE_SEQUENCES = re.compile(
    r"\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b[ -/]*[0-~]?"
)
#: Single characters a terminal acts on, or that reorder what is shown.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def data_text(value: Any) -> str:
    """`value` as text with escape sequences and control characters removed (newline and
    tab kept)."""
    text = "" if value is None else str(value)
    return _CONTROLS.sub("", _ESCAPE_SEQUENCES.sub("", text))


def data_markup(value: Any) -> str:
    """`value` as text for Rich markup or a table cell: `data_text`, then markup escaped."""
    return escape(data_text(value))


class SafeConsole(Console):
    """A Rich console that strips control characters from every string it renders (the
    markup it parses is Warden's own: data reaches it through `data_markup`)."""

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(_CONTROLS.sub("", text), **options)
