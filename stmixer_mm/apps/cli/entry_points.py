"""Console commands ``stmixer-<tool>`` (setup.cfg ``console_scripts``):
``stmixer-train`` is ``python tools/train.py``, without a checkout; each
imports its module only when it runs and returns the exit status (the
commands' names, for messages: :mod:`.commands`)."""


def _status(result) -> int:
    return result if isinstance(result,
                                int) and not isinstance(result, bool) else 0


def train() -> int:
    from stmixer_mm.apps.cli.train import main
    return _status(main())


def test() -> int:
    from stmixer_mm.apps.cli.test import main
    return _status(main())


def demo() -> int:
    from stmixer_mm.apps.cli.demo import main
    return _status(main())


def import_annotations() -> int:
    from stmixer_mm.apps.cli.import_annotations import main
    return _status(main())


def export_onnx() -> int:
    from stmixer_mm.apps.cli.export_onnx import main
    return _status(main())


def check_dataset() -> int:
    from stmixer_mm.apps.cli.check_dataset import main
    return _status(main())


def web() -> int:
    from stmixer_mm.apps.cli.web import main
    return _status(main())


def convert_official() -> int:
    from stmixer_mm.apps.cli.convert_official_checkpoint import main
    return _status(main())


def convert_kinetics() -> int:
    from stmixer_mm.apps.cli.convert_kinetics_checkpoint import main
    return _status(main())


def convert_videomae() -> int:
    from stmixer_mm.apps.cli.convert_videomae_checkpoint import main
    return _status(main())


def convert_sharded() -> int:
    from stmixer_mm.apps.cli.convert_sharded_checkpoint import main
    return _status(main())
