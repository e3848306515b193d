"""TextWorld text adventures, generated offline with the `textworld` package and cached on disk.

Task ids name a game family, its options and a generation seed; the same id is always the same game:

- `tw-cooking-r{R}-g{G}[-open][-cook][-cut]-s{S}`: cooking game (the First TextWorld Problem kind):
  a recipe of R ingredients (1-4) to find and prepare in a house of G rooms (1, 6, 9 or 12), with
  doors/containers to open, ingredients to cook or to cut when the flags say so;
- `tw-custom-q{L}-w{W}-s{S}`: a generic quest of L actions (1-8) in a world of W rooms (1-10);
- `tw-simple-{dense|balanced|sparse}-{detailed|brief|none}-s{S}`: the fixed six-room house of
  `tw-simple` (reward density, how much of the goal is told), drawn from its test distribution;
- `tw-coin_collector-l{L}-s{S}` (level 1-100) and `tw-treasure_hunter-l{L}-s{S}` (level 1-30).

Splits, a pure function of the id (`split_of`):

- `held_in`: cooking games with recipes of 1-2 ingredients in 1 or 6 rooms, and custom quests of at
  most 3 actions in at most 4 rooms, *and* a seed below 10,000. Listed: 100 tasks, seeds 0-24 of
  `tw-cooking-r1-g1`, `tw-cooking-r2-g1`, `tw-custom-q2-w3`, `tw-custom-q3-w4`.
- `held_out`: everything else: other families (simple, coin collector, treasure hunter), longer
  recipes or quests, bigger houses, and any seed from 10,000 on (unseen seeds). Held-out cooking
  games also draw their food from TextWorld's `test` ingredients. Listed: 40 tasks, seeds
  10000-10007 of `tw-cooking-r3-g6-open`, `tw-custom-q5-w6`, `tw-simple-dense-detailed`,
  `tw-coin_collector-l5`, `tw-treasure_hunter-l8`.

Games are generated lazily on the first reset or expert call (1.5-2.5 s each) into
`$AGENTGYM_CACHE/textworld` (default ~/.cache/agentgym/textworld); listing tasks does no I/O.
The expert is the game's walkthrough without its no-op steps, replayed at generation to check it wins.
A step is `valid` when its command (lowercased, spaces squeezed) was admissible before the step.
"""

from envs.textworld.env import TextWorldEnv

ENV = TextWorldEnv

__all__ = ["ENV", "TextWorldEnv"]
