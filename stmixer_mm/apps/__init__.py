"""The applications built on the library, none of them imported by
``import stmixer_mm``: the command lines (:mod:`.cli`), the video demo
(:mod:`.demo`) and the online runner (:mod:`.online`), the browser demo
(:mod:`.web_demo`), the annotation importers (:mod:`.importers`), the data
set doctor (:mod:`.dataset_doctor`), the synthetic data generator
(:mod:`.data_gen`) and the benchmarks (:mod:`.benchmarks`)."""
