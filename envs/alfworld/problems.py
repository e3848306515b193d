"""Procedurally generated ALFWorld households: task ids, splits, and the PDDL problem of a task.

Pure Python (no I/O, no planner): a task id names the goal and a layout seed,
`alfworld-<kind>-<object>-<receptacle>-s<seed>`, e.g. `alfworld-heat-apple-countertop-s3`; for `look`
the third part is the lamp (`alfworld-look-book-desklamp-s0`). The room type, the receptacles and the
objects come from the seed; which objects fit which receptacle, which goals suit which room, and the
goal formulas and their wording come from the `alfworld` package (`alfworld.gen`).
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from functools import cache

from alfworld.gen.constants import GOALS_VALID, OPENABLE_CLASS_SET, VAL_RECEPTACLE_OBJECTS
from alfworld.gen.goal_library import gdict

KINDS = {  # our short name -> ALFWorld's goal type
    "pick": "pick_and_place_simple",
    "clean": "pick_clean_then_place_in_recep",
    "heat": "pick_heat_then_place_in_recep",
    "cool": "pick_cool_then_place_in_recep",
    "look": "look_at_obj_in_light",
    "pick2": "pick_two_obj_and_place",
}
APPLIANCE = {"clean": "SinkBasin", "heat": "Microwave", "cool": "Fridge"}
NOT_GOALS = {"SinkBasin", "Microwave", "Toaster", "CoffeeMachine", "StoveBurner", "TVStand"}
LAMP_HOSTS = ("Desk", "SideTable", "Dresser")
# receptacle type -> (fewest, most) per room; objects that may appear in the room
ROOMS: dict[str, tuple[dict[str, tuple[int, int]], tuple[str, ...]]] = {
    "Kitchen": (
        {"CounterTop": (1, 2), "Cabinet": (2, 4), "Drawer": (1, 3), "Fridge": (1, 1), "Microwave": (1, 1),
         "SinkBasin": (1, 1), "StoveBurner": (1, 2), "DiningTable": (0, 1), "GarbageCan": (1, 1), "Shelf": (0, 2),
         "CoffeeMachine": (1, 1), "Toaster": (0, 1)},
        ("Apple", "Bread", "ButterKnife", "Bowl", "Cup", "DishSponge", "Egg", "Fork", "Kettle", "Knife", "Ladle",
         "Lettuce", "Mug", "Pan", "PepperShaker", "Plate", "Pot", "Potato", "SaltShaker", "Spatula", "Spoon",
         "Tomato", "WineBottle"),
    ),
    "Bathroom": (
        {"SinkBasin": (1, 2), "Toilet": (1, 1), "Cabinet": (2, 4), "CounterTop": (1, 1), "TowelHolder": (1, 1),
         "HandTowelHolder": (0, 1), "GarbageCan": (1, 1), "Drawer": (0, 2), "Shelf": (0, 1)},
        ("Candle", "Cloth", "DishSponge", "HandTowel", "SoapBar", "SoapBottle", "SprayBottle", "TissueBox",
         "ToiletPaper"),
    ),
    "LivingRoom": (
        {"Sofa": (1, 1), "CoffeeTable": (1, 1), "SideTable": (1, 2), "Shelf": (1, 3), "Drawer": (1, 3),
         "ArmChair": (0, 1), "GarbageCan": (1, 1), "Dresser": (0, 1), "Cabinet": (0, 2)},
        ("Book", "Box", "CellPhone", "CreditCard", "KeyChain", "Laptop", "Newspaper", "Pillow", "RemoteControl",
         "Statue", "Vase", "Watch", "WateringCan"),
    ),
    "Bedroom": (
        {"Bed": (1, 1), "Desk": (1, 1), "Dresser": (0, 1), "Drawer": (2, 4), "Shelf": (1, 3), "SideTable": (1, 2),
         "GarbageCan": (1, 1), "LaundryHamper": (0, 1), "Safe": (0, 1)},
        ("AlarmClock", "BaseballBat", "Book", "Bowl", "CD", "CellPhone", "CreditCard", "KeyChain", "Laptop", "Mug",
         "Pen", "Pencil", "Pillow", "TennisRacket"),
    ),
}
LAMPS = {"Bedroom": ("DeskLamp",), "LivingRoom": ("DeskLamp", "FloorLamp")}
HELD_OUT_COMBO_MODULUS = 5  # a goal (kind, object, receptacle) is unseen when its CRC-32 is divisible by 5
UNSEEN_SEED = 10_000  # layouts from this seed on are unseen rooms
HELD_IN_PER_KIND, HELD_OUT_PER_KIND = 40, 20


def fits(obj: str, recep: str) -> bool:
    """Whether ALFWorld lets `obj` be put in/on a receptacle of type `recep`."""
    return obj in VAL_RECEPTACLE_OBJECTS.get(recep, ())


@dataclass(frozen=True)
class Goal:
    kind: str
    obj: str  # object type, ALFWorld spelling (`Apple`)
    recep: str  # receptacle type, or the lamp type for `look`

    @property
    def slug(self) -> str:
        return f"{self.kind}-{self.obj.lower()}-{self.recep.lower()}"

    def rooms(self) -> list[str]:
        """Room types where this goal can be set."""
        out = []
        for room in sorted(GOALS_VALID[KINDS[self.kind]]):
            receps, objs = ROOMS[room]
            if self.obj not in objs:
                continue
            if not any(fits(self.obj, r) for r in receps if r != self.recep and r not in NOT_GOALS):
                continue  # nowhere to start from but the goal itself (a pillow in a bedroom fits only the bed)
            if self.kind == "look":
                if self.recep in LAMPS.get(room, ()) and any(h in receps for h in LAMP_HOSTS):
                    out.append(room)
            elif self.recep in receps and (self.kind not in APPLIANCE or APPLIANCE[self.kind] in receps):
                out.append(room)
        return out

    def held_out(self) -> bool:
        return zlib.crc32(self.slug.encode()) % HELD_OUT_COMBO_MODULUS == 0

    def description(self, template: int = 0) -> str:
        """ALFWorld's task sentence (`put a hot apple in countertop`); template 1 is its other wording."""
        templates = gdict[KINDS[self.kind]]["templates"]
        low = self.obj.lower()
        return templates[template].format(obj=low, recep=self.recep.lower(), toggle=self.recep.lower(), mrecep="")


