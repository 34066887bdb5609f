"""scrub_text's name removal in Python (dm_scrub_names), for the texts where it can prove it does
exactly what the SQL regex chain of macros/anonymize/text.sql does; see NameScrubber.

Pure Python with no dependency beyond `re`: it runs inside the dbt process and in the scrub
workers (udf_workers.py) alike.
"""
from __future__ import annotations

import functools
import re
import unicodedata

# RE2's \s (no \v), no-break space, comma, parentheses, double quotes, slash and hyphen: what
# string_split_regex(.., '[\s,\x{00A0}()"\x{201C}\x{201D}/-]+') splits a name on ('Robert (Bobby)' and
# 'Robert "Bobby"' name Bobby too)
def _any_case(word: str) -> str:
    # letter by letter, not (?i): RE2 and Python fold case differently past ASCII (ſ, K)
    return "".join(f"[{c.upper()}{c}]" for c in word)


# A title before a name ("Ms. Zavala", "Dr. Ana García", "Nurse Lee"): kept as written, never
# faked as a first name. Group 1 is the title and its spaces, followed by the name's first
# character. Used as is by Python (fakes.full_name) and by DuckDB (sql_library.sql, __TITLE__).
_TITLES_DOTTED = ("mrs", "mr", "ms", "miss", "mx", "dr", "prof", "srta", "sra", "sr")
_TITLES_PLAIN = ("nurse", "coach")
TITLE = ("^(((?:" + "|".join(map(_any_case, _TITLES_DOTTED)) + r")\.?|(?:" + "|".join(map(_any_case, _TITLES_PLAIN))
         + ")) +)[^ ,]")


_PART_SEPARATORS = re.compile("[\t\n\f\r ,\u00a0()\"\u201c\u201d/-]+")
# the edge class of dm_lib.name_pattern (sql_library.sql): the code points RE2 makes of (?i) on
# [^A-Za-z\x{00C0}-\x{024F}], spelled out, so the edges need no case folding in either engine;
# digits and _ are edges, so a user name such as ann_lee2 loses Ann and Lee
_EDGE = ("[^A-Za-z\u00c0-\u024f\u0253-\u0254\u0256-\u0257\u0259\u025b\u0260\u0263\u0268-\u0269"
         "\u026f\u0272\u0275\u0280\u0283\u0288-\u028c\u0292\u1e9e\u212a-\u212b\u2c65-\u2c66\u2c7e-\u2c7f]")
_LATIN_MAX = 0x024F                           # last code point of Latin Extended-B
# Where Python's (?i) and RE2's (?i) pair exactly the same characters (tests check every pair,
# and every code point against the caseless blocks): ASCII, Latin-1 to Latin Extended-B without
# U+0130/U+0131 (Python pairs them with i/I, RE2 does not), Greek, Cyrillic, Latin Extended
# Additional (Vietnamese), and caseless blocks: Hebrew to Sinhala, Thai, Lao, general
# punctuation (typographic quotes), currency, arrows and symbols, CJK, kana, Hangul, emoji.
_CASELESS = ("\u0590-\u08ff\u0900-\u0dff\u0e00-\u0eff\u2000-\u206f\u20a0-\u20cf\u2190-\u23ff\u2500-\u27bf"
             "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\ufe00-\ufe0f\U0001f000-\U0001faff")
# ß and ẞ are out too: a name's ß matches ss and its ss matches ß (part_pattern), which changes
# lengths, and the fast path compares character by character.
_AGREED = re.compile(f"[\\x00-\u00de\u00e0-\u012f\u0132-\u024f\u0370-\u052f\u1e00-\u1e9d\u1e9f-\u1eff{_CASELESS}]*")


# an apostrophe in a name matches either apostrophe (sql_library.sql, name_pattern)
_EITHER_APOSTROPHE = "['\u2019]"
# inside a part, also none or a space: O'Brien is written OBrien or O Brien where a system strips
# apostrophes (sql_library.sql, escaped_part)
_INNER_APOSTROPHE = "['\u2019 ]?"
_UNSEEN = object()


