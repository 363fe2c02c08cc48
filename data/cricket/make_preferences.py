"""Write preferences.jsonl: each coaching question with its specific answer chosen over a worse one.

The worse answer is, in turn, a vague one that says nothing a player can act on, or a wrong one: the
coaching answer to another question. Deterministic (no randomness), so the file is the same on every run:

    python data/cricket/make_preferences.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
VAGUE = (
    "Just play your natural game and it will come.",
    "Practise a lot and keep your confidence up.",
    "Watch the ball and play straight.",
    "Everyone is different, so do what feels right.",
    "Keep it simple and enjoy it.",
)
OFFSET = 97  # the wrong answer is that of the question this far on in the file (coprime with its 260 rows)


def preferences(rows: list[dict]) -> list[dict]:
    """One pair per coaching row: the specific answer chosen, a vague or a wrong one rejected."""
    pairs = []
    for index, row in enumerate(rows):
        if index % 2 == 0:
            rejected = VAGUE[(index // 2) % len(VAGUE)]
        else:
            rejected = rows[(index + OFFSET) % len(rows)]["answer"]
        pairs.append({"question": row["question"], "chosen": row["answer"], "rejected": rejected})
    return pairs


def main() -> None:
    rows = [json.loads(line) for line in (HERE / "coaching.jsonl").read_text().splitlines() if line.strip()]
    out = HERE / "preferences.jsonl"
    out.write_text("".join(json.dumps(pair) + "\n" for pair in preferences(rows)))
    print(f"wrote {len(rows)} pairs to {out}")


if __name__ == "__main__":
    main()
