"""The measuring harness the benchmark tools share: the timing loop, peak
memory, thread setting and shared arguments, table printers, random-weight
models (:mod:`.common`), the FLOP counter (:mod:`.flops`), the operator and
synchronisation counter (:mod:`.sync_counter`), the CUDA timeline
(:mod:`.timeline`), the experiments' subprocesses (:mod:`.experiments`) and
tube data (:mod:`.tubes`). The drivers are the tools under ``tools/``."""
