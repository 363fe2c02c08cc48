"""A quiet, truthful run: the stack's weight-loading table is said once, in ftspec's words."""

from __future__ import annotations

from ftspec.run import launch

TABLE = [
    "[transformers] \x1b[1mBertForSequenceClassification LOAD REPORT\x1b[0m from: /models/minilm\n",
    "Key               | Status  | \n",
    "------------------+---------+-\n",
    "classifier.weight | MISSING | \n",
    "classifier.bias   | MISSING | \n",
    "\n",
    "Notes:\n",
    "- MISSING:\tthose params were newly initialized because missing from the checkpoint.\n",
]


def test_the_load_report_table_is_said_once_in_ftspecs_words(capsys, monkeypatch):
    monkeypatch.setattr(launch, "_SAID", set())
    launch._pass_on(["step 1\n", *TABLE, "step 2\n", *TABLE, "\n", "done\n"])
    launch._pass_on([*TABLE, "evaluated\n"])  # the evaluation's loads: nothing new to say
    out = capsys.readouterr().out
    assert "\x1b" not in out and "LOAD REPORT" not in out and "Notes:" not in out
    said = "ftspec: the base checkpoint has no classifier.bias, classifier.weight: a new head starts from random"
    assert out.count(said) == 1
    # The blank line that closes a report goes with it.
    assert out.replace(out.splitlines()[1] + "\n", "") == "step 1\nstep 2\ndone\nevaluated\n"
