"""Wordle: find a secret 5-letter word in 6 guesses from green/yellow/gray letter feedback."""

from __future__ import annotations

from agentgym.compat import AgentEnvSpec
from agentgym.env import Env, Observation, StepResult
from agentgym.reworded import Rewording
from agentgym.tools import Tool
from envs.wordle.logic import (
    ATTEMPTS,
    GREEN,
    LENGTH,
    WORD_SET,
    WORDS,
    describe,
    feedback,
    reason,
    solve,
    summary,
    task_id_of,
)

HELD_OUT_MODULUS = 5  # a target is held out when its id's hash is divisible by 5 (about a fifth)
TARGETS: dict[str, str] = {task_id_of(w): w for w in WORDS}
ACTION_HELP = "Write `guess WORD` with a 5-letter English word (e.g. `guess crane`); the bare word works too."


def from_lmrlgym(action: str) -> str:
    """LMRL-Gym's guesses are spaced letters (`s h i r e`, as AgentGym's client sends them): join them."""
    letters = action.strip().lower().split()
    return "".join(letters) if len(letters) == LENGTH and all(len(x) == 1 for x in letters) else action


def split_of_id(task_id: str) -> str:
    """held_out when the id's hex digest is divisible by HELD_OUT_MODULUS, else held_in."""
    if task_id not in TARGETS:
        raise KeyError(task_id)
    return "held_out" if int(task_id.removeprefix("wordle-"), 16) % HELD_OUT_MODULUS == 0 else "held_in"


