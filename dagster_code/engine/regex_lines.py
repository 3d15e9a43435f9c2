"""One regular expression search for many values: a REGEX rule over the run's values joined by newlines.

PostgreSQL's regex engine builds its DFA afresh for every value it matches, so ``value ~ P`` row by
row costs several times a plain scan of the rows. :func:`good_lines_pattern` turns ``P`` into ``G``,
which matches a run of whole lines that each hold a match of ``P``. Joined into one text
``v1\\nv2\\n...vk\\n``, the values are searched in one pass, through cached DFA states:
``regexp_replace(text, G, '', 'g')`` removes every run of good lines and leaves the lines failing
``P``, one per failing value, to be counted.

``G`` is ``(?n)^(?:[^\\n]*(?:P)[^\\n]*\\n)+``. In newline-sensitive mode (``(?n)``) ``^`` and
``$`` match at the start and end of each line, and ``.`` and bracket expressions with ``^`` never
match a newline; on a value without a newline ``P`` means what it meant alone. That holds only when
no part of ``P`` can match a newline by itself, so :func:`good_lines_pattern` accepts a
conservative subset of PostgreSQL's advanced regular expressions and returns ``None`` for anything
else (the rule is then matched row by row):

- no control characters (a newline or tab typed into the pattern);
- escapes: ``\\d``, ``\\w`` and ``\\S``, or a backslash before ASCII punctuation (that
  character); not ``\\s``, ``\\n``, ``\\D``, ``\\W``, character codes, back references or
  constraint escapes;
- bracket expressions of characters, ranges, ``\\d``, ``\\w`` and the classes in :data:`_CLASSES`
  (no ``[:space:]``, ``[:cntrl:]``, collating elements ``[. .]`` or equivalence classes ``[= =]``);
- groups ``(...)`` and ``(?:...)`` only: no lookahead or lookbehind, no embedded options, no
  ``***`` director.

The values joined must hold no newline: the caller counts the lines and, when they are more than
the values, matches that rule row by row instead.
"""

from __future__ import annotations

_CLASSES = frozenset({"alnum", "alpha", "digit", "lower", "upper", "punct", "xdigit"})
_ESCAPES = frozenset("dwS")  # \d, \w, \S: none of them matches a newline
_BRACKET_ESCAPES = frozenset("dw")  # PostgreSQL refuses \D, \S, \W inside brackets


def good_lines_pattern(pattern: str) -> str | None:
    """The pattern of a run of newline-ended lines that each hold a match of ``pattern``; None outside the subset."""
    if not pattern or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in pattern) or pattern.startswith("***"):
        return None
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if not _plain_escape(pattern[i + 1 : i + 2], _ESCAPES):
                return None
            i += 2
        elif ch == "[":
            end = _bracket_end(pattern, i)
            if end is None:
                return None
            i = end
        elif ch == "(" and pattern.startswith("(?", i):
            if not pattern.startswith("(?:", i):
                return None
            i += 3
        else:
            i += 1
    return "(?n)^(?:[^\\n]*(?:" + pattern + ")[^\\n]*\\n)+"


def _plain_escape(following: str, allowed: frozenset[str]) -> bool:
    """A backslash before ``following``: an allowed class escape, or ASCII punctuation taken literally."""
    if not following:
        return False
    if following in allowed:
        return True
    return following.isascii() and not following.isalnum()


def _bracket_end(pattern: str, start: int) -> int | None:
    """The index after the bracket expression opening at ``start``; None if it holds anything unsafe."""
    i = start + 1
    if pattern.startswith("^", i):
        i += 1
    if pattern.startswith("]", i):  # a ']' first is a literal
        i += 1
    while i < len(pattern):
        ch = pattern[i]
        if ch == "]":
            return i + 1
        if ch == "[" and pattern.startswith(("[.", "[="), i):
            return None
        if ch == "[" and pattern.startswith("[:", i):
            close = pattern.find(":]", i + 2)
            if close < 0 or pattern[i + 2 : close] not in _CLASSES:
                return None
            i = close + 2
        elif ch == "\\":
            if not _plain_escape(pattern[i + 1 : i + 2], _BRACKET_ESCAPES):
                return None
            i += 2
        else:
            i += 1
    return None
