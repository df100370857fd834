"""Where a pipeline, a stage or a key sits in the text of a pipeline file: its line number.

Neither `tomllib` nor `json` tells where a value came from, so this scans the
text, as a reader would: a pipeline starts at its table header
(`[pipelines.new-business]`, or its first `[[pipelines.new-business.stages]]`)
in TOML and at its key (`"new-business":`) in JSON; its n-th stage is the n-th
element of its `stages` array (strings and comments skipped), or its n-th
`[[pipelines.NAME.stages]]` header. A place the scan cannot find is None: the
caller says where in words instead.
"""

from __future__ import annotations

import json
import re
from typing import Literal

Syntax = Literal["toml", "json"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SPACE = r"[ \t]*"


class PipelineLines:
    """Line numbers (from 1) of the parts of one pipeline file's text."""

    def __init__(self, text: str, syntax: Syntax) -> None:
        self.text = text
        self.syntax = syntax
        self._pipelines_at = self._offset(self._key_pattern("pipelines"))

    def key(self, name: str, occurrence: int = 1) -> int | None:
        """The line of the `occurrence`-th key `name` (in any table)."""
        matches = list(re.finditer(self._key_pattern(name), self.text, re.MULTILINE))
        return self._line(matches[occurrence - 1].start()) if len(matches) >= occurrence else None

    def pipeline(self, name: str) -> int | None:
        start = self._pipeline_start(name)
        return None if start is None else self._line(start)

    def stage(self, pipeline: str, number: int) -> int | None:
        """The line where the `number`-th stage (from 1) of `pipeline` starts."""
        start = self._pipeline_start(pipeline)
        if start is None:
            return None
        if self.syntax == "toml":
            headers = list(re.finditer(self._stage_table(pipeline), self.text, re.MULTILINE))
            if headers:
                return self._line(headers[number - 1].start()) if len(headers) >= number else None
        array = re.compile(self._key_pattern("stages") + r"\s*\[", re.MULTILINE)
        found = array.search(self.text, start, self._pipeline_end(start))
        if found is None:
            return None
        openings = _element_openings(self.text, found.end() - 1, comments=self.syntax == "toml")
        return self._line(openings[number - 1]) if len(openings) >= number else None

    def _pipeline_start(self, name: str) -> int | None:
        if self.syntax == "json":
            if self._pipelines_at is None:
                return None
            return self._offset(self._key_pattern(name), self._pipelines_at)
        key = _toml_key(name)
        header = rf"^{_SPACE}\[{_SPACE}pipelines{_SPACE}\.{_SPACE}{key}{_SPACE}\]"
        inline = rf"^{_SPACE}(?:pipelines{_SPACE}\.{_SPACE})?{key}{_SPACE}="
        for pattern in (header, self._stage_table(name), inline):
            start = self._offset(pattern, self._pipelines_at or 0)
            if start is not None:
                return start
        return None

    def _pipeline_end(self, start: int) -> int:
        """Where the next TOML table header starts (the end of the text in JSON)."""
        if self.syntax == "json":
            return len(self.text)
        after = self.text.find("\n", start)
        following = self._offset(rf"^{_SPACE}\[(?!{_SPACE}\[)", after) if after >= 0 else None
        return len(self.text) if following is None else following

    def _key_pattern(self, name: str) -> str:
        if self.syntax == "json":
            return re.escape(json.dumps(name, ensure_ascii=False)) + r"\s*:"
        return rf"^{_SPACE}(?:\[{_SPACE})?{_toml_key(name)}{_SPACE}[=\].]"

    def _stage_table(self, pipeline: str) -> str:
        dot = rf"{_SPACE}\.{_SPACE}"
        return rf"^{_SPACE}\[\[{_SPACE}pipelines{dot}{_toml_key(pipeline)}{dot}stages{_SPACE}\]\]"

    def _offset(self, pattern: str, start: int = 0) -> int | None:
        found = re.compile(pattern, re.MULTILINE).search(self.text, start)
        return None if found is None else found.start()

    def _line(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1


def _toml_key(name: str) -> str:
    """A pattern for `name` as a TOML key: bare when it can be, else quoted either way."""
    quoted = [re.escape(json.dumps(name, ensure_ascii=False)), re.escape(f"'{name}'")]
    if _BARE_KEY.fullmatch(name):
        quoted.append(re.escape(name))
    return "(?:" + "|".join(quoted) + ")"


def _element_openings(text: str, array_at: int, *, comments: bool) -> list[int]:
    """The offsets where each element of the array whose `[` is at `array_at` starts."""
    openings: list[int] = []
    depth = 0
    expecting = False  # at depth 1, after the `[` or a `,`: the next value starts an element
    index = array_at
    while index < len(text):
        char = text[index]
        if comments and char == "#":
            index = text.find("\n", index)
            if index < 0:
                break
            continue
        if depth == 1 and expecting and not char.isspace() and char not in ",]":
            openings.append(index)
            expecting = False
        if char in "\"'":
            index = _after_string(text, index)
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                break
        expecting = (depth == 1 and char in "[,") or expecting
        index += 1
    return openings


def _after_string(text: str, start: int) -> int:
    """The offset just after the string that opens at `start` (TOML's four kinds, JSON's one)."""
    quote = text[start]
    if text.startswith(quote * 3, start):
        end = text.find(quote * 3, start + 3)
        return len(text) if end < 0 else end + 3
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "\\" and quote == '"':
            index += 2
            continue
        if char in (quote, "\n"):
            return index + 1
        index += 1
    return index