def _accented_letters() -> dict[str, str]:
    """Each accented Latin letter -> its ASCII base letter, lower case: the letters of Latin-1 to
    Latin Extended-B and Latin Extended Additional whose canonical decomposition is that letter
    and combining marks only (é, Ñ, ơ, ễ; not ø, ł, ß, which are letters of their own; ß pairs
    with ss in part_pattern), and the Turkish İ and ı."""
    found = {}
    for cp in [*range(0xC0, 0x250), *range(0x1E00, 0x1F00)]:
        ch = chr(cp)
        base, *marks = unicodedata.normalize("NFD", ch)
        if (cp != 0x130 and base.isascii() and base.isalpha() and marks
                and all(unicodedata.category(m) == "Mn" for m in marks)):
            found[ch] = base.lower()
    # and the letters RE2 pairs with a base letter's class: ſ with s and ẛ with ṡ (a part written
    # with them must match what their fold matches), the Kelvin and Ångström signs with k and å
    # (SQL's (?i) replace makes them k and a classes)
    # and the Turkish dotted İ and dotless ı, an i written the Turkish way: Yılmaz is typed Yilmaz
    # on most keyboards (RE2's (?i) pairs neither with i, Python's pairs both: the i class spells
    # them out, so both engines match alike)
    return {**found, "ſ": "s", "ẛ": "s", "\u212a": "k", "\u212b": "a", "\u0131": "i", "\u0130": "i"}


# A note typed without accents still names José: a name part matches its letters with or
# without their accents. In the SQL pattern a letter becomes the class of its base letter
# (sql_library.sql, part_pattern: a regexp_replace a base letter, from ACCENT_CLASSES); in the fast
# path fold() maps every accented letter to its base.
ACCENTED = _accented_letters()
# (İ stands for itself: it lowers to two code points, so no lower-case letter stands for it)
ACCENT_CLASSES = {base: "[" + base + "".join(ch for ch, b in ACCENTED.items()
                                             if b == base and (ch.islower() or ch == "\u0130")) + "]"
                  for base in sorted(set(ACCENTED.values()))}


def name_part_kept(part: str) -> bool:
    """Which parts of a name scrub_text removes from text (text.sql: `length(p) >= 2 or
    unicode(p) > 591`): parts of 2+ characters, and one-character parts outside Latin script
    (a CJK given or family name such as '芳' or '王'). Latin one-character parts are initials
    ("J."), too common as words ("a", "I") to remove."""
    return len(part) >= 2 or (len(part) == 1 and ord(part) > _LATIN_MAX)


def name_parts(name: str) -> list[str]:
    """The parts of one name value scrub_text looks for, split as DuckDB splits them (trim()
    strips spaces; on RE2's \\s, [\\t\\n\\f\\r ], no-break spaces, commas, parentheses, double
    quotes, slashes and hyphens: a note names "García, Ana" or García-López as García, and
    'Robert (Bobby)' as Bobby)."""
    # a NUL is dropped first (sql_library.sql does the same): RE2 would escape it \x00 in the
    # pattern, and the letter classes would then read its x as a letter
    return [p for p in _PART_SEPARATORS.split(name.replace("\0", "").strip(" ")) if name_part_kept(p)]


@functools.lru_cache(maxsize=4096)  # a document's free text meets the same names again and again
def name_pattern(name: str) -> re.Pattern | None:
    """The pattern of one name value, as text.sql builds it: its kept parts, case-insensitive,
    standing between edges (or the ends of the text); None when no part is kept."""
    parts = name_parts(name)
    if not parts:
        return None
    alternatives = "|".join(map(part_pattern, parts))
    return re.compile(f"(\\A|{_EDGE})(?i:{alternatives})(\\Z|{_EDGE})")


# RE2's (?i)s: s, S and the long s (Python's (?i) pairs the same)
_S = frozenset("sSſ")


def part_pattern(part: str) -> str:
    """One name part in its pattern (sql_library.sql, part_pattern): each character's pattern,
    and ß or ss as either, so a note's "WEISS" loses the name Weiß and "Strauß" the name Strauss
    (ß is written ss where a keyboard has none)."""
    out, i = [], 0
    while i < len(part):
        pair = part[i] in _S and i + 1 < len(part) and part[i + 1] in _S
        if pair or part[i] in "ßẞ":
            out.append(f"(?:{char_pattern('s')}{char_pattern('s')}|ß)")
            i += 2 if pair else 1
        elif part[i] in "'\u2019" and 0 < i < len(part) - 1:
            out.append(_INNER_APOSTROPHE)
            i += 1
        else:
            out.append(char_pattern(part[i]))
            i += 1
    return "".join(out)


