"""The load benchmark's parts (``bench/load.py`` is the command that runs them).

Named ``load_harness`` rather than ``load``: a package ``bench/load/`` beside the script
``bench/load.py`` would shadow the script for imports and make mypy skip the script.

* :mod:`.script`: what each caller says and exactly when (utterance boundaries, transcripts);
* :mod:`.track`, :mod:`.adapters`, :mod:`.caller`: one caller process (an aiortc client);
* :mod:`.servers`, :mod:`.procstat`: the server under test as a subprocess, and its CPU/RSS;
* :mod:`.metrics`: latencies, WER, finals of their own, backlog, from arrival logs;
* :mod:`.run`, :mod:`.report`: one run of N callers, and the sweep's table and JSON.
"""
