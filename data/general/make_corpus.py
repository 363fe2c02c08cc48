"""Write python-docs.txt: the Python reference's topic help, a general English corpus.

The text comes from the standard library (`pydoc_data.topics`), so it needs no
download; paragraphs are separated by blank lines. Run: python data/general/make_corpus.py
"""

from pathlib import Path
from pydoc_data.topics import topics


def main() -> None:
    paragraphs = []
    for name in sorted(topics):
        for paragraph in topics[name].split("\n\n"):
            paragraph = paragraph.strip("\n")
            if paragraph.strip():
                paragraphs.append(paragraph)
    out = Path(__file__).with_name("python-docs.txt")
    out.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(paragraphs)} paragraphs, {out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
