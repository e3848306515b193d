"""Wordle rules: the shipped word list, per-letter feedback, and a deterministic consistent-guess solver."""

from __future__ import annotations

import hashlib
from collections import Counter
from functools import cache
from pathlib import Path

WORD_FILE = Path(__file__).with_name("words.txt")
LENGTH = 5
ATTEMPTS = 6
GREEN, YELLOW, GRAY = "G", "Y", "X"
COLOR_NAMES = {GREEN: "green", YELLOW: "yellow", GRAY: "gray"}
# Fixed first guess: the word of the list that splits it into the most feedback groups (found offline).
OPENER = "trace"


def load_words(path: Path = WORD_FILE) -> tuple[str, ...]:
    """The word list: one lowercase 5-letter word a line; `#` lines are comments."""
    words = []
    for line in path.read_text().splitlines():
        word = line.strip().lower()
        if word and not word.startswith("#"):
            words.append(word)
    return tuple(sorted(set(words)))


WORDS: tuple[str, ...] = load_words()
WORD_SET = frozenset(WORDS)


def feedback(guess: str, target: str) -> str:
    """Per-letter colours of `guess` against `target`: G green, Y yellow, X gray.

    Standard duplicate rules: greens first; then each other letter is yellow only while the target still
    has unmatched copies of it, left to right.
    """
    result = [GRAY] * LENGTH
    unmatched: dict[str, int] = {}
    for i, (g, t) in enumerate(zip(guess, target, strict=True)):
        if g == t:
            result[i] = GREEN
        else:
            unmatched[t] = unmatched.get(t, 0) + 1
    for i, g in enumerate(guess):
        if result[i] != GREEN and unmatched.get(g, 0) > 0:
            result[i] = YELLOW
            unmatched[g] -= 1
    return "".join(result)


def task_id_of(word: str) -> str:
    """An id that names the target without revealing it."""
    return "wordle-" + hashlib.sha256(f"agentgym-wordle:{word}".encode()).hexdigest()[:8]


@cache
def _choose(candidates: tuple[str, ...]) -> str:
    """The candidate that splits the others into the most feedback groups (then smallest largest group,
    then alphabetical): always a guess consistent with everything seen so far."""
    if len(candidates) <= 2:
        return candidates[0]

    def rank(guess: str) -> tuple[int, int, str]:
        groups = Counter(feedback(guess, t) for t in candidates)
        return -len(groups), max(groups.values()), guess

    return min(candidates, key=rank)


@cache
def _partition(guess: str, candidates: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """The candidates grouped by the feedback `guess` would get from each."""
    groups: dict[str, list[str]] = {}
    for word in candidates:
        groups.setdefault(feedback(guess, word), []).append(word)
    return {pattern: tuple(group) for pattern, group in groups.items()}


def solve(target: str, words: tuple[str, ...] = WORDS) -> list[str]:
    """The solver's guesses for `target`, ending with the target itself.

    Every guess is consistent with all feedback so far (hard mode); the choices depend only on the
    feedback, so the guesses form one fixed decision tree whose nodes are cached.
    """
    if target not in words:
        raise ValueError(f"'{target}' is not in the word list")
    candidates, guesses = words, []
    while True:
        guess = OPENER if not guesses and OPENER in candidates else _choose(candidates)
        guesses.append(guess)
        if guess == target:
            return guesses
        candidates = _partition(guess, candidates)[feedback(guess, target)]


def reason(history: list[tuple[str, str]], guess: str) -> str:
    """Why the solver guesses `guess` after `history`, in one short sentence."""
    if not history:
        return f"I open with {guess.upper()}: its common letters split the word list well."
    known, present, absent = constraints(history)
    parts = [f"the pattern is {''.join(known)}"] if any(c != "_" for c in known) else []
    if present:
        parts.append(f"{', '.join(sorted(c.upper() for c in present))} elsewhere")
    if absent:
        parts.append(f"no {', '.join(sorted(c.upper() for c in absent))}")
    return f"So far {'; '.join(parts) or 'nothing is known'}. {guess.upper()} fits all of it."


def constraints(history: list[tuple[str, str]]) -> tuple[list[str], dict[str, set[int]], set[str]]:
    """What the feedback implies: the known letters by position (`_` unknown), the letters in the word but
    not yet placed with the positions (1-based) they are not at, and the letters not in the word."""
    known = ["_"] * LENGTH
    misplaced: dict[str, set[int]] = {}
    present: set[str] = set()
    grays: set[str] = set()
    for guess, pattern in history:
        for i, (g, p) in enumerate(zip(guess, pattern, strict=True)):
            if p == GREEN:
                known[i] = g.upper()
                present.add(g)
            elif p == YELLOW:
                misplaced.setdefault(g, set()).add(i + 1)
                present.add(g)
            else:
                grays.add(g)
    placed = {c.lower() for c in known if c != "_"}
    return known, {c: at for c, at in misplaced.items() if c not in placed}, grays - present


def describe(guess: str, pattern: str) -> str:
    """`TRACE: T yellow, R gray, A green, C gray, E gray`."""
    colours = (f"{g.upper()} {COLOR_NAMES[p]}" for g, p in zip(guess, pattern, strict=True))
    return f"{guess.upper()}: " + ", ".join(colours)


def summary(history: list[tuple[str, str]]) -> str:
    """What the feedback so far implies: the known pattern, misplaced letters and absent letters."""
    known, misplaced, absent = constraints(history)
    parts = [f"pattern {' '.join(known)}"]
    if misplaced:
        where = [f"{c.upper()} (not position {'/'.join(map(str, sorted(misplaced[c])))})" for c in sorted(misplaced)]
        parts.append("in the word but not yet placed: " + ", ".join(where))
    if absent:
        parts.append("not in the word: " + ", ".join(c.upper() for c in sorted(absent)))
    return "Known so far: " + "; ".join(parts) + "."
