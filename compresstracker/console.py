"""The rich consoles of ctrack, below every room so library code (progress) and the CLI share them.

Tables and human summaries go to stdout (``ctrack models list | grep vitb``, ``ctrack score ... >
scores.txt``); progress, notes and warnings go to stderr. ``--json`` replaces the stdout table.
Both follow sys.stdout / sys.stderr as they are when printing (tests swap them).
"""
from __future__ import annotations

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)


class LeftAbbreviated:
    """A one-line cell that, given less room than it needs, drops characters from the left behind
    an ellipsis (``…_student_model.safetensors``): the end of a name or path is what tells rows apart."""

    def __init__(self, value: str | Text):
        self.value = value

    def _text(self, console: Console) -> Text:
        return self.value if isinstance(self.value, Text) else console.render_str(self.value)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = max((line.cell_len for line in self._text(console).split()), default=0)
        return Measurement(width, width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        for line in self._text(console).split():
            if line.cell_len > width:
                kept = line[len(line) - max(width - 1, 0):]
                while kept.cell_len > width - 1 and len(kept):
                    kept = kept[1:]
                line = Text("…").append_text(kept) if width > 0 else Text()
            line.no_wrap = True
            yield line


FIRST_COLUMN_MIN = 16  # narrower than this, the table turns into one block per row


class _Table(Table):
    """A table whose first column never folds: its cells are :class:`LeftAbbreviated`, and it may take
    the room the other columns leave when they wrap between words. Where that room is under
    ``FIRST_COLUMN_MIN`` the table prints one block per row: the first cell, then ``header: value`` lines."""

    def add_row(self, *renderables: RenderableType | None, **kwargs) -> None:
        if renderables and isinstance(renderables[0], (str, Text)):
            renderables = (LeftAbbreviated(renderables[0]), *renderables[1:])
        super().add_row(*renderables, **kwargs)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        first = self.columns[0] if self.columns else None
        if first is None or first.width is not None or first.no_wrap:  # the caller laid the first column out
            yield from super().__rich_console__(console, options)
            return
        # The other columns can narrow to their longest word (headers and cells wrap between words).
        others = sum(self._measure_column(console, options, column).minimum for column in self.columns[1:])
        room = (self.width or options.max_width) - self._extra_width - others - self._get_padding_width(0)
        natural = self._measure_column(console, options, first).maximum - self._get_padding_width(0)
        if room < min(natural, FIRST_COLUMN_MIN):
            yield from self._blocks()
            return
        saved = first.no_wrap, first.max_width
        first.no_wrap, first.max_width = True, room
        try:
            yield from super().__rich_console__(console, options)
        finally:
            first.no_wrap, first.max_width = saved

    def _blocks(self) -> RenderResult:
        if self.title:
            yield Text(self.title) if isinstance(self.title, str) else self.title
        cells = [list(column.cells) for column in self.columns]
        for row in range(self.row_count):
            yield cells[0][row]
            grid = Table.grid(padding=(0, 1), pad_edge=True)
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            for column, column_cells in zip(self.columns[1:], cells[1:]):
                grid.add_row(f"{column.header}:", column_cells[row])
            yield grid
        if self.caption:
            yield Text(self.caption) if isinstance(self.caption, str) else self.caption


def make_table(title: str | None, *columns: str | tuple[str, dict], **kwargs) -> Table:
    """A table whose column names stay readable at 80 columns when stdout is not a terminal.

    A column is never narrower than its longest header word (headers wrap between words, never
    inside one, and are never cut to "para…"); cells fold instead, except the first column's:
    a name (a checkpoint, a tracker, an arch) stays on one line, shortened from the left when
    the row does not fit. ``columns`` are names or (name, add_column options).
    """
    kwargs.setdefault("box", box.SIMPLE_HEAD)
    kwargs.setdefault("pad_edge", False)
    table = _Table(title=title, **kwargs)
    for column in columns:
        name, options = column if isinstance(column, tuple) else (column, {})
        options = dict(options)
        options.setdefault("min_width", max((len(word) for word in name.split()), default=0))
        options.setdefault("overflow", "fold")
        table.add_column(name, **options)
    return table