@cache
def goals() -> dict[str, Goal]:
    """Every goal some room supports, by slug."""
    out: dict[str, Goal] = {}
    for kind in KINDS:
        for room, (receps, objs) in ROOMS.items():
            targets = LAMPS.get(room, ()) if kind == "look" else [r for r in receps if r not in NOT_GOALS]
            for obj in objs:
                if kind in APPLIANCE and not fits(obj, APPLIANCE[kind]):
                    continue
                for recep in targets:
                    if kind != "look" and not fits(obj, recep):
                        continue
                    goal = Goal(kind, obj, recep)
                    if goal.rooms():
                        out[goal.slug] = goal
    return dict(sorted(out.items()))


def task_id_of(goal: Goal, seed: int) -> str:
    return f"alfworld-{goal.slug}-s{seed}"


def parse_task(task_id: str) -> tuple[Goal, int]:
    """(goal, seed) of a valid id; KeyError otherwise."""
    head, _, seed = task_id.rpartition("-s")
    goal = goals().get(head.removeprefix("alfworld-")) if head.startswith("alfworld-") else None
    if goal is None or not seed.isdigit() or task_id != task_id_of(goal, int(seed)):
        raise KeyError(task_id)
    return goal, int(seed)


def split_of_id(task_id: str) -> str:
    """held_out for unseen goals (object/receptacle combinations) or unseen rooms (seeds >= 10,000)."""
    goal, seed = parse_task(task_id)
    return "held_out" if goal.held_out() or seed >= UNSEEN_SEED else "held_in"