class WordleEnv(Env):
    """Wordle over the shipped list of common words (envs/wordle/words.txt).

    Every word is a target; the task id is a hash of it, so it reveals nothing. Held-out targets are the
    words whose id hash is divisible by 5 (unseen targets); the rest are held in. `seed` is ignored.
    """

    name = "wordle"
    instruction = (
        f"Play Wordle: find the secret {LENGTH}-letter English word in at most {ATTEMPTS} guesses. "
        "After each guess every letter gets a colour: green = right letter in the right position; "
        "yellow = the letter is in the word but in another position; gray = the letter is not in the "
        "word (or not as many times as you used it: a repeated letter is coloured only as often as the "
        "secret word contains it, greens first, then left to right). Each guess must be a common English "
        f"{LENGTH}-letter word from the game's word list; a guess that is not (or that repeats an earlier "
        "guess) is rejected with a message and does not use an attempt. Use the feedback: keep greens in "
        "place, move yellows elsewhere, avoid grays. " + ACTION_HELP
    )
    action_format = "guess WORD"
    max_steps = 20  # 6 attempts plus room for rejected guesses
    inline_step = inline_reset = True
    # Reworded held-out variants: the colours named for what they mean, other words in the messages. The
    # command word stays: `guess` is itself a word of the list, so it cannot stop being a command without
    # becoming impossible to guess (and the bare word is a guess anyway).
    rewording = Rewording(
        text=(("green", "correct"), ("yellow", "present"), ("gray", "absent"), ("greens", "correct letters"),
              ("yellows", "present letters"), ("grays", "absent letters"), ("secret word", "hidden word"),
              ("an attempt", "a turn"), ("attempts", "turns"), ("attempt", "turn")),
    )
    tools = (Tool("guess", f"Guess the secret word: a common English {LENGTH}-letter word.",
                  {"word": {"type": "string", "description": f"a {LENGTH}-letter word, e.g. crane"}}, "guess {word}"),)
    agentenv = AgentEnvSpec("lmrlgym", index_field="seed", translate=from_lmrlgym,
                            extras={"filtered_vocab": lambda obs: list(WORDS)})

    def __init__(self) -> None:
        self.target = ""
        self.history: list[tuple[str, str]] = []
        self.done = False
        self.steps = 0

    # -- tasks -------------------------------------------------------------------------------
    def tasks(self, split: str) -> list[str]:
        if split not in ("held_in", "held_out"):
            raise KeyError(split)
        return sorted(t for t in TARGETS if split_of_id(t) == split)

    def split_of(self, task_id: str) -> str:
        return split_of_id(task_id)

    def _target(self, task_id: str) -> str:
        self.check_task(task_id)
        return TARGETS[task_id]

    # -- episode -----------------------------------------------------------------------------
    def reset(self, task_id: str, seed: int | None = None) -> Observation:
        self.target = self._target(task_id)
        self.history, self.done, self.steps = [], False, 0
        return self._observation(
            f"A new game of Wordle: the secret word has {LENGTH} letters and you have {ATTEMPTS} attempts."
        )

    def step(self, action: str) -> StepResult:
        if not self.target or self.done:
            return self._result("The game is over; reset to play again.", valid=False, terminated=True)
        self.steps += 1
        word, error = self._parse(action)
        if error:
            return self._result(f"{error} This did not use an attempt.", valid=False)
        pattern = feedback(word, self.target)
        self.history.append((word, pattern))
        won = pattern == GREEN * LENGTH
        n = len(self.history)
        if won:
            self.done = True
            text = f"{describe(word, pattern)}. You found {word.upper()} in {n} of {ATTEMPTS} guesses!"
            return self._result(text, won=True, terminated=True)
        if n >= ATTEMPTS:
            self.done = True
            text = f"{describe(word, pattern)}. Out of attempts: the word was {self.target.upper()}."
            return self._result(text, terminated=True)
        return self._result(f"Guess {n} of {ATTEMPTS}: {word.upper()}.")

    def _parse(self, action: str) -> tuple[str, str | None]:
        """(word, None) for a usable guess, else ('', the reason it was rejected)."""
        words = action.strip().lower().rstrip(".!").split()
        if len(words) == 2 and words[0] == "guess":
            words = words[1:]
        if len(words) != 1:
            return "", f"Unknown action '{action.strip()[:60]}'. {ACTION_HELP}"
        word = words[0].strip("`'\"")
        if not word.isascii() or not word.isalpha():
            return "", f"'{word[:20]}' is not a word: use the letters a-z only. {ACTION_HELP}"
        if len(word) != LENGTH:
            return "", f"'{word[:20]}' has {len(word)} letters; the secret word has exactly {LENGTH}."
        if word not in WORD_SET:
            return "", (
                f"'{word}' is not in this game's word list of {len(WORDS)} common English words; "
                "try another word."
            )
        if any(word == g for g, _ in self.history):
            return "", f"You already guessed '{word}'; guess a different word."
        return word, None

    def _result(
        self, message: str, valid: bool = True, won: bool = False, terminated: bool = False
    ) -> StepResult:
        last = {"feedback": self.history[-1][1]} if self.history else {}
        return self.result(
            self._observation(message), None if valid else message, won=won, terminated=terminated,
            attempts=len(self.history), attempts_left=ATTEMPTS - len(self.history), **last,
        )

    def _observation(self, message: str) -> Observation:
        lines = [message]
        if self.history and not self.done:
            lines.append("Your guesses so far:")
            lines += [f"{i}. {describe(g, p)}" for i, (g, p) in enumerate(self.history, 1)]
            lines.append(summary(self.history))
        if not self.done:
            left = ATTEMPTS - len(self.history)
            lines.append(f"You have {left} attempt{'s' if left != 1 else ''} left. Act with `guess WORD`.")
        extra = {
            "history": [{"guess": g, "feedback": p} for g, p in self.history],
            "legend": "G green, Y yellow, X gray",
        }
        return Observation(text="\n".join(lines), extra=extra)

    def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        """The consistent-guess solver's guesses (always within 6 on the shipped list)."""
        return [f"guess {w}" for w in solve(self._target(task_id))]

    def expert_thoughts(self, task_id: str, seed: int | None = None) -> list[str]:
        """Why each of the solver's guesses fits the feedback before it."""
        target, history, thoughts = self._target(task_id), [], []
        for word in solve(target):
            thoughts.append(reason(history, word))
            history.append((word, feedback(word, target)))
        return thoughts


ENV = WordleEnv
