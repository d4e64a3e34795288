"""The question bank: TOML files in ``learnlab/quiz/bank/``, one per exam point.

Loaded once per process and validated as it loads, so a bad file fails loudly (and the bank's
test names the item and the rule it breaks).
"""

import functools
import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

BANK_DIR = Path(__file__).with_name("bank")
EXAM_POINTS = tuple(f"EP{n:02d}" for n in range(1, 19))
EXAMS = ("CLF-C02", "SAA-C03")
DIFFICULTIES = ("easy", "medium", "hard")
CHOOSE_WORDS = {2: "TWO", 3: "THREE"}
ITEM_ID = re.compile(r"^ep\d{2}-[a-z0-9-]+$")


class BankError(ValueError):
    pass


@dataclass(frozen=True)
class Option:
    text: str
    correct: bool
    explanation: str


@dataclass(frozen=True)
class Item:
    id: str
    points: tuple[str, ...]
    exams: tuple[str, ...]
    difficulty: str
    kind: str
    stem: str
    options: tuple[Option, ...]

    @property
    def correct(self) -> frozenset[int]:
        return frozenset(i for i, option in enumerate(self.options) if option.correct)

    @property
    def choose(self) -> int:
        return len(self.correct)

    def is_right(self, chosen) -> bool:
        """Multiple-answer items score only when exactly right."""
        return frozenset(chosen) == self.correct

    def shuffled(self, learner_id) -> list[tuple[int, Option]]:
        """The options as one learner sees them: each with its index in the bank file (its
        identity, what answers record), in an order derived from a hash of the learner and the
        item. The same learner always sees the same order (a reload, practice, exam and review
        agree) and nothing per view is stored; another learner sees another order."""
        seed = f"{learner_id}:{self.id}"
        return sorted(
            enumerate(self.options),
            key=lambda pair: hashlib.sha256(f"{seed}:{pair[0]}".encode()).digest(),
        )


def _item(raw: dict, source: str) -> Item:
    where = f"{source}: item {raw.get('id', '?')}"
    try:
        item = Item(
            id=raw["id"],
            points=tuple(raw["points"]),
            exams=tuple(raw["exams"]),
            difficulty=raw["difficulty"],
            kind=raw["kind"],
            stem=raw["stem"].strip(),
            options=tuple(
                Option(o["text"].strip(), bool(o["correct"]), o["explanation"].strip())
                for o in raw["options"]
            ),
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise BankError(f"{where}: missing or malformed field {error}") from error
    problems = []
    if not ITEM_ID.fullmatch(item.id):
        problems.append("id must look like ep07-some-slug")
    if not item.points or any(p not in EXAM_POINTS for p in item.points):
        problems.append(f"points must be exam point ids, got {item.points}")
    if not item.exams or any(e not in EXAMS for e in item.exams):
        problems.append(f"exams must be among {EXAMS}")
    if item.difficulty not in DIFFICULTIES:
        problems.append(f"difficulty must be one of {DIFFICULTIES}")
    if any(not o.text or not o.explanation for o in item.options):
        problems.append("every option needs text and an explanation")
    if item.kind == "single":
        if len(item.options) != 4 or item.choose != 1:
            problems.append("a single-answer item has 4 options, exactly 1 correct")
    elif item.kind == "multiple":
        if len(item.options) != 5 or item.choose not in CHOOSE_WORDS:
            problems.append("a multiple-answer item has 5 options, 2 or 3 correct")
        elif f"(Choose {CHOOSE_WORDS[item.choose]}.)" not in item.stem:
            problems.append(f"the stem must say (Choose {CHOOSE_WORDS[item.choose]}.)")
    else:
        problems.append("kind must be single or multiple")
    if problems:
        raise BankError(f"{where}: " + "; ".join(problems))
    return item


@functools.cache
def load_bank(directory: Path = BANK_DIR) -> dict[str, Item]:
    """Every item, by id, in a stable order."""
    items: dict[str, Item] = {}
    stems: set[str] = set()
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as error:
            raise BankError(f"{path.name}: not valid TOML: {error}") from error
        for raw in data.get("item", []):
            item = _item(raw, path.name)
            if item.id in items:
                raise BankError(f"{path.name}: duplicate id {item.id}")
            normalised = " ".join(item.stem.lower().split())
            if normalised in stems:
                raise BankError(f"{path.name}: duplicate stem in {item.id}")
            stems.add(normalised)
            items[item.id] = item
    return items


def items_for(points=None, exam=None) -> list[Item]:
    return [
        item
        for item in load_bank().values()
        if (not points or set(points) & set(item.points)) and (not exam or exam in item.exams)
    ]


# Which lab step teaches each point (PRODUCT.md, "The core lab" and "More labs"): (lab, step).
CORE = "instance-role"
LAB_STEP = {
    "EP01": (CORE, 1), "EP02": (CORE, 1), "EP03": (CORE, 1),
    "EP04": (CORE, 2), "EP05": (CORE, 2), "EP07": (CORE, 2), "EP16": (CORE, 2),
    "EP06": (CORE, 3),
    "EP08": (CORE, 4), "EP09": (CORE, 4),
    "EP12": (CORE, 5), "EP13": (CORE, 5),
    "EP10": (CORE, 6), "EP11": (CORE, 6),
    "EP14": ("least-privilege", 1),
    "EP15": ("swap-and-pass-role", 1),
    "EP17": ("imdsv2-ssrf", 2),
    "EP18": ("swap-and-pass-role", 2),
}  # fmt: skip

POINT_TITLES = {
    "EP01": "Roles give code on AWS its permissions",
    "EP02": "Permissions policy and temporary credentials",
    "EP03": "Trust policy for ec2.amazonaws.com",
    "EP04": "The instance profile is what is attached",
    "EP05": "Console creates the same-named profile",
    "EP06": "Console attaches the profile, not the role",
    "EP07": "One role per instance profile",
    "EP08": "Credentials from the metadata service",
    "EP09": "What temporary credentials contain",
    "EP10": "Renewal before expiry",
    "EP11": "Re-read credentials; don't cache them",
    "EP12": "No long-term keys on instances",
    "EP13": "CLI and SDKs find role credentials",
    "EP14": "Least privilege",
    "EP15": "Attach at launch or later",
    "EP16": "Roles and profiles cost nothing",
    "EP17": "IMDSv2 tokens against SSRF",
    "EP18": "iam:PassRole to attach a role",
}