@cache
def listed(split: str) -> list[str]:
    """The listed tasks: 40 per kind held-in (seen goals, seeds from 0), 20 per kind held-out (unseen
    goals where the kind has any, else seen ones, always in unseen rooms from seed 10,000), kinds taking turns."""
    per_kind = []
    for kind in KINDS:
        seen = [g for g in goals().values() if g.kind == kind and not g.held_out()]
        unseen = [g for g in goals().values() if g.kind == kind and g.held_out()] or seen
        random.Random(kind).shuffle(seen)  # a fixed spread over objects and receptacles
        random.Random(kind).shuffle(unseen)
        if split == "held_in":
            per_kind.append([task_id_of(seen[i % len(seen)], i // len(seen)) for i in range(HELD_IN_PER_KIND)])
        elif split == "held_out":
            per_kind.append([task_id_of(unseen[i % len(unseen)], UNSEEN_SEED + i) for i in range(HELD_OUT_PER_KIND)])
        else:
            raise KeyError(split)
    return [t for row in zip(*per_kind, strict=True) for t in row]  # kinds interleaved: any prefix covers all


def _rid(rtype: str, k: int) -> str:
    return f"Sink_bar_{k}_bar_SinkBasin" if rtype == "SinkBasin" else f"{rtype}_bar_{k}"


def problem(goal: Goal, seed: int) -> str:
    """The PDDL problem of a layout: a room of the goal's kind, its receptacles and objects."""
    rng = random.Random(f"{goal.slug}/{seed}")
    room = rng.choice(goal.rooms())
    receps_spec, room_objs = ROOMS[room]
    needed = {goal.recep if goal.kind != "look" else rng.choice([h for h in LAMP_HOSTS if h in receps_spec])}
    if goal.kind in APPLIANCE:
        needed.add(APPLIANCE[goal.kind])
    receps: list[tuple[str, str]] = []  # (id, type)
    for rtype, (lo, hi) in receps_spec.items():
        n = max(rng.randint(lo, hi), 1 if rtype in needed else 0)
        receps += [(_rid(rtype, k), rtype) for k in range(1, n + 1)]
    objects: list[tuple[str, str, str]] = []  # (id, type, receptacle id)

    def place(otype: str, avoid: str = "") -> None:
        spots = [rid for rid, rtype in receps if fits(otype, rtype) and rtype != avoid and rtype not in NOT_GOALS]
        if spots:
            k = sum(1 for _, t, _ in objects if t == otype) + 1
            objects.append((f"{otype}_bar_{k}", otype, rng.choice(spots)))

    for _ in range(2 if goal.kind == "pick2" else rng.randint(1, 2)):
        place(goal.obj, avoid=goal.recep)
    if goal.kind == "pick2" and sum(1 for _, t, _ in objects if t == goal.obj) < 2:
        place(goal.obj, avoid=goal.recep)
    others = [o for o in room_objs if o != goal.obj]
    for otype in rng.sample(others, min(len(others), rng.randint(4, 8))):
        place(otype)
    lamp = None
    if goal.kind == "look":
        hosts = [rid for rid, rtype in receps if rtype in needed]
        lamp = (f"{goal.recep}_bar_1", goal.recep, rng.choice(hosts))
    return _pddl(receps, objects, lamp, goal)


def _pddl(receps: list[tuple[str, str]], objects: list[tuple[str, str, str]],
          lamp: tuple[str, str, str] | None, goal: Goal) -> str:
    things = objects + ([lamp] if lamp else [])
    rtypes = sorted({t for _, t in receps})
    otypes = sorted({t for _, t, _ in things})
    decl = ["agent1 - agent", "loc_bar_0 - location"]
    decl += [f"{t}Type - rtype" for t in rtypes] + [f"{t}Type - otype" for t in otypes]
    init = ["(= (totalCost) 0)", "(atLocation agent1 loc_bar_0)"]
    loc = {}
    for i, (rid, rtype) in enumerate(receps, 1):
        loc[rid] = f"loc_bar_{i}"
        decl += [f"{rid} - receptacle", f"{loc[rid]} - location"]
        init += [f"(receptacleType {rid} {rtype}Type)", f"(receptacleAtLocation {rid} {loc[rid]})"]
        if rtype in OPENABLE_CLASS_SET:
            init.append(f"(openable {rid})")
    for oid, otype, rid in things:
        decl.append(f"{oid} - object")
        init += [f"(objectType {oid} {otype}Type)", f"(inReceptacle {oid} {rid})",
                 f"(objectAtLocation {oid} {loc[rid]})"]
        if lamp and oid == lamp[0]:
            init.append(f"(toggleable {oid})")
            continue
        init.append(f"(pickupable {oid})")
        for prop, appliance in (("cleanable", "SinkBasin"), ("heatable", "Microwave"), ("coolable", "Fridge")):
            if fits(otype, appliance):
                init.append(f"({prop} {oid})")
    init += [f"(canContain {r}Type {o}Type)" for r in rtypes for o in otypes if fits(o, r)]
    formula = gdict[KINDS[goal.kind]]["pddl"].format(obj=goal.obj, recep=goal.recep, toggle=goal.recep, mrecep="")
    return ("(define (problem alfworld_generated)\n(:domain alfred)\n(:objects\n" + "\n".join(decl) + "\n)\n(:init\n"
            + "\n".join(init) + "\n)\n" + formula.replace("#", "-"))
