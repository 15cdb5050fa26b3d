"""What reaches the operator's terminal from outside cannot drive the terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from hub.cli.shared import escaped, shown
from hub.core.text import visible_controls

HOSTILE = ("Eva\x1b[2J\x1b]52;c;ZWNobw==\x07Mallory\x1b[8m \u202egpj.exe\u2066x\u2069 "
           "\x9b31m [red]x[/]")


def test_controls_and_direction_characters_are_written_as_escapes() -> None:
    assert visible_controls("a\x1b[31mb\u202ec\x9bd\x7f") == "a\\x1b[31mb\\u202ec\\x9bd\\x7f"
    assert visible_controls("line\nnext\tcell") == "line\nnext\tcell"


@pytest.mark.parametrize("make", [shown, escaped])
def test_printed_external_text_holds_no_control_character(make) -> None:
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=True, color_system=None, width=200).print(make(HOSTILE))
    printed = buffer.getvalue()
    assert not any(ch in printed for ch in "\x1b\x07\x9b\u202e\u2066\u2069")
    assert "[red]x[/]" in printed and "Mallory" in printed