def char_pattern(ch: str) -> str:
    """One character of a name part in its pattern (sql_library.sql, part_pattern): a letter with
    or without its accents, either apostrophe, or the character itself."""
    if ch in "'\u2019":
        return _EITHER_APOSTROPHE
    base = ACCENTED.get(ch, ch)
    return ACCENT_CLASSES.get(base.lower() if base.isascii() else base) or re.escape(ch)


# Equality of a text's character with a name part's character, as the name pattern matches them, on
# _AGREED characters: the same character after lower(), these few case folds (Python and RE2 pair
# e.g. s with ſ and σ with ς; lower() alone does not) and the accents dropped. Tests check it
# against RE2 for every pair.
_CASE_FOLD = {"ſ": "s", "µ": "μ", "ϐ": "β", "ϵ": "ε", "ϑ": "θ", "ϰ": "κ", "ϖ": "π", "ϱ": "ρ", "ς": "σ", "ϕ": "φ",
              "ẛ": "ṡ",
              "\u2019": "'"}  # not a case pair: the name pattern's either-apostrophe class
# then an accented letter is its base letter: the name pattern's accent classes (the last step of
# the fold, so 'ẛ' goes to 's' by way of 'ṡ')
_FOLD = str.maketrans({ch: ACCENTED.get(to, to)
                       for ch, to in {**{ch: ch for ch in ACCENTED if ch.islower()}, **_CASE_FOLD}.items()})
_EDGE_RE = re.compile(_EDGE)


def fold(text: str) -> str:
    """One form per class of characters the name pattern matches alike (case and accents),
    character for character (_AGREED text keeps its length)."""
    if text.isascii():  # _FOLD maps no ASCII character, and translate() costs a lookup per character
        return text.lower()
    return text.lower().translate(_FOLD)


class NameScrubber:
    r"""scrub_text's name passes (macros/anonymize/text.sql, dm_lib.drop_name) for the rows
    whose text and names hold only characters of _AGREED. SQL compiles each row's pattern
    (^|E)(?i:p1|p2..)($|E) for every row (~0.25 ms a pass, several ms when non-ASCII), and so
    would Python `re` (~0.4 ms: the edge class); here the regex is run by hand, with no pattern
    at all, making exactly the matches the regex engine makes:
    - re.sub scans left to right; at position i it tries group 1 = \A (i = 0), then an edge
      character at i; then the parts in their order, each case-insensitive, each followed by \Z
      or an edge character (a part that matches but is not followed so gives way to the next);
    - a match is replaced by group 1 + placeholder + group 2, and the scan resumes after it (the
      edge after a name is consumed, hence the second pass, as in SQL).
    The scan is not walked position by position: str.find lists where each part occurs in the
    folded text, the occurrences the regex could match there become candidates, and sorting
    them by (position, alternative, part) then skipping those that start inside an earlier
    match gives re.sub's matches (most texts hold a name a few times, not at every word).
    Case-insensitive equality is fold() on _AGREED characters, where Python and RE2 pair the
    same characters, and ’ folds to ' (the pattern's either-apostrophe class); parts are split
    as DuckDB does (name_parts: trim() strips spaces, then a split on RE2's \s, no-break spaces,
    commas, parentheses, double quotes, slashes and hyphens; length() counts characters); a part
    with an apostrophe inside is looked for in each of its spellings (_spellings). Anything else (another character anywhere, a
    placeholder with a backslash, which RE2 would read as a rewrite escape, or with a character
    outside _AGREED) returns None: the caller takes the SQL path."""

    def __init__(self, placeholder: str, max_names: int = 100_000):
        # a placeholder outside _AGREED may change length under fold() ('İ' lowers to two code
        # points): the second pass would read the scrubbed text's fold at the wrong positions
        self.placeholder = placeholder if "\\" not in placeholder and _agreed(placeholder) else None
        self._parts: dict[str, tuple[tuple[str, ...], ...] | None] = {}
        self._memo: dict[tuple, str] = {}
        self._max = max_names

    def _folded_parts(self, name: str) -> tuple[tuple[str, ...], ...] | None:
        """The name's kept parts, folded, in their order (the pattern's alternatives), each as
        the texts it matches (O'Brien: o'brien, o brien, obrien); None when this path cannot
        say (two apostrophes in a row, or more than two inside one part)."""
        found = self._parts.get(name, _UNSEEN)
        if found is _UNSEEN:
            kept = name_parts(name)
            # one fold for all parts: fold() maps character by character (parts hold no space);
            # a repeated part adds nothing: the regex tries the first of equal alternatives
            folded = tuple(dict.fromkeys(fold(" ".join(kept)).split(" "))) if kept else ()
            variants = tuple(map(_spellings, folded))
            found = None if None in variants else variants
            if len(self._parts) >= self._max:
                self._parts.clear()
            self._parts[name] = found
        return found

    def scrub(self, text: str | None, names: list | None) -> str | None:
        if text is None or names is None or self.placeholder is None or not _agreed(text):
            return None
        if not all(n is None or _agreed(n) for n in names):
            return None
        key = (text, tuple(names))
        done = self._memo.get(key)
        if done is None:
            # the same text with the same names comes again: repeated notes, and the macro's CASE
            # where DuckDB does not share its two calls (inside a text[] column's lambda)
            if len(self._memo) >= 8192:
                self._memo.clear()
            done = self._memo[key] = self._scrub(text, names)
        return done

    def _scrub(self, text: str, names: list) -> str | None:
        every = [self._folded_parts(name) for name in names if name is not None]
        if None in every:
            return None
        folded = fold(text)
        for parts in every:
            for _ in range(2 if parts else 0):  # as SQL: pass 2 catches names pass 1's edges swallowed
                scrubbed = self._one_pass(text, folded, parts)
                if scrubbed is text:  # nothing replaced: another pass would find nothing either
                    break
                text, folded = scrubbed, fold(scrubbed)
        return text

    def _one_pass(self, text: str, folded: str, parts: tuple[str, ...]) -> str:
        """One re.sub of the name's pattern, driven by where its parts occur (str.find, in C)
        rather than by a scan of every position; the matches are the ones the regex makes."""
        found = _candidates(text, folded, parts)
        if not found:
            return text
        found.sort()
        out, last, pos = [], 0, 0
        for start, _, _, before, end, after in found:
            if start < pos:  # inside (or at the edge swallowed by) the previous match
                continue
            out += [text[last:start], before, self.placeholder, after]
            last = pos = end
        return "".join(out) + text[last:]


