"""The multi-seed re-training that both the report and ``search.compare`` run: candidates
trained over paired seeds look by look (``training``), the sequential race that decides between
them (``race``, worded by ``race_verdict``), and the paired, family-wise statistics it rests on
(``statistics``), and its outcome as both show it (``tables``)."""