def _candidates(text: str, folded: str, parts: tuple[str, ...]) -> list[tuple]:
    """Every place the regex could match, as (start, alternative, part, group 1, end, group 3),
    so that sorting gives the regex's own preference: the leftmost start; there, group 1 as \\A
    (alternative 0) before group 1 as an edge character (1); then the parts in their order.
    `end` is past the edge character group 3 consumed (the scan resumes there)."""
    n, found = len(text), []
    for rank, spellings in enumerate(parts):
        # a part's spellings never match at one place together: they differ where its apostrophe is
        for part in spellings:
            _find(text, folded, part, rank, n, found)
    return found


def _spellings(part: str) -> tuple[str, ...] | None:
    """The folded texts a folded name part matches: an apostrophe inside it (not its first or
    last character) may be there, a space, or missing (part_pattern's _INNER_APOSTROPHE)."""
    inner = [i for i in range(1, len(part) - 1) if part[i] == "'"]
    if not inner:
        return (part,)
    if len(inner) > 2 or any(part[i + 1] == "'" for i in inner):
        return None
    out = [""]
    last = 0
    for i in inner:
        out = [o + part[last:i] + mark for o in out for mark in ("'", " ", "")]
        last = i + 1
    return tuple(o + part[last:] for o in out)


def _find(text: str, folded: str, part: str, rank: int, n: int, found: list) -> None:
    """Where `part` occurs in the folded text standing as the regex needs it, added to `found`."""
    j = folded.find(part)
    while j >= 0:
        stop = j + len(part)
        if stop == n:
            after = ""
        elif _EDGE_RE.match(text, stop):
            after = text[stop]
        else:
            after = None
        if after is not None:
            if j == 0:
                found.append((0, 0, rank, "", stop + len(after), after))
            elif _EDGE_RE.match(text, j - 1):
                found.append((j - 1, 1, rank, text[j - 1], stop + len(after), after))
        j = folded.find(part, j + 1)


def _agreed(text: str) -> bool:
    return text.isascii() or _AGREED.fullmatch(text) is not None
